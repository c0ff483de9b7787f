// LLaVA-1.5 (vlm-architectures.md 3): CLIP vision tower → hidden_states[vision_feature_layer]
// (no post-LN; CLS dropped for the "default" strategy) → two-layer projector
// linear_2(GELU_erf(linear_1(F))) → rows spliced, in order, over the image-token positions of the
// LLaMA input embeddings → LLaMA decoder.
//
// Layouts: llava-hf (both key spellings, old `language_model.model.*` and transformers >= 4.52
// `model.language_model.*`), and the original liuhaotian layout (`model.*`, `model.mm_projector.{0,2}`,
// image placeholder −200) whose vision tower is a separate CLIP checkpoint directory.
// Only the vision layers up to the feature layer run (the rest cannot change the output), so the
// vision hooks offered stop there and vision.post_ln is not offered. Hook projector.output
// [n_image_tokens, d] is emitted between the vision and lm hooks.
//
// Ownership: LlavaModel keeps every store it reads alive. Thread-safety: immutable after loading.
// Failure: loading throws InputError naming the file and key / config field; forwards throw
// InputError("token_ids", ...) when the image tokens do not match the image, ("pixels", ...) for
// a wrong pixel tensor.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "io/hf_config.h"
#include "models/clip_vision.h"
#include "models/generate.h"
#include "models/hooks.h"
#include "models/llama.h"

namespace ct::models {

struct ProjectorWeights {
  kernels::WeightView w1, b1;  // [d, W_vision], [d]
  kernels::WeightView w2, b2;  // [d, d], [d]
};

struct LlavaModel {
  io::LlavaConfig config;      // config.vision comes from the tower's config in the original layout
  ClipLayout vision_layout = ClipLayout::kHf;
  ClipVisionWeights vision;
  ProjectorWeights projector;
  LlamaWeights lm;
  std::vector<std::shared_ptr<const io::TensorStore>> stores;
};

// The one tensor list of the llava-hf layout (old key spelling; the binder folds the new one).
void for_each_tensor(const io::LlavaConfig& c, LlavaModel& m, const TensorVisitor& visit);

struct LlavaLoadOptions {
  // Original layout only: the CLIP checkpoint directory. Empty: config's mm_vision_tower taken as a
  // path (absolute, or relative to the model directory).
  std::filesystem::path vision_tower;
};
LlavaModel load_llava(const std::filesystem::path& model, const LlavaLoadOptions& opt = {});

// Encoder layers run for the configured feature layer, and image tokens per image.
int llava_vision_layers(const io::LlavaConfig& c);
int llava_vision_layers(const LlavaModel& m);
int64_t llava_image_tokens(const LlavaModel& m);
// The id that marks image positions (32000-ish for llava-hf, −200 for the original layout).
int32_t llava_image_token_id(const LlavaModel& m);

// ids with each single image id replaced by llava_image_tokens() copies (ids already expanded stay).
std::vector<int32_t> expand_image_tokens(const LlavaModel& m, std::span<const int32_t> ids);

// pixels [3, S, S] → projected image rows [n_image_tokens, d]; emits vision.* and projector.output.
std::vector<float> llava_image_features(const LlavaModel& m, std::span<const float> pixels, const ExecContext& ctx,
                                        const Hooks& hooks);
// Expanded ids (exactly llava_image_tokens() image ids) + pixels → spliced embeddings [T, d].
std::vector<float> llava_embed(const LlavaModel& m, std::span<const int32_t> ids, std::span<const float> pixels,
                               const ExecContext& ctx, const Hooks& hooks);

// Full prefill: ids (expanded or with one image id) + pixels → logits (see llama_forward).
LlamaLogits llava_forward(const LlavaModel& m, std::span<const int32_t> ids, std::span<const float> pixels,
                          KvCache& cache, const ExecContext& ctx, const Hooks& hooks, bool all_logits = false);
// Prefill then decode; returns the new token ids.
std::vector<int32_t> llava_generate(const LlavaModel& m, std::span<const int32_t> ids, std::span<const float> pixels,
                                    const GenerationOptions& opt, const ExecContext& ctx, const Hooks& hooks);

std::vector<std::string> llava_hook_names(const io::LlavaConfig& c);
std::vector<std::string> llava_hook_names(const LlavaModel& m);

}  // namespace ct::models
