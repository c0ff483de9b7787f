// Reference linear: one widened weight row against every input row. Double accumulation keeps the
// reference closer to exact than the f32 paths it judges.
#include "kernels/ref/linear.h"

#include <vector>

#include "core/error.h"

namespace ct::kernels::ref {

void linear(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
            const WeightView& bias, float* y) {
  CT_CHECK(w.cols == in, "linear: weight columns differ from the input width");
  CT_CHECK(bias.empty() || bias.numel() == w.rows, "linear: bias length differs from the output width");
  const int64_t out = w.rows;
  ctx.parallel_for(out, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<std::size_t>(in));
    for (int64_t o = begin; o < end; ++o) {
      w.widen_row(o, row.data());
      float b = 0.0f;
      if (!bias.empty()) bias.widen(o, 1, &b);
      for (int64_t t = 0; t < n; ++t) {
        const float* xt = x + t * in;
        double acc = 0.0;
        for (int64_t i = 0; i < in; ++i) acc += static_cast<double>(xt[i]) * row[static_cast<std::size_t>(i)];
        y[t * out + o] = static_cast<float>(acc) + b;
      }
    }
  });
}

}  // namespace ct::kernels::ref
