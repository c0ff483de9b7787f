// Linear layer y = x · Wᵀ + b for a few rows of x (beam search: one row per beam, up to
// kLinearRowsMax), reading W once: the twin of kernels/ref/linear.h (the same op), tested against
// it on odd shapes in every weight dtype and instruction set.
//
// cpu::linear's GEMV path for 2..8 rows (and for one row without AVX-512): at these sizes the cost
// is the weight bytes, so every weight is read once for all the rows. Each block of Q weight rows (AVX-512: Q = 4; AVX2: 2 up to 4 rows, else 1) is widened in
// registers and dotted with all n rows of x at once, Q·n accumulators in registers.
// Threads split the output features statically in blocks of Q; every output element is summed by
// one thread in a fixed order, so results do not depend on the thread count.
//
// Ownership: the caller owns x and y (must not overlap); W and b are views into mapped storage.
// Thread-safety: re-entrant. Failure: n outside 1..kLinearRowsMax, mismatched shapes, an
// unsupported dtype or an Isa the CPU lacks are CT_CHECKs.
#pragma once

#include <cstdint>
#include <span>

#include "core/exec_context.h"
#include "kernels/cpu/isa.h"
#include "kernels/weight_view.h"

namespace ct::kernels::cpu {

constexpr int64_t kLinearRowsMax = 8;

// x [n, in] (1 <= n <= kLinearRowsMax), w [out, in] (f32/f16/bf16), bias [out] or empty, y [n, out].
void linear_rows(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
                 const WeightView& bias, float* y, Isa isa = best_isa());

// Several linears of the same x in one pass (the q, k and v projections of a layer): y_i = x · w_iᵀ + b_i
// for i < ws.size(), w_i [out_i, in], biases[i] [out_i] or empty, ys[i] [n, out_i]. The blocks of all
// parts are split over the threads together: one parallel loop instead of one per part.
void linear_rows_multi(const ExecContext& ctx, const float* x, int64_t n, int64_t in, std::span<const WeightView> ws,
                       std::span<const WeightView> biases, std::span<float* const> ys, Isa isa = best_isa());

}  // namespace ct::kernels::cpu
