// Per-block MLP weights of the comparable components of a checkpoint, for model tracing
// (specs/model-tracing.md sections 4-6): where each block's MLP lives in the checkpoint, and its
// weights widened to f32 on demand.
//
// Components and what is taken from each block (canonical keys, anatomy/layout.h):
// - language models (anatomy kind "llama", match class "llama"): GLU, `layers.i.mlp.gate_proj`,
//   `up_proj`, `down_proj`; the norm before the MLP is `post_attention_layernorm` (RMSNorm gain);
//   the residual anchor is `embed_tokens` (rows = tokens).
// - CLIP vision towers ("clip_vit"): plain two-layer MLP, HF `encoder.layers.i.mlp.fc1`/`fc2` after
//   `layer_norm2`, or OpenAI `transformer.resblocks.i.mlp.c_fc`/`c_proj` after `ln_2`; the anchor
//   is the position embedding (rows = positions). Covers CLIP, LLaVA's vision_tower and mPLUG's
//   visual_encoder.visual.
// - BERT-like stacks ("bert": text encoders of BERT and mPLUG, mPLUG's fusion and decoder):
//   plain MLP `encoder.layer.i.intermediate.dense` (up) and `output.dense` (down) after the
//   cross-attention's output LayerNorm when the layer has one, else the self-attention's; the
//   anchor is `embeddings.word_embeddings` under the same prefix, when present.
//
// Loaded blocks are *folded*: the gain g (and LayerNorm bias beta) of the norm that feeds the MLP
// is multiplied into the columns of gate/up (U' = U diag(g), b' = b + U beta), so a model whose
// norm gains were rescaled and compensated (camouflage T5) loads to the same effective weights.
// A plain MLP loads with `gate` holding a copy of `up` (so that the Mlp transforms of lineage/mlp.h
// apply unchanged) and is_glu false.
//
// Ownership: ComponentBlocks points into the TensorStore it was built from; the store must outlive
// it. Loaded matrices are owned values. Thread-safety: pure functions over an immutable store.
// Failure: InputError naming the checkpoint and tensor when a block is incomplete or its shapes
// disagree (e.g. fc1 [h, d] but fc2 not [d, h]).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "anatomy/anatomy.h"
#include "io/tensor_store.h"
#include "lineage/mlp.h"

namespace ct::lineage {

struct BlockTensors {
  int64_t layer = 0;                            // layer index as stored
  const io::TensorEntry* gate = nullptr;        // [h, d], GLU only
  const io::TensorEntry* up = nullptr;          // [h, d]
  const io::TensorEntry* down = nullptr;        // [d, h]
  const io::TensorEntry* up_bias = nullptr;     // [h] or null
  const io::TensorEntry* norm_gain = nullptr;   // [d] or null
  const io::TensorEntry* norm_bias = nullptr;   // [d] or null (RMSNorm has none)
  int64_t hidden() const { return up ? up->shape[0] : 0; }
};

struct ComponentBlocks {
  std::string component;                   // anatomy component name: language_model, vision_encoder, ...
  std::string kind;                        // anatomy kind: llama, clip_vit, bert, bert_decoder, ...
  std::string match_class;                 // llama, clip_vit or bert: what can be compared with what
  bool is_glu = false;
  int64_t width = 0;                       // d, the residual width
  std::vector<BlockTensors> blocks;        // in layer order
  const io::TensorEntry* anchor = nullptr; // [rows, d] embedding over the residual coordinates, or null
  std::string anchor_name;                 // its canonical key
  std::string source;                      // the checkpoint path (messages)
};

struct LoadedBlock {
  Mlp mlp;                     // folded; gate is a copy of up for plain MLPs
  std::vector<float> up_bias;  // [h] folded bias of the up projection (zeros when none)
};

// The comparable components of one checkpoint (those listed above that have at least one block).
std::vector<ComponentBlocks> extract_components(const io::TensorStore& store, const anatomy::Anatomy& a);

// True when the two components can be traced against each other (same match class).
bool comparable(const ComponentBlocks& a, const ComponentBlocks& b);

// Block i widened to f32 and folded (see above).
LoadedBlock load_block(const ComponentBlocks& c, int64_t i);

// The first `rows` rows of the anchor as f32 ([min(rows, anchor rows), d]); empty without anchor.
Matrix load_anchor(const ComponentBlocks& c, int64_t rows);

}  // namespace ct::lineage
