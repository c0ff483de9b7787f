#include "report/anatomy_report.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <sstream>
#include <vector>

#include "models/hooks.h"

namespace ct::report {
using nlohmann::ordered_json;

ordered_json anatomy_to_json(const anatomy::Anatomy& a) {
  ordered_json j;
  j["path"] = a.path;
  j["format"] = a.format;
  j["family"] = anatomy::family_name(a.family);
  j["layout"] = a.layout;
  j["fusion"] = a.fusion;
  j["total_parameters"] = a.total_parameters;
  j["tensor_count"] = a.tensor_count;
  j["dtypes"] = a.dtypes;
  j["components"] = ordered_json::array();
  for (const auto& c : a.components) {
    ordered_json cj;
    cj["name"] = c.name;
    cj["kind"] = c.kind;
    cj["parameters"] = c.parameters;
    cj["tensors"] = c.tensors;
    cj["dtypes"] = c.dtypes;
    cj["config"] = c.config;
    j["components"].push_back(std::move(cj));
  }
  j["ignored"] = {{"parameters", a.ignored.parameters}, {"tensors", a.ignored.tensors}, {"names", a.ignored.names}};
  j["config"] = a.config;
  j["notes"] = a.notes;
  j["hooks"] = a.hooks;
  return j;
}

std::string human_count(int64_t n) {
  char buf[32];
  const double v = static_cast<double>(n);
  if (n >= 1'000'000'000) std::snprintf(buf, sizeof buf, "%.2f B", v / 1e9);
  else if (n >= 1'000'000) std::snprintf(buf, sizeof buf, "%.2f M", v / 1e6);
  else if (n >= 10'000) std::snprintf(buf, sizeof buf, "%.1f K", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  return buf;
}

namespace {

std::string config_value(const ordered_json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// Lines describing one model: header facts, then a line per component.
std::vector<std::string> anatomy_lines(const anatomy::Anatomy& a) {
  std::vector<std::string> lines;
  lines.push_back("model:      " + a.path);
  lines.push_back("family:     " + std::string(anatomy::family_name(a.family)) + " (" + a.layout + ", " + a.format + ")");
  lines.push_back("fusion:     " + a.fusion);
  lines.push_back("parameters: " + human_count(a.total_parameters) + " in " + std::to_string(a.tensor_count) + " tensors");
  std::string dtypes;
  for (const auto& [name, n] : a.dtypes) dtypes += (dtypes.empty() ? "" : ", ") + name + " " + human_count(n);
  lines.push_back("dtypes:     " + dtypes);
  for (const auto& c : a.components) {
    lines.push_back("");
    lines.push_back("[" + c.name + "] " + c.kind + ": " + human_count(c.parameters) + " (" + std::to_string(c.tensors) + " tensors)");
    for (const auto& [key, value] : c.config.items()) {
      if (key.ends_with("_assumed")) continue;
      lines.push_back("  " + key + " = " + config_value(value));
    }
  }
  if (a.ignored.tensors > 0) {
    lines.push_back("");
    lines.push_back("[ignored] " + human_count(a.ignored.parameters) + " (" + std::to_string(a.ignored.tensors) + " tensors)");
  }
  for (const auto& [key, value] : a.config.items()) {
    if (key == "detected_by") continue;
    lines.push_back(key + ": " + config_value(value));
  }
  for (const auto& n : a.notes) lines.push_back("note: " + n);
  return lines;
}

}  // namespace

std::string anatomy_text(const anatomy::Anatomy& a) {
  std::ostringstream out;
  for (const auto& l : anatomy_lines(a)) out << l << '\n';
  if (a.hooks.empty()) {
    out << "hooks: none (the native engine does not run this family yet)\n";
  } else {
    out << "hooks (" << a.hooks.size() << "): " << models::summarise_hook_names(a.hooks) << "\n";
  }
  return out.str();
}

std::string anatomy_side_by_side(const anatomy::Anatomy& a, const anatomy::Anatomy& b) {
  // Rows aligned by fact: model-level facts, then each component of either model with the union
  // of their config keys, so that equal things stand on one line.
  std::vector<std::array<std::string, 3>> rows;
  auto dtypes_of = [](const anatomy::Anatomy& m) {
    std::string s;
    for (const auto& [name, n] : m.dtypes) s += (s.empty() ? "" : ", ") + name;
    return s;
  };
  rows.push_back({"model", a.path, b.path});
  rows.push_back({"family", std::string(anatomy::family_name(a.family)) + " (" + a.layout + ")",
                  std::string(anatomy::family_name(b.family)) + " (" + b.layout + ")"});
  rows.push_back({"modality fusion", a.fusion, b.fusion});
  auto image_tokens = [](const anatomy::Anatomy& m) {
    return m.config.contains("image_tokens") ? config_value(m.config["image_tokens"]) : std::string("-");
  };
  rows.push_back({"image tokens", image_tokens(a), image_tokens(b)});
  rows.push_back({"parameters", human_count(a.total_parameters), human_count(b.total_parameters)});
  rows.push_back({"dtypes", dtypes_of(a), dtypes_of(b)});
  auto find = [](const anatomy::Anatomy& m, const std::string& name) -> const anatomy::Component* {
    for (const auto& c : m.components) {
      if (c.name == name) return &c;
    }
    return nullptr;
  };
  // Both models' components in pipeline order (each list is already in that order; merge them).
  std::vector<std::string> names;
  for (const auto& c : a.components) names.push_back(c.name);
  std::size_t insert_at = 0;
  for (const auto& c : b.components) {
    auto it = std::find(names.begin(), names.end(), c.name);
    if (it != names.end()) {
      insert_at = static_cast<std::size_t>(it - names.begin()) + 1;
    } else {
      names.insert(names.begin() + static_cast<std::ptrdiff_t>(insert_at++), c.name);
    }
  }
  for (const auto& name : names) {
    const auto* ca = find(a, name);
    const auto* cb = find(b, name);
    auto title = [](const anatomy::Component* c) {
      return c ? c->kind + ", " + human_count(c->parameters) : std::string("-");
    };
    rows.push_back({"", "", ""});
    rows.push_back({name, title(ca), title(cb)});
    std::vector<std::string> keys;
    for (const auto* c : {ca, cb}) {
      if (!c) continue;
      for (const auto& [key, value] : c->config.items()) {
        if (!key.ends_with("_assumed") && std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
      }
    }
    for (const auto& key : keys) {
      auto value = [&](const anatomy::Component* c) {
        return c && c->config.contains(key) ? config_value(c->config[key]) : std::string("-");
      };
      rows.push_back({"  " + key, value(ca), value(cb)});
    }
  }
  rows.push_back({"", "", ""});
  rows.push_back({"ignored", human_count(a.ignored.parameters), human_count(b.ignored.parameters)});
  std::size_t w0 = 0, w1 = 0;
  for (const auto& r : rows) {
    w0 = std::max(w0, r[0].size());
    if (r[0] != "model") w1 = std::max(w1, r[1].size());
  }
  w1 = std::min<std::size_t>(std::max<std::size_t>(w1, 12), 48);
  std::ostringstream out;
  for (const auto& r : rows) {
    std::string mid = r[1];
    if (mid.size() > w1) mid = "~" + mid.substr(mid.size() - (w1 - 1));
    out << r[0] << std::string(w0 - r[0].size(), ' ') << " | " << mid << std::string(w1 - mid.size(), ' ') << " | "
        << r[2] << '\n';
  }
  for (const auto* m : {&a, &b}) {
    for (const auto& n : m->notes) out << "note (" << anatomy::family_name(m->family) << "): " << n << '\n';
  }
  return out.str();
}

}  // namespace ct::report
