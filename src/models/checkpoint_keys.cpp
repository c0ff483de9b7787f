#include "models/checkpoint_keys.h"

namespace ct::models {
namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

void erase_all(std::string& s, std::string_view what) {
  for (std::size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos)) s.erase(pos, what.size());
}

}  // namespace

std::string normalise_llava_hf_key(std::string_view key) {
  struct Rename {
    std::string_view from, to;
  };
  static constexpr Rename kRenames[] = {
      {"model.language_model.", "language_model.model."},
      {"model.vision_tower.", "vision_tower."},
      {"model.multi_modal_projector.", "multi_modal_projector."},
      {"lm_head.", "language_model.lm_head."},
  };
  for (const auto& r : kRenames) {
    if (starts_with(key, r.from)) return std::string(r.to) + std::string(key.substr(r.from.size()));
  }
  return std::string(key);
}

std::string normalise_mplug_key(std::string_view key) {
  std::string k(key);
  const bool renamed = (k.find("fusion") != std::string::npos || k.find("bert") != std::string::npos) &&
                       k.find("decode") == std::string::npos;
  if (renamed) {
    erase_all(k, "fusion.");
    erase_all(k, "bert.");
  }
  return k;
}

std::string normalise_bert_key(std::string_view key) {
  std::string k(starts_with(key, "bert.") ? key.substr(5) : key);
  if (ends_with(k, ".gamma")) k.replace(k.size() - 6, 6, ".weight");
  else if (ends_with(k, ".beta")) k.replace(k.size() - 5, 5, ".bias");
  return k;
}

bool is_buffer_key(std::string_view key) {
  return ends_with(key, "position_ids") || ends_with(key, "rotary_emb.inv_freq");
}

}  // namespace ct::models
