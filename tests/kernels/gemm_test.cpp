// Optimised GEMM against its reference twin on odd shapes, both transposes, alpha/beta, threads.
#include "kernels/cpu/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/ref/gemm.h"

namespace ct::kernels {
namespace {

std::vector<float> random_vec(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

TEST(CrosscoderGemm, MatchesReferenceOnOddShapes) {
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {13, 33, 300}, {97, 130, 257}, {6, 16, 256},
                               {150, 2100, 40}, {301, 17, 513}};
  for (int threads : {1, 2, 3}) {
    ExecContext ctx(threads);
    for (const auto& s : shapes) {
      for (Trans ta : {Trans::kNo, Trans::kYes}) {
        for (Trans tb : {Trans::kNo, Trans::kYes}) {
          const int64_t m = s[0], n = s[1], k = s[2];
          const int64_t lda = (ta == Trans::kNo ? k : m) + 3, ldb = (tb == Trans::kNo ? n : k) + 1;
          const int64_t ldc = n + 2;
          const auto a = random_vec((ta == Trans::kNo ? m : k) * lda, 1);
          const auto b = random_vec((tb == Trans::kNo ? k : n) * ldb, 2);
          for (float beta : {0.0f, 0.5f}) {
            auto c = random_vec(m * ldc, 3), c_ref = c;
            cpu::gemm(ta, tb, m, n, k, 1.5f, a.data(), lda, b.data(), ldb, beta, c.data(), ldc, ctx);
            ref::gemm<float>(ta, tb, m, n, k, 1.5f, a.data(), lda, b.data(), ldb, beta, c_ref.data(), ldc);
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < ldc; ++j) {
                const float want = c_ref[i * ldc + j], got = c[i * ldc + j];
                ASSERT_NEAR(got, want, 1e-5f * (1.0f + std::sqrt(static_cast<float>(k))) + 1e-5f * std::fabs(want))
                    << "m=" << m << " n=" << n << " k=" << k << " i=" << i << " j=" << j;
              }
          }
        }
      }
    }
  }
}

TEST(CrosscoderGemm, BetaZeroIgnoresNaNInC) {
  ExecContext ctx(2);
  const auto a = random_vec(20 * 30, 4), b = random_vec(30 * 40, 5);
  std::vector<float> c(20 * 40, std::nanf(""));
  cpu::gemm(Trans::kNo, Trans::kNo, 20, 40, 30, 1.0f, a.data(), 30, b.data(), 40, 0.0f, c.data(), 40, ctx);
  for (float v : c) ASSERT_FALSE(std::isnan(v));
}

TEST(CrosscoderGemm, RepeatableWithSameThreadCount) {
  // Same thread count twice gives identical bits (static split, fixed order).
  ExecContext ctx(2);
  const auto a = random_vec(64 * 300, 6), b = random_vec(300 * 500, 7);
  std::vector<float> c1(64 * 500), c2(64 * 500);
  cpu::gemm(Trans::kNo, Trans::kYes, 64, 500, 300, 1.0f, a.data(), 300, b.data(), 300, 0.0f, c1.data(), 500, ctx);
  cpu::gemm(Trans::kNo, Trans::kYes, 64, 500, 300, 1.0f, a.data(), 300, b.data(), 300, 0.0f, c2.data(), 500, ctx);
  EXPECT_EQ(c1, c2);
}

}  // namespace
}  // namespace ct::kernels
