// Null calibration (spec 12 B5-B7): on independent random pairs the p-values of phi_U, phi_H,
// phi_MATCH and the phi_l2 PERMTEST must look uniform. KS distances are checked against the 5 %
// critical value, and the share of p < 0.05 against [0.02, 0.08]. Seeds are fixed, so each run
// is the same draw; a miscalibrated statistic fails it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "lineage/dense.h"
#include "lineage/mlp.h"
#include "lineage/statistics.h"
#include "lineage/trace.h"
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

TEST(LineageCalibration, PlainMlpPhiMatchUniformOnIndependentPairs) {
  // The plain-MLP (CLIP / BERT, non-GLU) phi_MATCH of trace.cpp: fc1 pre-activations (+ bias) on
  // shared inputs matched on cosine, against fc2 columns (the unit's d output weights) matched on
  // |cosine|. 300 independent pairs, h = 64, d = 32, N = 128, fc1 with a bias as CLIP has.
  // Negative control: the same pairs with the output side taken as the GELU post-activations of
  // fc1 (the variant trace.h rejects) must fail the same check, so the check has teeth.
  ExecContext ctx(2);
  std::vector<double> p_plain, p_post;
  for (int pair = 0; pair < 300; ++pair) {
    Rng rng(derive_seed(801, pair));
    const Matrix x = random_gaussian(128, 32, 1.0, rng);  // [N, d]
    Activations sig[2], post[2];
    for (int k = 0; k < 2; ++k) {
      const Mlp m = random_mlp(32, 64, rng);  // up = fc1 [h, d], down = fc2 [d, h]
      std::vector<float> bias(64);
      for (auto& b : bias) b = static_cast<float>(0.1 * rng.normal());
      sig[k].gate = pre_activations(m.up, bias, x, ctx);  // [h, N]
      sig[k].up = transpose(m.down);                       // [h, d]
      post[k].gate = sig[k].gate;
      post[k].up = sig[k].gate;
      for (float& v : post[k].up.data) v = static_cast<float>(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
    }
    p_plain.push_back(std::pow(10.0, fast_phi_match(sig[0], sig[1], ctx).test.log10_p_one_sided));
    p_post.push_back(std::pow(10.0, fast_phi_match(post[0], post[1], ctx).test.log10_p_one_sided));
  }
  expect_uniform(p_plain, "plain-MLP phi_MATCH fc1 pre vs fc2 columns h=64 d=32 N=128");
  const double ks_post = ks_uniform(p_post);
  std::printf("[calibration] negative control fc1 pre vs GELU post: KS=%.4f frac<0.05=%.3f\n", ks_post,
              fraction_below(p_post, 0.05));
  EXPECT_GT(ks_post, ks_critical_5pct(p_post.size()));
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
