// LLaMA decoder (LlamaForCausalLM, vlm-architectures.md 1.3): RMSNorm pre-norm blocks, grouped-
// query attention with rotate-half RoPE (theta and eps from the config), SiLU-gated MLP, final
// RMSNorm, untied lm_head (tied when the config says so), and a KV cache.
//
// Hooks (CONTRACTS.md 2): lm.embeddings, lm.layers.i.{attn_out, mlp_gate, mlp_up, mlp_out,
// output}, lm.norm, lm.logits. Logits are computed for every row only when asked (all_logits) or
// when a subscriber wants lm.logits; otherwise for the last row only.
//
// Ownership: LlamaModel keeps its TensorStore alive (null when the weights live in a store owned
// by an enclosing model, e.g. LLaVA). KvCache owns its rows. Thread-safety: a loaded model is
// immutable; a KvCache belongs to one sequence and one caller at a time.
// Failure: loading throws InputError naming the file and key; llama_embed throws
// InputError("token_ids", ...) for an id outside the vocabulary.
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

struct LlamaLayerWeights {
  kernels::WeightView attn_norm;        // [d]
  kernels::WeightView q, k, v, o;       // [H·hd, d], [KV·hd, d], [KV·hd, d], [d, H·hd]
  kernels::WeightView mlp_norm;         // [d]
  kernels::WeightView gate, up, down;   // [ff, d], [ff, d], [d, ff]
};

struct LlamaWeights {
  kernels::WeightView embed_tokens;     // [V, d]
  std::vector<LlamaLayerWeights> layers;
  kernels::WeightView norm;             // [d]
  kernels::WeightView lm_head;          // [V, d] (== embed_tokens when tied)
};

// The one tensor list: `prefix` is the decoder's prefix ("model.", "language_model.model."),
// `head_key` the lm_head key ("lm_head.weight", "language_model.lm_head.weight"); a tied model
// visits no lm_head (bind_llama aliases it). Resizes w.layers.
void for_each_tensor(const io::LlamaConfig& c, const std::string& prefix, const std::string& head_key,
                     LlamaWeights& w, const TensorVisitor& visit);

struct LlamaModel {
  io::LlamaConfig config;
  LlamaWeights weights;
  std::shared_ptr<const io::TensorStore> store;
};

LlamaWeights bind_llama(const io::LlamaConfig& c, const std::string& prefix, const std::string& head_key,
                        const WeightBinder& binder);
// A LlamaForCausalLM directory (config.json model_type llama) or file with a config.json beside it.
LlamaModel load_llama(const std::filesystem::path& model);

// Per-layer K (RoPE applied) and V rows, token-major: layer l holds [length, KV·hd] each.
class KvCache {
 public:
  explicit KvCache(const io::LlamaConfig& c);
  int64_t length() const { return length_; }
  int64_t width() const { return width_; }
  const float* k(int layer) const { return k_[static_cast<std::size_t>(layer)].data(); }
  const float* v(int layer) const { return v_[static_cast<std::size_t>(layer)].data(); }
  // Appends n rows to layer `layer` (k, v [n, width]); the length grows after the last layer.
  void append(int layer, const float* k, const float* v, int64_t n);
  void commit(int64_t n) { length_ += n; }
  void clear();
  // Makes room for `positions` positions in every layer up front: without it the first decode step
  // after a long prompt reallocates and copies every layer's cache (and faults in the new pages).
  void reserve(int64_t positions);

 private:
  int64_t width_ = 0, length_ = 0;
  std::vector<std::vector<float>> k_, v_;
};

// token ids → [T, d] input embeddings.
std::vector<float> llama_embed(const io::LlamaConfig& c, const LlamaWeights& w, std::span<const int32_t> ids);

struct LlamaLogits {
  std::vector<float> data;  // [rows, V]
  int64_t rows = 0;         // T (all rows) or 1 (last row)
};

// x [T, d] input embeddings of the tokens at positions cache.length() ... + T - 1 → logits.
// Appends the T tokens to `cache` and emits the lm.* hooks.
LlamaLogits llama_forward(const io::LlamaConfig& c, const LlamaWeights& w, std::span<const float> x,
                          KvCache& cache, const ExecContext& ctx, const Hooks& hooks, bool all_logits = false);

std::vector<std::string> llama_hook_names(const io::LlamaConfig& c);

}  // namespace ct::models
