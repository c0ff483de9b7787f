// Optimised linear (kernels/cpu/linear.h) against its reference twin on odd shapes (sizes that are
// not multiples of the 8/16/32 lanes or the 4/6/14-row tiles, depths beyond one 256-deep slice),
// in every weight dtype, on every instruction set this CPU runs, with 1 and 3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/linear.h"
#include "kernels/ref/linear.h"
#include "support/stored_weights.h"
#include "tensor/convert.h"

namespace ct::kernels {
namespace {

using Stored = testing::StoredWeights;
Stored store(const std::vector<float>& v, io::DType dt) { return testing::store_weights(v, dt); }
std::vector<cpu::Isa> isas() { return testing::supported_isas(); }

// Compares y against the double-accumulating reference with a bound scaled by Σ|x||w|.
void expect_close(const std::vector<float>& x, int64_t n, int64_t in, const WeightView& w, const std::vector<float>& y,
                  const std::vector<float>& want, const std::string& what) {
  std::vector<float> wrow(static_cast<std::size_t>(in));
  for (int64_t j = 0; j < w.rows; ++j) {
    w.widen_row(j, wrow.data());
    for (int64_t r = 0; r < n; ++r) {
      double mag = 0;
      for (int64_t p = 0; p < in; ++p) mag += std::fabs(x[r * in + p] * wrow[p]);
      const auto idx = static_cast<std::size_t>(r * w.rows + j);
      ASSERT_NEAR(y[idx], want[idx], 2e-6 * mag + 1e-6) << what << " row " << r << " col " << j;
    }
  }
}

TEST(CpuLinear, MatchesReferenceOnOddShapesEveryDtypeIsaAndThreads) {
  std::mt19937 gen(11);
  std::normal_distribution<float> nd;
  struct Shape { int64_t n, in, out; };
  for (const Shape s : {Shape{1, 13, 11}, Shape{1, 531, 37}, Shape{2, 37, 45}, Shape{3, 300, 70}, Shape{4, 17, 5}, Shape{5, 13, 11},
                        Shape{7, 300, 45}, Shape{29, 531, 70}, Shape{151, 40, 33}}) {
    std::vector<float> x(s.n * s.in), w(s.out * s.in), b(s.out);
    for (auto* v : {&x, &w, &b})
      for (auto& e : *v) e = nd(gen);
    for (io::DType dt : {io::DType::kF32, io::DType::kF16, io::DType::kBF16}) {
      const Stored ws = store(w, dt), bs = store(b, dt);
      const WeightView wv = ws.view(dt, s.out, s.in), bv = bs.view(dt, 1, s.out);
      std::vector<float> want(s.n * s.out);
      ref::linear(ExecContext(1), x.data(), s.n, s.in, wv, bv, want.data());
      for (cpu::Isa isa : isas()) {
        for (int threads : {1, 3}) {
          const std::string what = std::string(io::dtype_name(dt)) + " " + cpu::isa_name(isa) + " threads " +
                                   std::to_string(threads) + " n " + std::to_string(s.n);
          std::vector<float> y(s.n * s.out, NAN);
          cpu::linear_gemm(ExecContext(threads), x.data(), s.n, s.in, wv, bv, y.data(), isa);
          expect_close(x, s.n, s.in, wv, y, want, "gemm " + what);
          if (s.n <= cpu::kGemvMaxRows) {
            std::vector<float> yv(s.n * s.out, NAN);
            cpu::linear_gemv(ExecContext(threads), x.data(), s.n, s.in, wv, bv, yv.data(), isa);
            expect_close(x, s.n, s.in, wv, yv, want, "gemv " + what);
          }
        }
      }
    }
  }
}

TEST(CpuLinear, NoBiasAndThreadCountIndependent) {
  std::mt19937 gen(5);
  std::normal_distribution<float> nd;
  const int64_t n = 23, in = 300, out = 67;
  std::vector<float> x(n * in), w(out * in);
  for (auto* v : {&x, &w})
    for (auto& e : *v) e = nd(gen);
  const WeightView wv = WeightView::of_f32(w.data(), out, in);
  std::vector<float> y1(n * out), y3(n * out), want(n * out);
  cpu::linear(ExecContext(1), x.data(), n, in, wv, WeightView{}, y1.data());
  cpu::linear(ExecContext(3), x.data(), n, in, wv, WeightView{}, y3.data());
  EXPECT_EQ(y1, y3);  // one thread sums each element in a fixed order
  ref::linear(ExecContext(1), x.data(), n, in, wv, WeightView{}, want.data());
  expect_close(x, n, in, wv, y1, want, "no bias");
}

// A group (q/k/v-like: three matrices of different heights and dtypes over one x, one with a bias)
// gives exactly
// what one linear() per matrix gives, for one row (the fused stream) and for several rows, on every
// ISA and with 1 and 3 threads (a thread's range then starts and ends inside different matrices).
TEST(CpuLinear, GroupEqualsOneLinearPerMatrix) {
  std::mt19937 gen(11);
  std::normal_distribution<float> nd;
  const int64_t in = 133;
  const int64_t heights[] = {37, 5, 70};
  const io::DType dtypes[] = {io::DType::kBF16, io::DType::kF32, io::DType::kF16};
  std::vector<Stored> stored;
  std::vector<WeightView> views;
  for (int m = 0; m < 3; ++m) {
    std::vector<float> w(static_cast<std::size_t>(heights[m] * in));
    for (auto& e : w) e = nd(gen);
    stored.push_back(store(w, dtypes[m]));
  }
  for (int m = 0; m < 3; ++m) views.push_back(stored[static_cast<std::size_t>(m)].view(dtypes[m], heights[m], in));
  std::vector<float> bias(static_cast<std::size_t>(heights[1]));  // the middle part has a bias
  for (auto& e : bias) e = nd(gen);
  const WeightView bias_view = WeightView::of_f32(bias.data(), 1, heights[1]), no_bias{};
  for (const int64_t n : {int64_t{1}, int64_t{3}, int64_t{9}}) {
    std::vector<float> x(static_cast<std::size_t>(n * in));
    for (auto& e : x) e = nd(gen);
    for (const cpu::Isa isa : isas()) {
      for (const int threads : {1, 3}) {
        const ExecContext ctx(threads);
        std::vector<std::vector<float>> got(3), want(3);
        std::vector<cpu::GroupedLinear> group;
        for (int m = 0; m < 3; ++m) {
          got[m].assign(static_cast<std::size_t>(n * heights[m]), -1.0f);
          want[m].resize(got[m].size());
          group.push_back({&views[static_cast<std::size_t>(m)], m == 1 ? &bias_view : &no_bias, got[m].data()});
          cpu::linear(ctx, x.data(), n, in, views[static_cast<std::size_t>(m)], m == 1 ? bias_view : no_bias,
                      want[m].data(), isa);
        }
        cpu::linear_group(ctx, x.data(), n, in, group, isa);
        for (int m = 0; m < 3; ++m)
          EXPECT_EQ(got[m], want[m]) << "matrix " << m << ", n " << n << ", isa " << cpu::isa_name(isa)
                                     << ", threads " << threads;
      }
    }
  }
}

}  // namespace
}  // namespace ct::kernels
