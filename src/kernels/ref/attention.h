// Reference scaled dot-product attention with grouped-query heads and a KV cache.
//
// Layouts (token-major, heads side by side):
//   q   [n_q,  n_heads    * head_dim]
//   k,v [n_kv, n_kv_heads * head_dim]   (the cache: rows 0..n_kv, RoPE already applied to k)
//   out [n_q,  n_heads    * head_dim]
// Query head h reads kv head h / (n_heads / n_kv_heads) (HF repeat_kv). Scores are q·k/√head_dim,
// softmax in f32 (max subtracted, sum in double). Causal: query row i sits at absolute position
// q_pos0 + i and sees keys 0..q_pos0+i; bidirectional: every key.
// Work is split over (query row, head) pairs with ctx.parallel_for.
//
// Thread-safety: re-entrant. Failure: inconsistent sizes are CT_CHECKs.
#pragma once

#include <cstdint>

#include "core/exec_context.h"

namespace ct::kernels::ref {

struct AttentionShape {
  int n_heads = 1;
  int n_kv_heads = 1;
  int head_dim = 1;
  bool causal = false;
  int64_t q_pos0 = 0;  // absolute position of query row 0 (causal only)
};

void attention(const ExecContext& ctx, const float* q, int64_t n_q, const float* k, const float* v, int64_t n_kv,
               const AttentionShape& shape, float* out);

}  // namespace ct::kernels::ref
