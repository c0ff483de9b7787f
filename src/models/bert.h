// BERT encoder and decoder blocks (vlm-architectures.md 1.2), as mPLUG's text encoder, fusion
// layers and answer decoder use them (transformers-4.8 semantics): post-LN everywhere, exact erf
// GELU, LayerNorm eps from the config, word + position + token-type embeddings, scores
// Q·Kᵀ/√d_head plus the additive mask (1 − m)·(−10000), optional cross-attention whose keys and
// values come from a memory of `encoder_width` features.
//
// Padding masks: a masked key gets −10000 added to its score, so its softmax weight is
// e^(−10000 + …), which is exactly 0 in f32 whenever the row has one unmasked key. We therefore drop
// masked keys (and their values) before the attention kernel: identical results, no mask tensor.
// (A row whose keys are all masked would get uniform weights in the transformers code; that never
// happens with a [CLS] token and is rejected as input here.)
//
// Layouts: the standalone BertModel / BertForMaskedLM checkpoint, with or without the hub's `bert.`
// prefix and with `LayerNorm.gamma/beta` or `weight/bias` (normalise_bert_key folds them). mPLUG's
// towers bind the same per-block tensor lists under their own prefixes (models/mplug).
//
// Hooks (CONTRACTS.md 2): <component>.embeddings, <component>.layers.i.mlp_act (the GELU output
// [T, H]), <component>.layers.i.output ([T, d]); component "text" for the text encoder.
//
// Ownership: weights are views into the TensorStore the model keeps alive. Thread-safety: loaded
// weights are immutable; a BertSelfCache belongs to one caller. Failure: loading throws InputError
// naming the file and key; forwards throw InputError("token_ids", ...) for ids outside the
// vocabulary, positions past max_position_embeddings or an all-padding mask.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/exec_context.h"
#include "io/hf_config.h"
#include "io/tensor_store.h"
#include "kernels/weight_view.h"
#include "models/hooks.h"
#include "models/weights.h"

