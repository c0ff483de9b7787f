// Few-row linear (kernels/cpu/linear_rows.h) against its reference twin, ref::linear, for every
// row count 1..8, on odd shapes (widths that are not multiples of the 8/16 lanes, output counts that
// are not multiples of the 2/4-row weight blocks), in every weight dtype, on every instruction set
// this CPU runs, with and without a bias; 1 and 3 threads give identical results; the multi-part
// form equals one call per part.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/linear_rows.h"
#include "kernels/ref/linear.h"
#include "support/stored_weights.h"
#include "tensor/convert.h"

namespace ct::kernels {
namespace {

using Stored = testing::StoredWeights;
Stored store(const std::vector<float>& v, io::DType dt) { return testing::store_weights(v, dt); }
std::vector<cpu::Isa> isas() { return testing::supported_isas(); }

TEST(CpuLinearRows, MatchesReferenceEveryRowCountDtypeIsaAndThreads) {
  std::mt19937 gen(5);
  std::normal_distribution<float> nd;
  struct Shape { int64_t in, out; };
  for (const Shape s : {Shape{13, 11}, Shape{37, 45}, Shape{300, 70}, Shape{531, 7}}) {
    for (int64_t n = 1; n <= cpu::kLinearRowsMax; ++n) {
      std::vector<float> x(n * s.in), w(s.out * s.in), b(s.out);
      for (auto* v : {&x, &w, &b})
        for (auto& e : *v) e = nd(gen);
      for (io::DType dt : {io::DType::kF32, io::DType::kF16, io::DType::kBF16}) {
        const Stored ws = store(w, dt), bs = store(b, dt);
        const WeightView wv = ws.view(dt, s.out, s.in);
        for (const WeightView bv : {bs.view(dt, 1, s.out), WeightView{}}) {
          std::vector<float> want(n * s.out);
          ref::linear(ExecContext(1), x.data(), n, s.in, wv, bv, want.data());
          // Bound: f32 rounding of a length-`in` dot, scaled by Σ|x||w| (the stored weights).
          std::vector<float> wrow(static_cast<std::size_t>(s.in));
          for (cpu::Isa isa : isas()) {
            std::vector<float> y1(n * s.out, NAN), y3(n * s.out, NAN);
            cpu::linear_rows(ExecContext(1), x.data(), n, s.in, wv, bv, y1.data(), isa);
            cpu::linear_rows(ExecContext(3), x.data(), n, s.in, wv, bv, y3.data(), isa);
            const std::string what = std::string(cpu::isa_name(isa)) + " " + std::string(io::dtype_name(dt)) + " n=" +
                                     std::to_string(n) + " in=" + std::to_string(s.in) +
                                     (bv.empty() ? " no bias" : " bias");
            EXPECT_EQ(y1, y3) << what << ": thread count changed the result";
            for (int64_t j = 0; j < s.out; ++j) {
              wv.widen_row(j, wrow.data());
              for (int64_t r = 0; r < n; ++r) {
                double mag = 0;
                for (int64_t p = 0; p < s.in; ++p) mag += std::fabs(x[r * s.in + p] * wrow[p]);
                const auto i = static_cast<std::size_t>(r * s.out + j);
                ASSERT_NEAR(y1[i], want[i], 2e-6 * mag + 1e-6) << what << " row " << r << " col " << j;
              }
            }
          }
        }
      }
    }
  }
}

TEST(CpuLinearRows, MultiPartsEqualOnePartEach) {
  // Three parts of different widths and dtypes over one x: each equals its own linear_rows call.
  std::mt19937 gen(9);
  std::normal_distribution<float> nd;
  const int64_t in = 67;
  const int64_t outs[3] = {13, 40, 7};
  const io::DType dts[3] = {io::DType::kF32, io::DType::kBF16, io::DType::kF16};
  std::vector<Stored> wstore, bstore;
  std::vector<WeightView> ws, bs;
  for (int i = 0; i < 3; ++i) {
    std::vector<float> w(outs[i] * in), b(outs[i]);
    for (auto* v : {&w, &b})
      for (auto& e : *v) e = nd(gen);
    wstore.push_back(store(w, dts[i]));
    bstore.push_back(store(b, io::DType::kF32));
  }
  for (int i = 0; i < 3; ++i) {
    ws.push_back(wstore[i].view(dts[i], outs[i], in));
    bs.push_back(i == 1 ? WeightView{} : bstore[i].view(io::DType::kF32, 1, outs[i]));
  }
  for (int64_t n : {1, 5, 8}) {
    std::vector<float> x(n * in);
    for (auto& e : x) e = nd(gen);
    for (cpu::Isa isa : isas()) {
      for (int threads : {1, 3}) {
        std::vector<std::vector<float>> got(3), want(3);
        std::vector<float*> ys;
        for (int i = 0; i < 3; ++i) {
          got[i].assign(n * outs[i], NAN);
          want[i].assign(n * outs[i], NAN);
          ys.push_back(got[i].data());
          cpu::linear_rows(ExecContext(1), x.data(), n, in, ws[i], bs[i], want[i].data(), isa);
        }
        cpu::linear_rows_multi(ExecContext(threads), x.data(), n, in, ws, bs, ys, isa);
        for (int i = 0; i < 3; ++i)
          EXPECT_EQ(got[i], want[i]) << cpu::isa_name(isa) << " n=" << n << " part " << i << " threads " << threads;
      }
    }
  }
}

TEST(CpuLinearRows, HandComputed) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};  // [5, 2]
  const std::vector<float> w = {1, 0, 0.5f, -1, 2, 2};           // [3, 2]
  const std::vector<float> b = {0.25f, 0.0f, -1.0f};             // [3]
  std::vector<float> y(15);
  cpu::linear_rows(ExecContext(2), x.data(), 5, 2, WeightView::of_f32(w.data(), 3, 2),
                   WeightView::of_f32(b.data(), 1, 3), y.data());
  // Row r of x is (2r+1, 2r+2): y = (2r+1.25, (2r+1)/2 − (2r+2), 2(4r+3) − 1).
  for (int r = 0; r < 5; ++r) {
    EXPECT_EQ(y[r * 3 + 0], 2 * r + 1.25f) << r;
    EXPECT_EQ(y[r * 3 + 1], (2 * r + 1) * 0.5f - (2 * r + 2)) << r;
    EXPECT_EQ(y[r * 3 + 2], 2.0f * (4 * r + 3) - 1.0f) << r;
  }
}

}  // namespace
}  // namespace ct::kernels
