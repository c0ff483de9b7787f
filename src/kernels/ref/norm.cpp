// Reference LayerNorm and RMSNorm, one row per work item.
#include "kernels/ref/norm.h"

#include <cmath>
#include <vector>

#include "core/error.h"

namespace ct::kernels::ref {

void layer_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w,
                const WeightView& b, double eps, float* y) {
  CT_CHECK(w.numel() == d && b.numel() == d, "layer_norm: weight or bias length differs from d");
  std::vector<float> wf(static_cast<std::size_t>(d)), bf(static_cast<std::size_t>(d));
  w.widen(0, d, wf.data());
  b.widen(0, d, bf.data());
  ctx.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * d;
      float* yr = y + r * d;
      double mean = 0.0;
      for (int64_t i = 0; i < d; ++i) mean += xr[i];
      mean /= static_cast<double>(d);
      double var = 0.0;
      for (int64_t i = 0; i < d; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      var /= static_cast<double>(d);
      const double inv = 1.0 / std::sqrt(var + eps);
      for (int64_t i = 0; i < d; ++i) {
        const auto k = static_cast<std::size_t>(i);
        yr[i] = static_cast<float>((xr[i] - mean) * inv) * wf[k] + bf[k];
      }
    }
  });
}

void rms_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w, double eps,
              float* y) {
  CT_CHECK(w.numel() == d, "rms_norm: weight length differs from d");
  std::vector<float> wf(static_cast<std::size_t>(d));
  w.widen(0, d, wf.data());
  ctx.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * d;
      float* yr = y + r * d;
      double ms = 0.0;
      for (int64_t i = 0; i < d; ++i) ms += static_cast<double>(xr[i]) * xr[i];
      ms /= static_cast<double>(d);
      const double inv = 1.0 / std::sqrt(ms + eps);
      // HF rounds the normalised value to the activation dtype before the weight multiply.
      for (int64_t i = 0; i < d; ++i) yr[i] = wf[static_cast<std::size_t>(i)] * static_cast<float>(xr[i] * inv);
    }
  });
}

}  // namespace ct::kernels::ref
