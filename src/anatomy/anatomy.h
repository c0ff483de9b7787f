// Anatomy: what a checkpoint is built of. Detects the architecture family and layout from
// config.json (model_type, architectures) and from tensor-name patterns, assigns every tensor to a
// component (vision encoder, projector, text encoder, fusion, language model, decoder, heads) or to
// the ignored set (buffers, momentum copies, unused modules), counts parameters per component and
// dtype, and reads the key hyper-parameters from the config and the tensor shapes.
//
// The component rules per family are listed in anatomy/layout.cpp; tests/python re-implements them
// independently. Anything unrecognised gets a generic inventory grouped by top-level name, never an
// error.
//
// Failure: InputError when the config contradicts the tensors (config says llama, tensors are BERT)
// or a config file is malformed. Thread-safety: pure functions over an immutable TensorStore.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/tensor_store.h"

namespace ct::anatomy {

enum class Family { kLlava, kClip, kClipVision, kLlama, kBert, kMplug, kGeneric };
// "llava", "clip", "clip_vision", "llama", "bert", "mplug", "generic".
const char* family_name(Family f);

struct Component {
  std::string name;                       // vision_encoder, projector, text_encoder, fusion, ...
  std::string kind;                       // clip_vit, mlp2x_gelu, llama, bert, ...
  int64_t parameters = 0;                 // sum of element counts of its tensors
  int64_t tensors = 0;
  std::map<std::string, int64_t> dtypes;  // dtype name -> parameters
  nlohmann::ordered_json config = nlohmann::ordered_json::object();  // widths, depths, heads, ...
};

struct IgnoredTensors {
  int64_t parameters = 0;
  int64_t tensors = 0;
  std::vector<std::string> names;         // as stored in the checkpoint
};

struct Anatomy {
  std::string path;                       // what the user named
  std::string format;                     // safetensors, safetensors-sharded, pytorch-zip, ...
  Family family = Family::kGeneric;
  std::string layout;                     // llava-hf, llava-hf-new-keys, llava-original, ...
  std::string fusion = "none";            // early (tokens spliced into the LM), deep (cross/co-attention), none
  int64_t total_parameters = 0;           // every tensor, ignored ones included
  int64_t tensor_count = 0;
  std::map<std::string, int64_t> dtypes;  // dtype name -> parameters
  std::vector<Component> components;      // non-empty ones, in pipeline order
  IgnoredTensors ignored;
  nlohmann::ordered_json config = nlohmann::ordered_json::object();  // model-level facts
  std::vector<std::string> notes;         // e.g. where an external vision tower comes from
  std::vector<std::string> hooks;         // hook names the engine offers (none yet)
};

// Describes the checkpoint in `store`; `model_dir` is where config.json and friends are looked up.
Anatomy describe_model(const io::TensorStore& store, const std::filesystem::path& model_dir);

}  // namespace ct::anatomy
