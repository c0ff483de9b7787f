// The ops the model forwards call: one switch point between the reference kernels (kernels/ref/,
// the executable spec) and the optimised ones (kernels/cpu/). Every op now runs its kernels/cpu/
// twin (chosen per op in ops.cpp, SIMD level picked once per process); the
// model-level PyTorch parity tests then cover it.
//
// Contracts, layouts and failure behaviour are those of the ref headers named below.
// Thread-safety: re-entrant.
#pragma once

#include <cstdint>
#include <span>

#include "core/exec_context.h"
#include "kernels/cpu/linear.h"
#include "kernels/ref/activations.h"
#include "kernels/ref/attention.h"
#include "kernels/weight_view.h"

namespace ct::kernels {

using ref::Activation;
using ref::AttentionShape;

// ref/linear.h: x [n, in] · wᵀ + b → y [n, w.rows].
void linear(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
            const WeightView& bias, float* y);
// Several linears of the same x [n, in] (a layer's q, k, v; LLaMA's gate, up): ys[i] = x · ws[i]ᵀ +
// biases[i] (empty views: no bias). One row (decode): one parallel stream over all the weights
// (cpu::linear_group); 2..8 rows (beam search): one parallel pass (cpu::linear_rows_multi); else
// linear() per part. Each output equals what linear() gives for its part.
void linear_multi(const ExecContext& ctx, const float* x, int64_t n, int64_t in, std::span<const WeightView> ws,
                  std::span<const WeightView> biases, std::span<float* const> ys);
// ref/norm.h
void layer_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w,
                const WeightView& b, double eps, float* y);
void rms_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w, double eps,
              float* y);
// ref/activations.h
void activate(Activation a, float* x, int64_t n);
// cpu/gelu_erf.h (twin: ref::gelu_erf): vectorised exact-form GELU, x[0, n) in place, within
// 1e-7·(1 + |t|) of the reference (activate(kGeluErf) calls std::erf per element).
void gelu_erf(float* x, int64_t n);
// ref/rope.h
void rope_rotate_half(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, double theta);
// cpu/memory_attention.h (twin: ref/attention.h, bidirectional): attention over a fixed memory
// whose keys are laid out once, kt [heads, head_dim, memory_keys_stride(n_kv)].
int64_t memory_keys_stride(int64_t n_kv);
void memory_keys_transposed(const ExecContext& ctx, const float* k, int64_t n_kv, int heads, int head_dim, float* kt);
void memory_attention(const ExecContext& ctx, const float* q, int64_t n_q, const float* kt, const float* v,
                      int64_t n_kv, int heads, int head_dim, float* out);
// ref/attention.h
void attention(const ExecContext& ctx, const float* q, int64_t n_q, const float* k, const float* v, int64_t n_kv,
               const AttentionShape& shape, float* out);

}  // namespace ct::kernels
