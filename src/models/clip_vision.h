// CLIP ViT vision tower (vlm-architectures.md 1.1): HF CLIPVisionModel / CLIPModel layout
// (`vision_model.*`, separate q/k/v) and the OpenAI layout (`visual.*` or bare, packed
// attn.in_proj_weight rows q, k, v; `c_fc`/`c_proj`; `ln_1`/`ln_2`).
//
// Forward: pixels [3, H, W] (normalised RGB, H = W = image_size) → patch conv as a GEMM over
// im2col rows → CLS + patches + positions → pre-LN → pre-LN blocks (quick_gelu MLP) → optional
// post-LN on every token. Hooks (CONTRACTS.md 2): vision.embeddings, vision.pre_ln,
// vision.layers.i.{attn_out, mlp_act, mlp_out, output}, vision.post_ln.
//
// Ownership: ClipVisionModel keeps its TensorStore alive; the weights are views into it.
// Thread-safety: a loaded model is immutable; concurrent forwards with separate contexts and hooks
// are safe. Failure: loading throws InputError naming the file and key (missing tensor, wrong
// shape or dtype, unknown layout, bad config); a forward throws InputError("pixels", ...) when the
// pixel tensor does not match the configured image size.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "io/hf_config.h"
#include "io/tensor_store.h"
#include "kernels/weight_view.h"
#include "models/hooks.h"
#include "models/weights.h"

namespace ct::models {

enum class ClipLayout { kHf, kOpenAi };

struct ClipLayerWeights {
  kernels::WeightView ln1_w, ln1_b;                  // [W]
  kernels::WeightView q_w, k_w, v_w, o_w;            // [W, W]
  kernels::WeightView q_b, k_b, v_b, o_b;            // [W]
  kernels::WeightView ln2_w, ln2_b;                  // [W]
  kernels::WeightView fc1_w, fc1_b;                  // [H, W], [H]
  kernels::WeightView fc2_w, fc2_b;                  // [W, H], [W]
};

struct ClipVisionWeights {
  kernels::WeightView class_embedding;               // [W]
  kernels::WeightView patch_embedding;               // [W, 3, P, P] viewed as [W, 3·P·P]
  kernels::WeightView position_embedding;            // [N, W], N = 1 + (image/P)²
  kernels::WeightView pre_ln_w, pre_ln_b;            // [W]
  std::vector<ClipLayerWeights> layers;
  kernels::WeightView post_ln_w, post_ln_b;          // [W]
};

// The one tensor list of the vision tower. `prefix` is prepended to every key ("vision_model.",
// "vision_tower.vision_model.", "visual.", ""). Resizes w.layers.
void for_each_tensor(const io::ClipVisionConfig& c, ClipLayout layout, const std::string& prefix,
                     ClipVisionWeights& w, const TensorVisitor& visit);

struct ClipVisionModel {
  io::ClipVisionConfig config;
  ClipLayout layout = ClipLayout::kHf;
  ClipVisionWeights weights;
  std::shared_ptr<const io::TensorStore> store;
};

// Loads a CLIPVisionModel or CLIPModel directory (config.json with model_type clip_vision_model,
// or clip with a vision_config), or an OpenAI-layout checkpoint (config inferred from the shapes
// when there is no config.json).
ClipVisionModel load_clip_vision(const std::filesystem::path& model);

// Binds an HF-layout tower inside another checkpoint (LLaVA) through `binder`.
ClipVisionWeights bind_clip_vision(const io::ClipVisionConfig& c, ClipLayout layout, const std::string& prefix,
                                   const WeightBinder& binder);

struct ClipRunOptions {
  int layers = -1;       // how many encoder layers to run; -1 = all
  bool post_ln = true;   // apply the final LayerNorm to every token (and emit vision.post_ln)
};

// pixels [3, H, W] → [N, W]: the residual stream after the last layer run (post-LN'd if asked).
std::vector<float> clip_vision_forward(const io::ClipVisionConfig& c, const ClipVisionWeights& w,
                                       std::span<const float> pixels, const ClipRunOptions& opt,
                                       const ExecContext& ctx, const Hooks& hooks);

// Hook names a forward with `opt` emits, in emission order.
std::vector<std::string> clip_vision_hook_names(const io::ClipVisionConfig& c, const ClipRunOptions& opt);

// Tokens a forward produces: 1 + (image_size / patch_size)².
int64_t clip_num_tokens(const io::ClipVisionConfig& c);

}  // namespace ct::models
