// The `--data DIR` convention shared by `crosstrace compare` and `crosstrace harvest` (internal to
// cli/): the inputs of a dataset are the *.png / *.jpg / *.jpeg files directly in DIR (extension
// case-insensitive, subdirectories ignored), in file-name order, and the optional DIR/prompts.txt
// holds prompts, one per non-blank line (a trailing '\r' is dropped; blank lines are skipped).
// Listing reads no image: each command decodes its images when it needs them.
//
// Ownership: plain values. Thread-safety: pure function (reads the file system).
// Failure: InputError naming DIR when it is not a directory or holds no image, and naming
// DIR/prompts.txt when that exists but cannot be read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

namespace ct::cli {

struct DataDirListing {
  std::filesystem::path dir;
  std::vector<std::filesystem::path> images;  // DIR/<name>, sorted by name, at most max_images
  bool has_prompts_file = false;              // DIR/prompts.txt exists
  std::vector<std::string> prompts;           // its non-blank lines, in order
};

inline constexpr const char* kPromptsFile = "prompts.txt";

DataDirListing list_data_dir(const std::filesystem::path& dir,
                             int64_t max_images = std::numeric_limits<int64_t>::max());

}  // namespace ct::cli
