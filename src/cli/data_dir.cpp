// The --data DIR listing shared by compare and harvest; see data_dir.h.
#include "cli/data_dir.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "core/error.h"

namespace ct::cli {
namespace fs = std::filesystem;

DataDirListing list_data_dir(const fs::path& dir, int64_t max_images) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError(dir.string(), "--data must be a directory of *.png / *.jpg images");
  DataDirListing d;
  d.dir = dir;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) d.images.push_back(e.path());
  }
  if (d.images.empty()) throw InputError(dir.string(), "no *.png or *.jpg images in the --data directory");
  std::sort(d.images.begin(), d.images.end());
  if (static_cast<int64_t>(d.images.size()) > max_images) d.images.resize(static_cast<std::size_t>(max_images));
  const fs::path prompts = dir / kPromptsFile;
  d.has_prompts_file = fs::exists(prompts, ec);
  if (d.has_prompts_file) {
    std::ifstream in(prompts);
    if (!in) throw InputError(prompts.string(), "cannot be read");
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) d.prompts.push_back(line);
    }
  }
  return d;
}

}  // namespace ct::cli
