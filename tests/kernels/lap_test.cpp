// The LAP relaxation kernel (kernels/cpu/lap.h): the AVX2 path against the portable twin, and both
// against a plain loop written here, on odd lengths, f64 and f32 rows, both signs, parked columns
// (w = -inf, d = +inf) and integer-valued rows full of ties (the lowest index must win).
#include "kernels/cpu/lap.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace ct::kernels::cpu {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Case {
  std::vector<double> row64, w, d;
  std::vector<float> row32;
  std::vector<int64_t> pred;
};

Case make_case(int64_t m, bool ties, std::mt19937_64& gen) {
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  std::uniform_int_distribution<int> small(0, 3);
  Case c;
  for (int64_t j = 0; j < m; ++j) {
    const double x = ties ? small(gen) : u(gen);
    c.row32.push_back(static_cast<float>(x));
    c.row64.push_back(static_cast<float>(x));  // same values in both widths
    c.w.push_back(ties ? small(gen) : u(gen));
    c.d.push_back(ties ? small(gen) + 1.0 : (j % 3 ? u(gen) + 1.0 : kInf));
    c.pred.push_back(-7);
    if (j % 5 == 2) {  // parked (scanned) column
      c.w.back() = -kInf;
      c.d.back() = kInf;
    }
  }
  return c;
}

// The plain loop: what relax_row is specified to do.
RelaxResult plain(const Case& c, double sign, double u, int64_t i, std::vector<double>& d,
                  std::vector<int64_t>& pred) {
  RelaxResult r{kInf, -1};
  for (size_t j = 0; j < d.size(); ++j) {
    const double h = (sign * c.row64[j] - c.w[j]) - u;
    if (h < d[j]) d[j] = h, pred[j] = i;
  }
  for (size_t j = 0; j < d.size(); ++j)
    if (r.index < 0 || d[j] < r.min) r = {d[j], static_cast<int64_t>(j)};
  return r;
}

TEST(KernelsLap, RelaxTwinsAgreeWithPlainLoop) {
  std::mt19937_64 gen(5);
  const LapOps& fast = lap_ops();
  const LapOps& slow = lap_ops_portable();
  int checked = 0;
  for (int64_t m : {1, 2, 3, 4, 5, 7, 8, 9, 13, 31, 64, 101, 1000}) {
    for (bool ties : {false, true}) {
      for (double sign : {1.0, -1.0}) {
        const Case c = make_case(m, ties, gen);
        const double u = ties ? 1.0 : 0.25;
        std::vector<double> d0 = c.d;
        std::vector<int64_t> p0 = c.pred;
        const RelaxResult want = plain(c, sign, u, 3, d0, p0);
        for (const LapOps* ops : {&fast, &slow}) {
          for (bool f32 : {false, true}) {
            std::vector<double> d = c.d;
            std::vector<int64_t> p = c.pred;
            const RelaxResult got = f32 ? ops->relax_f32(c.row32.data(), sign, c.w.data(), u, 3, d.data(), p.data(), m)
                                        : ops->relax_f64(c.row64.data(), sign, c.w.data(), u, 3, d.data(), p.data(), m);
            EXPECT_EQ(got.index, want.index) << "m=" << m << " ties=" << ties << " avx2=" << ops->avx2;
            EXPECT_EQ(got.min, want.min);
            EXPECT_EQ(d, d0);
            EXPECT_EQ(p, p0);
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 13 * 2 * 2 * 2 * 2);
  // Parked columns never change.
  std::vector<double> d{kInf, 5.0}, w{-kInf, 0.0};
  std::vector<int64_t> p{-1, -1};
  const double row[2] = {-1e300, 1.0};
  const RelaxResult r = fast.relax_f64(row, 1.0, w.data(), 0.0, 9, d.data(), p.data(), 2);
  EXPECT_EQ(r.index, 1);
  EXPECT_EQ(r.min, 1.0);
  EXPECT_EQ(p[0], -1);
  EXPECT_EQ(p[1], 9);
}

TEST(KernelsLap, MinReducedTwinsAgreeWithPlainLoop) {
  std::mt19937_64 gen(6);
  for (int64_t m : {1, 3, 4, 7, 8, 9, 12, 33, 1001}) {
    for (bool ties : {false, true}) {
      for (double sign : {1.0, -1.0}) {
        const Case c = make_case(m, ties, gen);
        std::vector<double> v = c.w;
        for (auto& x : v) x = std::isinf(x) ? 0.5 : x;
        RelaxResult want{kInf, -1};
        for (int64_t j = 0; j < m; ++j) {
          const double h = sign * c.row64[j] - v[j];
          if (want.index < 0 || h < want.min) want = {h, j};
        }
        for (const LapOps* ops : {&lap_ops(), &lap_ops_portable()}) {
          const RelaxResult a = ops->min_reduced_f64(c.row64.data(), sign, v.data(), m);
          const RelaxResult b = ops->min_reduced_f32(c.row32.data(), sign, v.data(), m);
          EXPECT_EQ(a.index, want.index) << "m=" << m << " ties=" << ties;
          EXPECT_EQ(a.min, want.min);
          EXPECT_EQ(b.index, want.index);
          EXPECT_EQ(b.min, want.min);
        }
      }
    }
  }
}

}  // namespace
}  // namespace ct::kernels::cpu
