// Optimised row ops of the forward passes, twins of kernels/ref/norm.h, activations.h and rope.h
// (same contracts and layouts; tested against them on odd sizes): LayerNorm, RMSNorm, softmax,
// the activations (SiLU, quick_gelu, GELU tanh vectorised; GELU erf through std::erf in f32), and
// RoPE rotate-half. Vector bodies come from simd_body.inc, one copy per instruction set; the Isa
// is resolved once per call. Statistics are accumulated in f32 vectors (the ref uses double), exp
// is a ~1-ulp polynomial, so results agree with the ref to f32 rounding, not bit for bit.
//
// Thread-safety: re-entrant; the norms split rows over ctx's threads. x and y may alias.
// Failure: shape mismatches are CT_CHECKs.
#pragma once

#include <cstdint>

#include "core/exec_context.h"
#include "kernels/cpu/isa.h"
#include "kernels/ref/activations.h"
#include "kernels/weight_view.h"

namespace ct::kernels::cpu {

// x, y [n, d]; w, b [d].
void layer_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w,
                const WeightView& b, double eps, float* y, Isa isa = best_isa());
void rms_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w, double eps, float* y,
              Isa isa = best_isa());
// x[0, n) in place.
void activate(ref::Activation a, float* x, int64_t n, Isa isa = best_isa());
// x [n, d] in place.
void softmax_rows(float* x, int64_t n, int64_t d, Isa isa = best_isa());
// x [n, n_heads * head_dim] in place; row r at position pos0 + r.
void rope_rotate_half(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, double theta,
                      Isa isa = best_isa());

}  // namespace ct::kernels::cpu
