// Reading the flat YAML configs that model releases ship (mPLUG's config.yaml: image_res,
// vision_width, bert_config, ...) through Debian's libyaml.
//
// read_yaml_scalars returns the top-level mapping's scalar entries as strings (key -> value, as
// written, quotes removed); entries whose value is a sequence or a mapping are skipped. Typed
// getters convert and report bad values.
//
// Ownership: plain values. Thread-safety: pure apart from reading the file.
// Failure: InputError naming the file when it is missing, unreadable, not YAML (with libyaml's line
// and problem), or its root is not a mapping; the getters throw InputError naming the file and key
// when a value does not parse as the type asked for.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace ct::io {

struct YamlScalars {
  std::string file;                          // for messages
  std::map<std::string, std::string> values;  // top-level scalar entries

  bool has(const std::string& key) const { return values.count(key) != 0; }
  std::optional<std::string> get_string(const std::string& key) const;
  // An integer (decimal); nullopt when absent, InputError when present and not an integer.
  std::optional<long long> get_int(const std::string& key) const;
};

YamlScalars read_yaml_scalars(const std::filesystem::path& path);

}  // namespace ct::io
