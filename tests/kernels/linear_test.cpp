// Reference linear against hand-computed values, in f32, f16 and bf16 weight storage, and its
// independence from the thread count.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/ref/linear.h"
#include "tensor/convert.h"

namespace ct::kernels {
namespace {

// Stores `v` as 16-bit words through `narrow` and returns a view over `storage`.
WeightView narrow_view(const std::vector<float>& v, int64_t rows, int64_t cols, io::DType dt,
                       std::vector<uint16_t>& storage) {
  storage.resize(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    storage[i] = dt == io::DType::kF16 ? tensor::f32_to_f16(v[i]) : tensor::f32_to_bf16(v[i]);
  return WeightView{reinterpret_cast<const std::byte*>(storage.data()), dt, rows, cols};
}

TEST(KernelLinear, HandComputedInEveryWeightDtype) {
  const std::vector<float> x = {1, 2, 3, 4};                 // [2, 2]
  const std::vector<float> w = {1, 0, 0.5f, -1, 2, 2};       // [3, 2], exact in f16 and bf16
  const std::vector<float> b = {0.125f, 0.25f, 0.5f};        // [3]
  const std::vector<float> want = {1.125f, -1.25f, 6.5f, 3.125f, -2.25f, 14.5f};
  const ExecContext ctx(2);
  std::vector<uint16_t> s16, sb16;
  for (const WeightView& wv : {WeightView::of_f32(w.data(), 3, 2), narrow_view(w, 3, 2, io::DType::kF16, s16),
                               narrow_view(w, 3, 2, io::DType::kBF16, sb16)}) {
    std::vector<float> y(6);
    ref::linear(ctx, x.data(), 2, 2, wv, WeightView::of_f32(b.data(), 1, 3), y.data());
    EXPECT_EQ(y, want) << "dtype " << io::dtype_name(wv.dtype);
  }
  std::vector<float> y(6);
  ref::linear(ctx, x.data(), 2, 2, WeightView::of_f32(w.data(), 3, 2), WeightView{}, y.data());
  EXPECT_EQ(y, (std::vector<float>{1, -1.5f, 6, 3, -2.5f, 14}));  // no bias
}

TEST(KernelLinear, OddShapesSameResultForAnyThreadCount) {
  std::mt19937 gen(7);
  std::normal_distribution<float> nd;
  const int64_t n = 7, in = 13, out = 11;
  std::vector<float> x(n * in), w(out * in), b(out);
  for (auto* v : {&x, &w, &b})
    for (auto& e : *v) e = nd(gen);
  std::vector<float> y1(n * out), y3(n * out);
  ref::linear(ExecContext(1), x.data(), n, in, WeightView::of_f32(w.data(), out, in),
              WeightView::of_f32(b.data(), 1, out), y1.data());
  ref::linear(ExecContext(3), x.data(), n, in, WeightView::of_f32(w.data(), out, in),
              WeightView::of_f32(b.data(), 1, out), y3.data());
  EXPECT_EQ(y1, y3);
  // One entry against a double dot product.
  double acc = b[4];
  for (int64_t i = 0; i < in; ++i) acc += static_cast<double>(x[2 * in + i]) * w[4 * in + i];
  EXPECT_NEAR(y1[2 * out + 4], acc, 1e-5);
}

TEST(KernelWeightView, RowBlocksOfAPackedTensor) {
  const std::vector<float> w = {0, 1, 2, 3, 4, 5};  // [3, 2]
  const WeightView v = WeightView::of_f32(w.data(), 3, 2).row_block(1, 2);
  float row[2];
  v.widen_row(1, row);
  EXPECT_EQ(row[0], 4);
  EXPECT_EQ(row[1], 5);
}

}  // namespace
}  // namespace ct::kernels
