// Optimised scaled dot-product attention, the twin of kernels/ref/attention.h (same layouts,
// grouped-query heads, causal with a KV cache or bidirectional; tested against it on odd shapes).
//
// - Blocked path (n_q > kAttnDecodeRows: prefill, vision encoders): K of each kv head is
//   transposed once into [head_dim, n_kv]; then each (head, block of 8 query rows) computes its
//   8 x n_kv scores with a register-tile kernel, a vectorised softmax, and P·V with a second tile
//   kernel. Only an 8 x n_kv score block per thread exists at a time: no [heads, N, N] tensor.
// - Decode path (n_q <= kAttnDecodeRows): per (query row, head), vector dots against the cached
//   keys and an axpy over the cached values; no transpose of the cache.
// Softmax sums are f32 (the ref: double), so results agree with the ref to f32 rounding.
// The portable Isa runs the reference itself.
//
// Thread-safety: re-entrant; work is split statically over (head, query block) with ctx.
// Failure: inconsistent sizes are CT_CHECKs.
#pragma once

#include <cstdint>

#include "core/exec_context.h"
#include "kernels/cpu/isa.h"
#include "kernels/ref/attention.h"

namespace ct::kernels::cpu {

constexpr int64_t kAttnDecodeRows = 4;

// q [n_q, n_heads·hd], k/v [n_kv, n_kv_heads·hd], out [n_q, n_heads·hd].
void attention(const ExecContext& ctx, const float* q, int64_t n_q, const float* k, const float* v, int64_t n_kv,
               const ref::AttentionShape& shape, float* out, Isa isa = best_isa());

}  // namespace ct::kernels::cpu
