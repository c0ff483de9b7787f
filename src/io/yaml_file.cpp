// libyaml document API: load the first document, walk the root mapping once.
#include "io/yaml_file.h"

#include <yaml.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace ct::io {

std::optional<std::string> YamlScalars::get_string(const std::string& key) const {
  auto it = values.find(key);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::optional<long long> YamlScalars::get_int(const std::string& key) const {
  auto it = values.find(key);
  if (it == values.end()) return std::nullopt;
  const std::string& s = it->second;
  long long v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    throw InputError(file, key + " must be an integer, found \"" + s + "\"");
  }
  return v;
}

YamlScalars read_yaml_scalars(const std::filesystem::path& path) {
  YamlScalars out;
  out.file = path.string();
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw InputError(out.file, std::string("cannot open the YAML config: ") + std::strerror(errno));
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) throw RuntimeFailure(out.file + ": libyaml could not start");
  yaml_parser_set_input_file(&parser, f.get());
  yaml_document_t doc;
  const bool loaded = yaml_parser_load(&parser, &doc) != 0;
  if (!loaded) {
    const std::string problem = parser.problem ? parser.problem : "unknown problem";
    const std::size_t line = parser.problem_mark.line + 1;
    yaml_parser_delete(&parser);
    throw InputError(out.file, "not valid YAML: " + problem + " at line " + std::to_string(line));
  }
  const yaml_node_t* root = yaml_document_get_root_node(&doc);
  const bool mapping = root != nullptr && root->type == YAML_MAPPING_NODE;
  if (mapping) {
    for (const yaml_node_pair_t* p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; ++p) {
      const yaml_node_t* k = yaml_document_get_node(&doc, p->key);
      const yaml_node_t* v = yaml_document_get_node(&doc, p->value);
      if (k == nullptr || v == nullptr || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE) continue;
      out.values[std::string(reinterpret_cast<const char*>(k->data.scalar.value), k->data.scalar.length)] =
          std::string(reinterpret_cast<const char*>(v->data.scalar.value), v->data.scalar.length);
    }
  }
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  if (!mapping) throw InputError(out.file, "the YAML config's top level is not a mapping");
  return out;
}

}  // namespace ct::io
