// Reference RoPE and attention: hand-computed cases and the properties the models rely on
// (relative positions, causal prefix, grouped-query heads equal to duplicated heads, cache
// continuation).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/ref/attention.h"
#include "kernels/ref/rope.h"

namespace ct::kernels {
namespace {

std::vector<float> random_vec(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(n);
  for (auto& e : v) e = nd(gen);
  return v;
}

TEST(KernelRope, HandComputedRotateHalf) {
  // head_dim 4: pairs (0, 2) at inv_freq 1 and (1, 3) at inv_freq theta^-0.5 = 0.01.
  std::vector<float> x = {1, 1, 0, 0};
  ref::rope_rotate_half(x.data(), 1, 1, 4, /*pos0=*/1, 10000.0);
  EXPECT_NEAR(x[0], std::cos(1.0), 1e-6);
  EXPECT_NEAR(x[2], std::sin(1.0), 1e-6);
  EXPECT_NEAR(x[1], std::cos(0.01), 1e-6);
  EXPECT_NEAR(x[3], std::sin(0.01), 1e-6);
  std::vector<float> y = {1, 2, 3, 4};
  ref::rope_rotate_half(y.data(), 1, 1, 4, 0, 10000.0);  // position 0 is the identity
  EXPECT_EQ(y, (std::vector<float>{1, 2, 3, 4}));
}

TEST(KernelRope, DotProductDependsOnlyOnRelativePosition) {
  const auto q0 = random_vec(8, 1), k0 = random_vec(8, 2);
  auto dot_at = [&](int pq, int pk) {
    auto q = q0, k = k0;
    ref::rope_rotate_half(q.data(), 1, 1, 8, pq, 500.0);
    ref::rope_rotate_half(k.data(), 1, 1, 8, pk, 500.0);
    double d = 0;
    for (int i = 0; i < 8; ++i) d += static_cast<double>(q[i]) * k[i];
    return d;
  };
  EXPECT_NEAR(dot_at(5, 2), dot_at(13, 10), 1e-4);
  EXPECT_GT(std::fabs(dot_at(5, 2) - dot_at(5, 4)), 1e-4);
}

TEST(KernelAttention, HandComputedAndCausal) {
  const std::vector<float> q = {1, 0, 0, 1};     // [2, 2], one head of 2 dims
  const std::vector<float> k = {1, 0, 0, 1};     // [2, 2]
  const std::vector<float> v = {1, 2, 3, 4};     // [2, 2]
  std::vector<float> out(4);
  ref::attention(ExecContext(1), q.data(), 2, k.data(), v.data(), 2, {1, 1, 2, false, 0}, out.data());
  const double e = std::exp(1.0 / std::sqrt(2.0)), p0 = e / (e + 1), p1 = 1 / (e + 1);
  EXPECT_NEAR(out[0], p0 * 1 + p1 * 3, 1e-6);
  EXPECT_NEAR(out[1], p0 * 2 + p1 * 4, 1e-6);
  EXPECT_NEAR(out[2], p1 * 1 + p0 * 3, 1e-6);
  ref::attention(ExecContext(1), q.data(), 2, k.data(), v.data(), 2, {1, 1, 2, true, 0}, out.data());
  EXPECT_EQ(out[0], 1.0f);  // the first query sees only the first key
  EXPECT_EQ(out[1], 2.0f);
  EXPECT_NEAR(out[2], p1 * 1 + p0 * 3, 1e-6);
}

TEST(KernelAttention, GroupedQueryEqualsDuplicatedHeads) {
  const int n = 5, H = 4, KV = 2, hd = 3;
  const auto q = random_vec(n * H * hd, 3), k = random_vec(n * KV * hd, 4), v = random_vec(n * KV * hd, 5);
  std::vector<float> kd(n * H * hd), vd(n * H * hd);  // kv head j copied to heads 2j, 2j+1
  for (int t = 0; t < n; ++t)
    for (int h = 0; h < H; ++h)
      for (int c = 0; c < hd; ++c) {
        kd[(t * H + h) * hd + c] = k[(t * KV + h / 2) * hd + c];
        vd[(t * H + h) * hd + c] = v[(t * KV + h / 2) * hd + c];
      }
  std::vector<float> gqa(n * H * hd), mha(n * H * hd);
  ref::attention(ExecContext(2), q.data(), n, k.data(), v.data(), n, {H, KV, hd, true, 0}, gqa.data());
  ref::attention(ExecContext(1), q.data(), n, kd.data(), vd.data(), n, {H, H, hd, true, 0}, mha.data());
  EXPECT_EQ(gqa, mha);
}

TEST(KernelAttention, CacheContinuationMatchesFullCausalPass) {
  const int n = 6, H = 2, hd = 4;
  const auto q = random_vec(n * H * hd, 6), k = random_vec(n * H * hd, 7), v = random_vec(n * H * hd, 8);
  std::vector<float> full(n * H * hd), last(2 * H * hd);
  ref::attention(ExecContext(1), q.data(), n, k.data(), v.data(), n, {H, H, hd, true, 0}, full.data());
  // The last two queries against the whole cache, positioned at 4 and 5.
  ref::attention(ExecContext(1), q.data() + 4 * H * hd, 2, k.data(), v.data(), n, {H, H, hd, true, 4}, last.data());
  for (int i = 0; i < 2 * H * hd; ++i) EXPECT_EQ(last[i], full[4 * H * hd + i]);
}

}  // namespace
}  // namespace ct::kernels
