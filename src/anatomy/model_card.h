// Model cards: the YAML front matter of a Hugging Face README.md (between a first line `---` and
// the next `---`). Only the subset model cards use for the fields we read is parsed: `key: value`,
// `key: "quoted"`, `key: [a, b]` flow lists, and block lists (`key:` then `  - item` lines).
// Nested mappings (model-index, widget) are skipped. Comments after ` #` are dropped.
//
// Fields read: base_model, datasets, pipeline_tag, license, tags, language, library_name; every
// top-level scalar or list is kept in `fields` (a scalar as a one-element list).
//
// Ownership: plain values. Thread-safety: pure functions.
// Failure: never throws for a malformed card: problems go to ModelCard::notes (a card is
// documentation, not the model); InputError only when README.md exists but cannot be read.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ct::anatomy {

struct ModelCard {
  bool present = false;                                   // README.md with front matter found
  std::string path;                                       // the README.md read
  std::map<std::string, std::vector<std::string>> fields; // top-level key -> values
  std::vector<std::string> notes;                         // parse problems, ignored lines

  // Values of `key` (empty when absent).
  std::vector<std::string> get(const std::string& key) const;
};

// Parses front matter from README.md text; `path` is used in notes.
ModelCard parse_model_card(std::string_view text, const std::string& path);

// Reads `<model_dir>/README.md` when it exists (present = false otherwise).
ModelCard read_model_card(const std::filesystem::path& model_dir);

}  // namespace ct::anatomy
