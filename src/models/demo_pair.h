// The embedded demo pair: a tiny LLaVA-1.5-style model (Hugging Face layout) and a tiny
// mPLUG-style model (fine-tuned key names), generated from a fixed seed so that `crosstrace demo`
// needs no download. As the real pair both descend from CLIP, both carry the SAME vision tower
// (one set of CLIP weights, written in the HF layout for LLaVA and in the OpenAI layout with packed
// q/k/v for mPLUG); their language sides are independent.
//
// Shapes (vlm-architectures.md section 5 suggests them): CLIP width 48, 2 layers, 4 heads, MLP 100,
// patch 4, image 16 (17 tokens); LLaVA LM: LLaMA width 40, 2 layers, 4 heads, MLP 84, vocab 336,
// projector 48 -> 40 -> 40; mPLUG: BERT width 32, 4 heads, MLP 37, vocab 130, text encoder 2
// layers, 6 fusion modules of which 3 run (stride 2), decoder 2 layers, visn_fc 48 -> 32.
//
// Failure: RuntimeFailure when the directory cannot be written. Files are written atomically.
#pragma once

#include <cstdint>
#include <filesystem>

namespace ct::models {

struct DemoPairPaths {
  std::filesystem::path llava;  // directory: config.json + model.safetensors
  std::filesystem::path mplug;  // directory: config_bert.json + mplug_tiny.safetensors
};

DemoPairPaths write_demo_pair(const std::filesystem::path& dir, uint64_t seed = 20221205);

}  // namespace ct::models
