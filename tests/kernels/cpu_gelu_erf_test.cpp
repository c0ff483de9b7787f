// Vectorised GELU (kernels/cpu/gelu_erf.h) against its reference twin ref::gelu_erf (double erf) on
// a dense grid over [−12, 12] plus ±0, huge values and lengths that leave vector tails, on every
// instruction set this CPU runs: absolute error within 1e-7·(1 + |t|) + 1 ulp of the result.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cpu/gelu_erf.h"
#include "kernels/ref/activations.h"

namespace ct::kernels {
namespace {

TEST(CpuGeluErf, MatchesReferenceOnADenseRangeEveryIsa) {
  std::vector<float> xs;
  for (int i = -120000; i <= 120000; ++i) xs.push_back(static_cast<float>(i) * 1e-4f);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 30.0f, -30.0f, 1e6f, -1e6f}) xs.push_back(v);
  for (cpu::Isa isa : {cpu::Isa::kPortable, cpu::Isa::kAvx2, cpu::Isa::kAvx512}) {
    if (!cpu::isa_supported(isa)) continue;
    for (std::size_t len : {xs.size(), std::size_t{7}, std::size_t{23}}) {  // odd lengths: tails
      std::vector<float> y(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(len));
      cpu::gelu_erf(y.data(), static_cast<int64_t>(y.size()), isa);
      double worst = 0;
      for (std::size_t i = 0; i < len; ++i) {
        const float want = ref::gelu_erf(xs[i]);
        const double err = std::fabs(static_cast<double>(y[i]) - want);
        const double bound = 1e-7 * (1.0 + std::fabs(xs[i])) + std::fabs(want) * std::numeric_limits<float>::epsilon();
        ASSERT_LE(err, bound) << cpu::isa_name(isa) << " t=" << xs[i] << " got " << y[i] << " want " << want;
        worst = std::max(worst, err / (1.0 + std::fabs(xs[i])));
      }
      if (len == xs.size()) std::printf("[ gelu ] %s worst |err|/(1+|t|) %.3g\n", cpu::isa_name(isa), worst);
    }
  }
}

TEST(CpuGeluErf, KnownValues) {
  // gelu(0) = 0, gelu(t) → t for large t, → 0 (from below) for very negative t, odd-even identity
  // gelu(t) − gelu(−t) = t.
  std::vector<float> y = {0.0f, 10.0f, -10.0f, 1.5f, -1.5f, 0.25f, -0.25f, 3.0f, -3.0f,
                          2.0f, -2.0f, 0.5f, -0.5f, 1.0f, -1.0f, 4.0f, -4.0f};
  const std::vector<float> x = y;
  cpu::gelu_erf(y.data(), static_cast<int64_t>(y.size()));
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_NEAR(y[1], 10.0f, 1e-6);
  EXPECT_LE(y[2], 0.0f);
  EXPECT_GT(y[2], -1e-6f);
  for (std::size_t i = 3; i + 1 < y.size(); i += 2) EXPECT_NEAR(y[i] - y[i + 1], x[i], 2e-6) << x[i];
}

}  // namespace
}  // namespace ct::kernels
