// Attention of query rows over a fixed memory whose keys were laid out once for it: the
// cross-attention of a decoder that attends the same encoder memory at every step (mPLUG's answer
// decoder, 5 beams x ~585 memory rows). The twin of kernels/ref/attention.h restricted to
// bidirectional attention with n_kv_heads = n_heads (same q/v/out layouts and math; tested against
// it on odd shapes).
//
// Why: the general blocked attention transposes K on every call, which for a few query rows costs
// more than the attention itself. Here the keys are transposed once per memory
// (memory_keys_transposed), then each (head, block of up to 8 query rows) computes its scores as
// n_kv-wide vector FMAs over the head's kt rows, a vectorised softmax, and P·V with the head's V
// slice, so every K and V element is read once per 8 query rows.
// On AVX-512 with head_dim a multiple of 32, each block computes exactly its query rows (a
// decoder's 5 beams pay for 5, not for the table blocks' 8); other shapes use the SimdTable blocks.
// Softmax sums are f32 (the ref: double): results agree with the ref to f32 rounding.
//
// Layouts: q, out [n_q, heads · head_dim]; v [n_kv, heads · head_dim]; kt [heads, head_dim, ld]
// with ld = memory_keys_stride(n_kv) (kt[h][c][j] = k[j][h · head_dim + c], zero for j >= n_kv).
// Thread-safety: re-entrant; work is split statically over heads (then query blocks) with ctx.
// Failure: inconsistent sizes are CT_CHECKs.
#pragma once

#include <cstdint>

#include "core/exec_context.h"
#include "kernels/cpu/isa.h"

namespace ct::kernels::cpu {

// The padded row length of kt: n_kv rounded up to the 32-column blocks the score kernels read.
inline int64_t memory_keys_stride(int64_t n_kv) { return (n_kv + 31) / 32 * 32; }

// k [n_kv, heads · head_dim] → kt [heads, head_dim, memory_keys_stride(n_kv)].
void memory_keys_transposed(const ExecContext& ctx, const float* k, int64_t n_kv, int heads, int head_dim,
                            float* kt);

// softmax(q · kᵀ / √head_dim) · v per head, every key visible.
void memory_attention(const ExecContext& ctx, const float* q, int64_t n_q, const float* kt, const float* v,
                      int64_t n_kv, int heads, int head_dim, float* out, Isa isa = best_isa());

}  // namespace ct::kernels::cpu
