// Hooks: dispatch, name validation and the compact summary of hook lists.
#include "models/hooks.h"

#include <algorithm>
#include <set>

#include "core/error.h"

namespace ct::models {

void Hooks::subscribe(std::string name, HookCallback fn) { subs_[std::move(name)].push_back(std::move(fn)); }

void Hooks::dispatch(std::string_view name, const HookTensor& t) const {
  auto it = subs_.find(name);
  if (it == subs_.end()) return;
  for (const auto& fn : it->second) fn(name, t);
}

std::string Hooks::layer_hook_name(std::string_view component, int layer, std::string_view site) {
  std::string s;
  s.reserve(component.size() + site.size() + 16);
  s.append(component).append(".layers.").append(std::to_string(layer)).append(".").append(site);
  return s;
}

namespace {

// Splits "x.layers.<i>.site" into (x, i, site); false for other names.
bool split_layer_name(const std::string& n, std::string& comp, int& layer, std::string& site) {
  const std::string key = ".layers.";
  const auto p = n.find(key);
  if (p == std::string::npos) return false;
  const auto start = p + key.size();
  auto dot = n.find('.', start);
  if (dot == std::string::npos || dot == start) return false;
  for (auto i = start; i < dot; ++i)
    if (n[i] < '0' || n[i] > '9') return false;
  if (dot - start > 6) return false;
  comp = n.substr(0, p);
  layer = std::stoi(n.substr(start, dot - start));
  site = n.substr(dot + 1);
  return true;
}

}  // namespace

std::string summarise_hook_names(const std::vector<std::string>& names) {
  constexpr std::size_t kMaxItems = 40;
  // Keep first-seen order of groups: plain names stay, layer names fold per (component, site).
  struct Group {
    std::string comp, site;
    std::set<int> layers;
  };
  std::vector<std::string> order;  // plain names and group keys in first-seen order
  std::map<std::string, Group> groups;
  for (const auto& n : names) {
    std::string comp, site;
    int layer = 0;
    if (split_layer_name(n, comp, layer, site)) {
      const std::string key = "\x01" + comp + "\x01" + site;
      auto [it, fresh] = groups.try_emplace(key, Group{comp, site, {}});
      it->second.layers.insert(layer);
      if (fresh) order.push_back(key);
    } else {
      order.push_back(n);
    }
  }
  std::vector<std::string> items;
  for (const auto& k : order) {
    auto it = groups.find(k);
    if (it == groups.end()) {
      items.push_back(k);
      continue;
    }
    const Group& g = it->second;
    const int lo = *g.layers.begin(), hi = *g.layers.rbegin();
    const bool contiguous = static_cast<int>(g.layers.size()) == hi - lo + 1;
    std::string range;
    if (g.layers.size() == 1) {
      range = std::to_string(lo);
    } else if (contiguous) {
      range = "{" + std::to_string(lo) + ".." + std::to_string(hi) + "}";
    } else {
      range = "{";
      for (int l : g.layers) range += (range.size() > 1 ? "," : "") + std::to_string(l);
      range += "}";
    }
    items.push_back(g.comp + ".layers." + range + "." + g.site);
  }
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < kMaxItems; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > kMaxItems) out += ", ... and " + std::to_string(items.size() - kMaxItems) + " more";
  return out;
}

void validate_hook_names(const std::vector<std::string>& requested, const std::vector<std::string>& offered,
                         const std::string& where) {
  const std::set<std::string> valid(offered.begin(), offered.end());
  std::vector<std::string> unknown;
  for (const auto& r : requested)
    if (!valid.count(r)) unknown.push_back(r);
  if (unknown.empty()) return;
  std::string msg = unknown.size() == 1 ? "unknown hook \"" + unknown[0] + "\"" : "unknown hooks ";
  if (unknown.size() > 1) {
    for (std::size_t i = 0; i < unknown.size(); ++i) msg += (i ? ", \"" : "\"") + unknown[i] + "\"";
  }
  msg += "; this model offers " + std::to_string(offered.size()) + " hooks: " + summarise_hook_names(offered);
  throw InputError(where, msg);
}

void HookRecorder::subscribe_to(Hooks& hooks, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    hooks.subscribe(n, [this](std::string_view name, const HookTensor& t) {
      auto& c = tensors[std::string(name)];
      if (!append || c.data.empty()) {
        c.data.assign(t.data, t.data + t.rows * t.cols);
        c.rows = t.rows;
      } else {
        CT_CHECK(c.cols == t.cols, "hook width changed between emissions");
        c.data.insert(c.data.end(), t.data, t.data + t.rows * t.cols);
        c.rows += t.rows;
      }
      c.cols = t.cols;
    });
  }
}

}  // namespace ct::models
