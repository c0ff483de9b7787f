// Reference linear layer (the executable spec of the GEMM path): y = x · Wᵀ + b.
//
// x and y are f32 activations; W is a WeightView in its stored dtype (f32, f16, bf16), widened one
// row at a time inside the loop; sums are accumulated in double in index order, so the result does
// not depend on the thread count. Work is split over output features with ctx.parallel_for.
//
// Thread-safety: re-entrant; the caller owns x and y, which must not overlap.
// Failure: mismatched shapes are bugs (CT_CHECK).
#pragma once

#include <cstdint>

#include "core/exec_context.h"
#include "kernels/weight_view.h"

namespace ct::kernels::ref {

// x [n, in], w [out, in], bias [out] or empty, y [n, out].
void linear(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
            const WeightView& bias, float* y);

}  // namespace ct::kernels::ref
