// Model-card front matter (see model_card.h). A deliberately small YAML subset: anything outside
// it is skipped with a note rather than guessed at.
#include "anatomy/model_card.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace ct::anatomy {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Drops a trailing ` # comment` outside quotes.
std::string_view strip_comment(std::string_view s) {
  char quote = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
      return s.substr(0, i);
    }
  }
  return s;
}

std::string unquote(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    s = s.substr(1, s.size() - 2);
  }
  return std::string(s);
}

// "[a, 'b', c]" -> {a, b, c}; commas inside quotes are kept.
std::vector<std::string> flow_list(std::string_view s) {
  std::vector<std::string> out;
  s = trim(s.substr(1, s.size() - 2));
  std::string item;
  char quote = 0;
  for (char c : s) {
    if (quote) {
      if (c == quote) quote = 0;
      item += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      item += c;
    } else if (c == ',') {
      if (!trim(item).empty()) out.push_back(unquote(item));
      item.clear();
    } else {
      item += c;
    }
  }
  if (!trim(item).empty()) out.push_back(unquote(item));
  return out;
}

}  // namespace

std::vector<std::string> ModelCard::get(const std::string& key) const {
  const auto it = fields.find(key);
  return it == fields.end() ? std::vector<std::string>{} : it->second;
}

ModelCard parse_model_card(std::string_view text, const std::string& path) {
  ModelCard card;
  card.path = path;
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (lines.empty() || trim(lines[0]) != "---") return card;  // no front matter: not a card for us
  std::size_t close = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (trim(lines[i]) == "---") {
      close = i;
      break;
    }
  }
  if (close == 0) {
    card.notes.push_back(path + ": front matter opened with --- but never closed; card ignored");
    return card;
  }
  card.present = true;
  std::string list_key;  // the key a block list belongs to
  for (std::size_t i = 1; i < close; ++i) {
    const std::string_view raw = strip_comment(lines[i]);
    const std::string_view line = trim(raw);
    if (line.empty()) continue;
    const bool indented = raw.front() == ' ' || raw.front() == '\t';
    if (line.starts_with("- ") || line == "-") {
      if (!list_key.empty()) {
        const std::string v = unquote(line.substr(1));
        if (!v.empty() && v.find(": ") == std::string::npos) card.fields[list_key].push_back(v);
      }
      continue;
    }
    if (indented) continue;  // nested mapping content (model-index, widget, ...)
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      card.notes.push_back(path + ": line " + std::to_string(i + 1) + " is not `key: value`; skipped");
      list_key.clear();
      continue;
    }
    const std::string key(trim(line.substr(0, colon)));
    const std::string_view value = trim(line.substr(colon + 1));
    list_key.clear();
    if (value.empty()) {
      list_key = key;  // a block list or a nested mapping follows
      card.fields[key];
    } else if (value.front() == '[' && value.back() == ']') {
      card.fields[key] = flow_list(value);
    } else if (value.front() == '{' || value.front() == '|' || value.front() == '>') {
      card.notes.push_back(path + ": `" + key + "` uses YAML beyond the subset read; skipped");
    } else {
      card.fields[key] = {unquote(value)};
    }
  }
  // Keys that turned out to be nested mappings hold no values: drop them.
  for (auto it = card.fields.begin(); it != card.fields.end();) {
    it = it->second.empty() ? card.fields.erase(it) : std::next(it);
  }
  return card;
}

ModelCard read_model_card(const std::filesystem::path& model_dir) {
  const std::filesystem::path readme = model_dir / "README.md";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(readme, ec)) return {};
  std::ifstream in(readme, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in && !in.eof()) throw InputError(readme.string(), "cannot read the model card");
  return parse_model_card(ss.str(), readme.string());
}

}  // namespace ct::anatomy
