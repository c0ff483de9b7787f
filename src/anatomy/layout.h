// Family and layout detection, and the per-family rule that puts a tensor into a component.
// Internal to anatomy/ (anatomy.h is the public face). Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "anatomy/anatomy.h"
#include "io/tensor_store.h"

namespace ct::anatomy {

struct Detection {
  Family family = Family::kGeneric;
  std::string layout;  // see Anatomy::layout
  std::string reason;  // what decided it, for `inspect`
};

// `config` is config.json when the model has one (null json otherwise); `config_file` names it.
Detection detect_layout(const io::TensorStore& store, const nlohmann::json& config, const std::string& config_file);

// The component a tensor belongs to, or nullopt when it is ignored (buffers, momentum copies,
// unused modules, keys no rule knows). `fusion_start` is the first fusion-encoder module that runs
// (mPLUG only). `name` is the stored key.
std::optional<std::string> classify_tensor(const Detection& d, std::string_view name, int fusion_start);

// The key with the family's spelling variants folded (llava-hf new keys, mPLUG pretrained, bert).
std::string canonical_key(const Detection& d, std::string_view name);

}  // namespace ct::anatomy
