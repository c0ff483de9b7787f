// Null calibration (spec 12 B5-B7): on independent random pairs the p-values of phi_U, phi_H,
// phi_MATCH and the phi_l2 PERMTEST must look uniform. KS distances are checked against the 5 %
// critical value, and the share of p < 0.05 against [0.02, 0.08]. Seeds are fixed, so each run
// is the same draw; a miscalibrated statistic fails it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "lineage/mlp.h"
#include "lineage/statistics.h"
#include "lineage_test_util.h"

namespace ct::lineage {
namespace {

using testing::fraction_below;
using testing::ks_critical_5pct;
using testing::ks_uniform;

void expect_uniform(const std::vector<double>& p, const char* what) {
  const double ks = ks_uniform(p), frac = fraction_below(p, 0.05);
  std::printf("[calibration] %s: n=%zu KS=%.4f (crit %.4f) frac<0.05=%.3f\n", what, p.size(), ks,
              ks_critical_5pct(p.size()), frac);
  EXPECT_LT(ks, ks_critical_5pct(p.size())) << what;
  EXPECT_GE(frac, 0.02) << what;
  EXPECT_LE(frac, 0.08) << what;
}

TEST(LineageCalibration, PhiUAndPhiHUniformOnIndependentPairs) {
  // B5: h = 64, d = 32, 400 independent pairs (spec: >= 200); phi_H on N = 128 shared Gaussian inputs.
  ExecContext ctx(2);
  std::vector<double> pu, ph;
  for (int pair = 0; pair < 400; ++pair) {
    Rng rng(derive_seed(501, pair));
    const Mlp a = random_mlp(32, 64, rng), b = random_mlp(32, 64, rng);
    pu.push_back(std::pow(10.0, phi_u(a.up, b.up, ctx).log10_p_one_sided));
    const Matrix x = random_gaussian(128, 32, 1.0, rng);
    ph.push_back(std::pow(10.0, phi_h(mlp_activations(a, x, ctx).up, mlp_activations(b, x, ctx).up, ctx)
                                    .log10_p_one_sided));
  }
  expect_uniform(pu, "phi_U h=64 d=32");
  expect_uniform(ph, "phi_H h=64 d=32 N=128");
}

TEST(LineageCalibration, PhiMatchUniformOnIndependentGlus) {
  // B6: independent random GLUs, h = 64, d = 32, N = 128, 200 pairs, both costs.
  ExecContext ctx(2);
  std::vector<double> p_abs, p_euc;
  for (int pair = 0; pair < 200; ++pair) {
    Rng rng(derive_seed(601, pair));
    const Mlp a = random_mlp(32, 64, rng), b = random_mlp(32, 64, rng);
    const Matrix x = random_gaussian(128, 32, 1.0, rng);
    const Activations aa = mlp_activations(a, x, ctx), ab = mlp_activations(b, x, ctx);
    p_abs.push_back(std::pow(10.0, phi_match(aa, ab, MatchCost::kAbsCosine, ctx).test.log10_p_one_sided));
    p_euc.push_back(std::pow(10.0, phi_match(aa, ab, MatchCost::kEuclidean, ctx).test.log10_p_one_sided));
  }
  expect_uniform(p_abs, "phi_MATCH |cos| h=64 d=32 N=128");
  expect_uniform(p_euc, "phi_MATCH euclid h=64 d=32 N=128");
}

TEST(LineageCalibration, PermTestUniformOnTheGrid) {
  // B7: T = 99 on 400 independent pairs of 2-block models; p must lie on {k / 100} and be
  // uniform: chi-square over 10 bins of 10 grid points, 9 dof, 0.1 % critical value 27.88.
  ExecContext ctx(2);
  const int runs = 400, T = 99;
  std::vector<int> bins(10, 0);
  std::vector<double> ps;
  for (int run = 0; run < runs; ++run) {
    Rng rng(derive_seed(701, run));
    std::vector<Mlp> a, b;
    for (int l = 0; l < 2; ++l) {
      a.push_back(random_mlp(8, 16, rng));
      b.push_back(random_mlp(8, 16, rng));
    }
    const PermTestResult r = phi_l2_permtest(a, b, T, derive_seed(702, run), ctx);
    const double k = r.p * (T + 1);
    ASSERT_NEAR(k, std::round(k), 1e-9);
    ASSERT_GE(k, 1.0);
    bins[(static_cast<int>(std::round(k)) - 1) / 10]++;
    ps.push_back(r.p);
  }
  double chi2 = 0.0;
  for (int c : bins) chi2 += (c - runs / 10.0) * (c - runs / 10.0) / (runs / 10.0);
  std::printf("[calibration] PERMTEST T=99: %d runs, chi2(9 dof)=%.2f, frac<=0.05=%.3f\n", runs, chi2,
              fraction_below(ps, 0.0501));
  EXPECT_LT(chi2, 27.88);
}

}  // namespace
}  // namespace ct::lineage
