// Reference normalisations over the last dimension of row-major [n, d] f32 activations.
//
// - layer_norm: y = (x - mean) / sqrt(var + eps) * w + b, biased variance (PyTorch LayerNorm).
// - rms_norm: Hugging Face LlamaRMSNorm: the normalisation x / sqrt(mean(x²) + eps) is computed in
//   f32 (here: double, then rounded to f32) and only then multiplied by w.
// Statistics are accumulated in double. w and b are [d] WeightViews in any stored float dtype.
//
// Thread-safety: re-entrant; x and y may alias (in place). Failure: shape mismatches are CT_CHECKs.
#pragma once

#include <cstdint>

#include "core/exec_context.h"
#include "kernels/weight_view.h"

namespace ct::kernels::ref {

// x, y [n, d]; w, b [d].
void layer_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w,
                const WeightView& b, double eps, float* y);
// x, y [n, d]; w [d].
void rms_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w, double eps,
              float* y);

}  // namespace ct::kernels::ref
