// Reference norms, softmax and activations against hand-computed values and properties.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/ref/activations.h"
#include "kernels/ref/norm.h"

namespace ct::kernels {
namespace {

TEST(KernelNorm, LayerNormHandComputed) {
  const std::vector<float> x = {1, 2, 3, 4};
  const std::vector<float> w = {1, 1, 2, 1}, b = {0, 0, 0, 1};
  std::vector<float> y(4);
  ref::layer_norm(ExecContext(1), x.data(), 1, 4, WeightView::of_f32(w.data(), 1, 4), WeightView::of_f32(b.data(), 1, 4),
                  0.0, y.data());
  const double s = 1.0 / std::sqrt(1.25);  // mean 2.5, biased variance 1.25
  EXPECT_NEAR(y[0], -1.5 * s, 1e-6);
  EXPECT_NEAR(y[1], -0.5 * s, 1e-6);
  EXPECT_NEAR(y[2], 2 * 0.5 * s, 1e-6);
  EXPECT_NEAR(y[3], 1.5 * s + 1, 1e-6);
}

TEST(KernelNorm, LayerNormEpsAndInPlace) {
  std::vector<float> x = {5, 5, 5, 5, -1, 1, -1, 1};  // a constant row normalises to 0
  const std::vector<float> w(4, 1.0f), b(4, 0.0f);
  ref::layer_norm(ExecContext(2), x.data(), 2, 4, WeightView::of_f32(w.data(), 1, 4), WeightView::of_f32(b.data(), 1, 4),
                  1e-5, x.data());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(x[i], 0.0f);
  EXPECT_NEAR(x[5], 1.0 / std::sqrt(1.0 + 1e-5), 1e-7);
}

TEST(KernelNorm, RmsNormHandComputed) {
  const std::vector<float> x = {3, 4}, w = {2, 0.5f};
  std::vector<float> y(2);
  ref::rms_norm(ExecContext(1), x.data(), 1, 2, WeightView::of_f32(w.data(), 1, 2), 1e-5, y.data());
  const double r = std::sqrt(12.5 + 1e-5);
  EXPECT_NEAR(y[0], 2 * 3 / r, 1e-6);
  EXPECT_NEAR(y[1], 0.5 * 4 / r, 1e-6);
}

TEST(KernelSoftmax, HandComputedAndShiftInvariant) {
  std::vector<float> x = {1, 2, 3, 1001, 1002, 1003};
  ref::softmax_rows(x.data(), 2, 3);
  const float want[3] = {0.09003057317f, 0.24472847105f, 0.66524095577f};
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(x[i], want[i], 1e-7);
    EXPECT_NEAR(x[3 + i], want[i], 1e-7);  // no overflow: the max is subtracted
  }
  std::vector<float> masked = {0, -INFINITY, 2};
  ref::softmax_rows(masked.data(), 1, 3);
  EXPECT_EQ(masked[1], 0.0f);
  EXPECT_NEAR(masked[0] + masked[2], 1.0, 1e-7);
}

TEST(KernelActivation, HandComputed) {
  EXPECT_NEAR(ref::gelu_erf(1.0f), 0.8413447460685429, 1e-7);
  EXPECT_NEAR(ref::gelu_erf(-2.0f), -0.04550026389635842, 1e-7);
  EXPECT_NEAR(ref::gelu_tanh(1.0f), 0.8411919906082768, 1e-7);
  EXPECT_NEAR(ref::quick_gelu(1.0f), 0.8457957659328212, 1e-7);
  EXPECT_NEAR(ref::quick_gelu(-2.0f), -0.06434137685579186, 1e-7);
  EXPECT_NEAR(ref::silu(1.0f), 0.7310585786300049, 1e-7);
  EXPECT_NEAR(ref::silu(-2.0f), -0.2384058440442351, 1e-7);
  EXPECT_EQ(ref::gelu_erf(0.0f), 0.0f);
  ref::Activation a;
  EXPECT_TRUE(ref::parse_activation("gelu", a));
  EXPECT_EQ(a, ref::Activation::kGeluErf);
  EXPECT_TRUE(ref::parse_activation("quick_gelu", a));
  EXPECT_EQ(a, ref::Activation::kQuickGelu);
  EXPECT_FALSE(ref::parse_activation("relu6", a));
  std::vector<float> v = {1, -2};
  ref::activate(ref::Activation::kSilu, v.data(), 2);
  EXPECT_NEAR(v[1], -0.2384058440442351, 1e-7);
}

}  // namespace
}  // namespace ct::kernels
