// The hook points a model offers (CONTRACTS.md 2), from its config files alone: no weights are
// read, so `inspect` can list them cheaply. The lists are exactly what the forward passes emit
// (clip_vision_hook_names, llama_hook_names, llava_hook_names), in emission order.
//
// mPLUG (a directory with config.yaml and no config.json) is the exception: its vision tower's
// sizes exist only as tensor shapes, so the checkpoint's index is read (not its weights).
//
// Families: mplug, llava (llava-hf, and the original layout when its vision tower directory is found at
// mm_vision_tower or given), llama, clip_vision / clip (CLIPVisionModel, CLIPModel). Any other
// model yields an empty list and a note saying why.
//
// Thread-safety: pure apart from reading files. Failure: InputError from reading or parsing a
// config file (naming it); an unknown family is not an error.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ct::models {

struct ModelHooks {
  std::string family;               // "mplug", "llava", "llama", "clip_vision", or "" when unknown
  std::vector<std::string> names;   // in emission order
  std::string note;                 // why the list is empty or partial ("" when complete)
};

// `model` as given on the command line (directory or checkpoint file); `vision_tower` optionally
// names the CLIP directory of an original-layout LLaVA.
ModelHooks list_model_hooks(const std::filesystem::path& model, const std::filesystem::path& vision_tower = {});

}  // namespace ct::models
