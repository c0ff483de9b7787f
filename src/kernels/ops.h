// The ops the model forwards call: one switch point between the reference kernels (kernels/ref/,
// the executable spec) and the optimised ones (kernels/cpu/). Every op now runs its kernels/cpu/
// twin (chosen per op in ops.cpp, SIMD level picked once per process); the
// model-level PyTorch parity tests then cover it.
//
// Contracts, layouts and failure behaviour are those of the ref headers named below.
// Thread-safety: re-entrant.
#pragma once

#include <cstdint>

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
// Several linears over the same x (no bias): y_i = x · w_iᵀ, as linear() computes each, with the
// decode-time weight streams of the group fused into one parallel loop (cpu/linear.h).
using GroupedLinear = cpu::GroupedLinear;
void linear_group(const ExecContext& ctx, const float* x, int64_t n, int64_t in, std::span<const GroupedLinear> outs);
// ref/norm.h
void layer_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w,
                const WeightView& b, double eps, float* y);
void rms_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w, double eps,
              float* y);
// ref/activations.h
void activate(Activation a, float* x, int64_t n);
// ref/rope.h
void rope_rotate_half(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, double theta);
// ref/attention.h
void attention(const ExecContext& ctx, const float* q, int64_t n_q, const float* k, const float* v, int64_t n_kv,
               const AttentionShape& shape, float* out);

}  // namespace ct::kernels