namespace ct::models {

struct BertEmbeddingWeights {
  kernels::WeightView word;              // [vocab, d]
  kernels::WeightView position;          // [max_pos, d]
  kernels::WeightView token_type;        // [type_vocab, d]
  kernels::WeightView ln_w, ln_b;        // [d]
};

struct BertAttentionWeights {
  kernels::WeightView q_w, q_b;          // [d, d], [d]
  kernels::WeightView k_w, k_b;          // [d, kv_width], [d] (kv_width = encoder_width for cross)
  kernels::WeightView v_w, v_b;          // [d, kv_width], [d]
  kernels::WeightView o_w, o_b;          // [d, d], [d]
  kernels::WeightView ln_w, ln_b;        // [d]
};

struct BertLayerWeights {
  BertAttentionWeights self;
  bool has_cross = false;
  BertAttentionWeights cross;
  kernels::WeightView inter_w, inter_b;  // [H, d], [H]
  kernels::WeightView out_w, out_b;      // [d, H], [d]
  kernels::WeightView out_ln_w, out_ln_b;  // [d]
};

struct BertLmHeadWeights {             // cls.predictions
  kernels::WeightView dense_w, dense_b;  // [d, d], [d]
  kernels::WeightView ln_w, ln_b;        // [d]
  kernels::WeightView decoder_w;         // [vocab, d] (tied to the word embeddings in the released files)
  kernels::WeightView bias;              // [vocab]
};

struct BertWeights {
  BertEmbeddingWeights embeddings;
  std::vector<BertLayerWeights> layers;
};

// Tensor lists. `prefix` ends with "." or is empty: "embeddings.", "encoder.layer.3.",
// "cls.predictions.".
void for_each_tensor(const io::BertConfig& c, const std::string& prefix, BertEmbeddingWeights& w,
                     const TensorVisitor& visit);
void for_each_tensor(const io::BertConfig& c, const std::string& prefix, bool cross, int64_t encoder_width,
                     BertLayerWeights& l, const TensorVisitor& visit);
// Without decoder.weight: the caller binds it or ties it to the word embeddings.
void for_each_tensor(const io::BertConfig& c, const std::string& prefix, BertLmHeadWeights& w,
                     const TensorVisitor& visit);
// A whole encoder: `prefix`embeddings.* and `prefix`encoder.layer.{0..layers-1}.*.
void for_each_tensor(const io::BertConfig& c, const std::string& prefix, int layers, bool cross,
                     int64_t encoder_width, BertWeights& w, const TensorVisitor& visit);

struct BertModel {
  io::BertConfig config;
  bool cross = false;                    // the layers carry cross-attention (a decoder checkpoint)
  BertWeights weights;
  std::shared_ptr<const io::TensorStore> store;
};

// A BertModel / BertForMaskedLM directory (config.json + checkpoint) or checkpoint file with a
// config.json beside it.
BertModel load_bert(const std::filesystem::path& model);

// Keys and values of a cross-attention memory, projected once: [rows, d] each (masked memory rows
// dropped, see above).
struct BertMemoryKv {
  std::vector<float> k, v;
  int64_t rows = 0;
  // Empty, or the keys laid out once for kernels::memory_attention ([heads, head_dim, stride], see
  // bert_memory_keys): then cross-attention over this memory skips the per-call transpose.
  std::vector<float> kt;
};
// Self-attention keys and values of the tokens seen so far (causal decoding): [length, d] each.
struct BertSelfCache {
  std::vector<float> k, v;
  int64_t length = 0;
};

// memory [rows, width] → the layer's cross-attention K/V. `mask` [rows] (1 keep, 0 padding) or empty.
BertMemoryKv bert_cross_kv(const io::BertConfig& c, const BertLayerWeights& l, const float* memory, int64_t rows,
                           int64_t width, std::span<const int32_t> mask, const ExecContext& ctx);

// Fills kv.kt from kv.k, for a memory attended many times (a decoder's steps).
void bert_memory_keys(const io::BertConfig& c, BertMemoryKv& kv, const ExecContext& ctx);

struct BertLayerInputs {
  std::span<const int32_t> key_mask;     // bidirectional self-attention: [T] or empty (all keys)
  // Causal self-attention when non-empty: the T rows are caches.size() sequences of equal length
  // (rows [s·T/n, (s+1)·T/n) belong to sequence s, e.g. one row per beam), and sequence s appends
  // its keys/values to caches[s] and attends over it. Empty: bidirectional over the T rows.
  std::span<BertSelfCache> caches;
  const BertMemoryKv* cross = nullptr;   // set: run the layer's cross-attention over it; null: skip it
  // > 1: `cross` holds this many equal blocks of memory rows (the memory tiled per sequence, as the
  // released beam search feeds it) and row block s of the T rows attends only to block s.
  int64_t cross_blocks = 1;
  const Hooks* hooks = nullptr;          // emits <component>.layers.<index>.mlp_act when component is set
  std::string_view component;
  int index = 0;
};

// One post-LN block on x [T, d], in place.
void bert_layer_forward(const io::BertConfig& c, const BertLayerWeights& l, float* x, int64_t T,
                        const BertLayerInputs& in, const ExecContext& ctx);

// LN(word[id] + position[pos0 + t] + token_type[0]) → [T, d].
std::vector<float> bert_embed(const io::BertConfig& c, const BertEmbeddingWeights& w, std::span<const int32_t> ids,
                              int64_t pos0, const ExecContext& ctx);

// Embeddings and every layer (bidirectional, no cross-attention unless `memory` is given, then
// memory [memory_rows, encoder_width]); emits <component>.embeddings and the per-layer hooks.
// Returns the last hidden state [T, d].
std::vector<float> bert_encoder_forward(const io::BertConfig& c, const BertWeights& w, std::span<const int32_t> ids,
                                        std::span<const int32_t> mask, const ExecContext& ctx, const Hooks& hooks,
                                        std::string_view component = "text", const float* memory = nullptr,
                                        int64_t memory_rows = 0, int64_t encoder_width = 0);

// cls.predictions: h [n, d] → logits [n, vocab] = LN(gelu(dense(h)))·Eᵀ + bias.
void bert_lm_head(const io::BertConfig& c, const BertLmHeadWeights& w, const float* h, int64_t n, float* logits,
                  const ExecContext& ctx);

// Hooks of bert_encoder_forward over `layers` layers, in emission order.
std::vector<std::string> bert_hook_names(int layers, std::string_view component = "text");

}  // namespace ct::models
