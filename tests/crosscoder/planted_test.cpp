// Planted-dictionary learning tests at CI scale (specs/crosscoders.md 15.2): a BatchTopK crosscoder
// must meet every pass criterion of the 15.2 table (reconstruction, shared and exclusive recovery,
// classification, false-exclusive rate, shared cosine, dead latents, threshold inference, the small
// planted case); the self-diff null test (independent per-source initialisation) and the
// scale-mismatch test check the direction of the relative-norm statistic. The L1 crosscoder's and
// the no-AuxK run's figures are printed for comparison.
//
// CI scale: n = 128 concepts in d = 64 (15.2 allows d = 32-64, n = 128-256). At d = 32 the
// 4x-overcomplete superposition, not the training recipe, caps the FVE: the trainer plateaus at
// 0.85-0.86 for 3k-12k steps and several learning rates, about what the true decoder reaches when
// the true support is read out through the dictionary (0.867, a numpy estimate on this
// distribution), so d = 32 cannot test the 0.90 target; d = 64 reaches 0.95.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "crosscoder/analysis.h"
#include "crosscoder/planted.h"
#include "crosscoder/trainer.h"

namespace ct::crosscoder {
namespace {

// Rows [offset, offset + n) of another source: held-out evaluation data.
class OffsetSource : public RowSource {
 public:
  OffsetSource(const RowSource& base, int64_t offset) : base_(base), offset_(offset) {}
  std::vector<int64_t> dims() const override { return base_.dims(); }
  int64_t rows() const override { return base_.rows(); }
  void read(int64_t first, int64_t count, float* out) const override { base_.read(first + offset_, count, out); }

 private:
  const RowSource& base_;
  int64_t offset_;
};

struct PlantedFigures {
  double fve_a = 0, fve_b = 0, fve_batch_a = 0, fve_batch_b = 0, l0_thr = 0, dead = 0;
  double shared_recovered = 0, a_recovered = 0, b_recovered = 0;
  double shared_binned = 0, a_binned = 0, b_binned = 0, false_exclusive = 0;
  double shared_cos_median = 0, mmcs = 0;
  int64_t eval_rows = 0;
};

double cosine(const float* a, const float* b, int64_t d) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < d; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

PlantedFigures evaluate(const Crosscoder& m, const PlantedSource& src, const ExecContext& ctx) {
  const auto& pd = src.data();
  const int64_t n = pd.cfg.n_concepts, da = pd.cfg.d_a, db = pd.cfg.d_b, dim = da + db, dict = m.spec.dict_size;
  const OffsetSource held_out(src, pd.cfg.rows / 2);
  const int64_t eval_rows = 32768;
  const AnalysisResult res = analyze(m, held_out, eval_rows, 4096, ctx);  // threshold mode (theta set)
  Crosscoder batch_mode = m;
  batch_mode.theta = -1;  // BatchTopK over each evaluation batch of 4096 rows, exactly k per row on average
  const AnalysisResult res_batch = analyze(batch_mode, held_out, eval_rows, 4096, ctx);
  PlantedFigures f;
  f.eval_rows = eval_rows;
  f.fve_a = res.fve[0];
  f.fve_b = res.fve[1];
  f.fve_batch_a = res_batch.fve[0];
  f.fve_batch_b = res_batch.fve[1];
  f.l0_thr = res.l0_threshold;
  f.dead = res.dead_fraction;
  int64_t n_shared = 0, n_a = 0, n_b = 0, rec_s = 0, rec_a = 0, rec_b = 0, bin_s = 0, bin_a = 0, bin_b = 0, false_ex = 0;
  std::vector<double> shared_cos;
  double mmcs = 0;
  for (int64_t i = 0; i < n; ++i) {
    const ConceptKind kind = pd.kind[i];
    // Best latent for this concept: by the owning model's decoder (shared: the minimum of both).
    int64_t best = -1;
    double best_cos = -2;
    for (int64_t j = 0; j < dict; ++j) {
      if (res.latents[j].bin == "dead") continue;
      const float* row = m.params.dec.data() + j * dim;
      const double ca = cosine(row, pd.dirs_a.data() + i * da, da);
      const double cb = cosine(row + da, pd.dirs_b.data() + i * db, db);
      const double c = kind == ConceptKind::kShared ? std::min(ca, cb) : kind == ConceptKind::kAOnly ? ca : cb;
      if (c > best_cos) best_cos = c, best = j;
    }
    mmcs += best_cos;
    const bool rec = best >= 0 && best_cos > 0.8;
    const double r = best >= 0 ? res.latents[best].r : 0.5;
    if (kind == ConceptKind::kShared) {
      ++n_shared;
      rec_s += rec;
      if (rec) {
        bin_s += r > kSharedLow && r < kSharedHigh;
        false_ex += r < kExclusiveLow || r > kExclusiveHigh;
        shared_cos.push_back(res.latents[best].cosine);
      }
    } else if (kind == ConceptKind::kAOnly) {
      ++n_a;
      rec_a += rec;
      if (rec) bin_a += r < kExclusiveLow;
    } else {
      ++n_b;
      rec_b += rec;
      if (rec) bin_b += r > kExclusiveHigh;
    }
  }
  auto frac = [](int64_t a, int64_t b) { return b > 0 ? static_cast<double>(a) / b : 1.0; };
  f.shared_recovered = frac(rec_s, n_shared);
  f.a_recovered = frac(rec_a, n_a);
  f.b_recovered = frac(rec_b, n_b);
  f.shared_binned = frac(bin_s, rec_s);
  f.a_binned = frac(bin_a, rec_a);
  f.b_binned = frac(bin_b, rec_b);
  f.false_exclusive = frac(false_ex, rec_s);
  f.mmcs = mmcs / n;
  if (!shared_cos.empty()) {
    std::nth_element(shared_cos.begin(), shared_cos.begin() + shared_cos.size() / 2, shared_cos.end());
    f.shared_cos_median = shared_cos[shared_cos.size() / 2];
  }
  return f;
}

void print(const char* name, const PlantedFigures& f) {
  std::printf("[planted %s] FVE (threshold mode) A %.3f B %.3f, (batch mode) A %.3f B %.3f | L0 (threshold) %.2f | "
              "dead %.3f (never fired in %lld held-out rows) | recovered shared (same latent) %.3f A-only %.3f "
              "B-only %.3f | binned shared %.3f A %.3f B %.3f | false-exclusive %.3f | shared cos median %.3f | "
              "MMCS %.3f\n",
              name, f.fve_a, f.fve_b, f.fve_batch_a, f.fve_batch_b, f.l0_thr, f.dead,
              static_cast<long long>(f.eval_rows), f.shared_recovered, f.a_recovered, f.b_recovered, f.shared_binned,
              f.a_binned, f.b_binned, f.false_exclusive, f.shared_cos_median, f.mmcs);
  std::fflush(stdout);
}

PlantedConfig ci_planted() {
  PlantedConfig pc;
  pc.n_concepts = 128;
  pc.d_a = pc.d_b = 64;
  pc.k_true = 4;
  pc.frac_a_only = pc.frac_b_only = 0.05;
  pc.zipf_exponent = 0.3;
  pc.rows = 8'000'000;
  pc.seed = 11;
  return pc;
}

struct TrainOptions {
  int64_t steps = 3000, batch = 1024;
  bool normalize = true, aux_k = true, same_init_blocks = true;
  uint64_t seed = 1;
};

Crosscoder train(const PlantedSource& src, Sparsity s, const TrainOptions& o) {
  CrosscoderSpec spec;
  spec.names = {"A", "B"};
  spec.dims = {src.data().cfg.d_a, src.data().cfg.d_b};
  spec.dict_size = src.data().cfg.n_concepts;
  spec.sparsity = s;
  spec.k = static_cast<int64_t>(std::llround(src.data().cfg.k_true));
  spec.l1_coeff = 0.5;
  TrainConfig cfg;
  cfg.steps = o.steps;
  cfg.batch_size = o.batch;
  cfg.adam.lr = 1e-2;
  cfg.k_init = 4 * spec.k;  // annealed over the first 10%
  cfg.k_anneal_frac = 0.1;
  cfg.warmup_steps = 100;
  cfg.threshold_start_step = o.steps / 4;
  cfg.dead_tokens = 20'000;  // T_dead scaled down for a 3M-row run
  cfg.aux_k = o.aux_k;
  cfg.normalize = o.normalize;
  cfg.same_init_blocks = o.same_init_blocks;
  cfg.seed = o.seed;
  ExecContext ctx(1, o.seed);  // tiny shapes: threads cost more than they save
  Trainer t(spec, cfg, src, ctx);
  t.train();
  return t.model();
}

// The 15.2 table, asserted at its thresholds.
void expect_spec_criteria(const PlantedFigures& f, double k) {
  EXPECT_GE(f.fve_a, 0.90);
  EXPECT_GE(f.fve_b, 0.90);
  EXPECT_GE(f.shared_recovered, 0.90);
  EXPECT_GE(f.mmcs, 0.9);
  EXPECT_GE(f.a_recovered, 0.8);
  EXPECT_GE(f.b_recovered, 0.8);
  EXPECT_GE(f.shared_binned, 0.9);
  EXPECT_GE(f.a_binned, 0.8);
  EXPECT_GE(f.b_binned, 0.8);
  EXPECT_LE(f.false_exclusive, 0.05);
  EXPECT_GE(f.shared_cos_median, 0.95);
  EXPECT_LE(f.dead, 0.10);
  EXPECT_NEAR(f.l0_thr, k, 0.15 * k);
  EXPECT_LE(f.fve_batch_a - f.fve_a, 0.02);
  EXPECT_LE(f.fve_batch_b - f.fve_b, 0.02);
}

TEST(CrosscoderPlanted, BatchTopKMeetsTheSpecCriteria) {
  const PlantedSource src(make_planted(ci_planted()));
  ExecContext ctx(1);
  const PlantedFigures f = evaluate(train(src, Sparsity::kBatchTopK, {}), src, ctx);
  print("batchtopk", f);
  expect_spec_criteria(f, 4.0);

  // Reported, not asserted: without AuxK (15.2 asks for both dead fractions), and the L1 crosscoder.
  TrainOptions no_aux;
  no_aux.aux_k = false;
  print("batchtopk without AuxK", evaluate(train(src, Sparsity::kBatchTopK, no_aux), src, ctx));
  print("l1", evaluate(train(src, Sparsity::kL1, {}), src, ctx));
}

// 15.2's small planted case: 16 shared + 4 A-only + 4 B-only concepts at 8% each (uniform
// frequencies, mean active count 24 * 0.08 = 1.92): every concept recovered and correctly binned.
TEST(CrosscoderPlanted, SmallCaseAllRecoveredAndBinned) {
  PlantedConfig pc;
  pc.n_concepts = 24;
  pc.d_a = pc.d_b = 32;
  pc.frac_a_only = pc.frac_b_only = 4.0 / 24;
  pc.zipf_exponent = 0;
  pc.k_true = 24 * 0.08;
  pc.rows = 4'000'000;
  pc.seed = 21;
  const PlantedSource src(make_planted(pc));
  int64_t n_a = 0, n_b = 0;
  for (ConceptKind k : src.data().kind) n_a += k == ConceptKind::kAOnly, n_b += k == ConceptKind::kBOnly;
  ASSERT_EQ(n_a, 4);
  ASSERT_EQ(n_b, 4);
  for (double p : src.data().freq) ASSERT_NEAR(p, 0.08, 1e-12);
  TrainOptions o;
  o.steps = 1500;
  o.batch = 512;
  ExecContext ctx(1);
  const PlantedFigures f = evaluate(train(src, Sparsity::kBatchTopK, o), src, ctx);
  print("small 16+4+4", f);
  EXPECT_EQ(f.shared_recovered, 1.0);
  EXPECT_EQ(f.a_recovered, 1.0);
  EXPECT_EQ(f.b_recovered, 1.0);
  EXPECT_EQ(f.shared_binned, 1.0);
  EXPECT_EQ(f.a_binned, 1.0);
  EXPECT_EQ(f.b_binned, 1.0);
}

PlantedConfig small_planted() {
  PlantedConfig pc;
  pc.n_concepts = 64;
  pc.d_a = pc.d_b = 16;
  pc.k_true = 3;
  pc.zipf_exponent = 0.3;
  pc.rows = 4'000'000;
  pc.seed = 5;
  return pc;
}

// Mean r over alive latents, and the fractions inside [0.4, 0.6] with cosine >= 0.99 and exclusive.
struct RStats {
  double mean_r = 0, central = 0, exclusive = 0;
};
RStats r_stats(const Crosscoder& m, const PlantedSource& src) {
  ExecContext ctx(1);
  const AnalysisResult res = analyze(m, OffsetSource(src, src.data().cfg.rows / 2), 16384, 4096, ctx);
  RStats s;
  int64_t alive = 0;
  for (const auto& l : res.latents) {
    if (l.bin == "dead") continue;
    ++alive;
    s.mean_r += l.r;
    s.central += l.r >= 0.4 && l.r <= 0.6 && l.cosine >= 0.99;
    s.exclusive += l.r < kExclusiveLow || l.r > kExclusiveHigh;
  }
  if (alive > 0) {
    s.mean_r /= alive;
    s.central /= alive;
    s.exclusive /= alive;
  }
  return s;
}

// Pairs (A-only latent, B-only latent) whose decoders in their own model have cosine > 0.9: the
// latent-decoupling failure ("mirror pairs") of 15.2's null test.
int64_t mirror_pairs(const Crosscoder& m, const PlantedSource& src) {
  ExecContext ctx(1);
  const AnalysisResult res = analyze(m, OffsetSource(src, src.data().cfg.rows / 2), 16384, 4096, ctx);
  const int64_t d = m.spec.dims[0], dim = m.spec.total_dim();
  int64_t pairs = 0;
  for (int64_t i = 0; i < m.spec.dict_size; ++i) {
    if (res.latents[i].bin != "A-only") continue;
    for (int64_t j = 0; j < m.spec.dict_size; ++j)
      if (res.latents[j].bin == "B-only")
        pairs += cosine(m.params.dec.data() + i * dim, m.params.dec.data() + j * dim + d, d) > 0.9;
  }
  return pairs;
}

// Identical activations in both sources, decoder blocks initialised independently per source (so
// agreement must be learned): every alive latent must come out shared with equal decoders.
TEST(CrosscoderPlanted, SelfDiffNullTest) {
  PlantedConfig pc = small_planted();
  pc.identical = true;
  const PlantedSource src(make_planted(pc));
  TrainOptions o;
  o.steps = 1500;
  o.batch = 512;
  o.same_init_blocks = false;
  o.seed = 2;
  const RStats s = r_stats(train(src, Sparsity::kBatchTopK, o), src);
  std::printf("[null batchtopk] mean r %.4f, central (0.4..0.6, cos >= 0.99) %.4f, exclusive %.4f\n", s.mean_r,
              s.central, s.exclusive);
  EXPECT_GE(s.central, 0.99);
  EXPECT_LE(s.exclusive, 0.005);

  const Crosscoder l1 = train(src, Sparsity::kL1, o);  // reported, not asserted
  const RStats s1 = r_stats(l1, src);
  std::printf("[null l1] mean r %.4f, central %.4f, exclusive %.4f, mirror pairs %lld\n", s1.mean_r, s1.central,
              s1.exclusive, static_cast<long long>(mirror_pairs(l1, src)));
}

TEST(CrosscoderPlanted, ScaleMismatchShiftsRelativeNormUnlessNormalised) {
  PlantedConfig pc = small_planted();
  pc.b_scale = 3.0;
  pc.frac_a_only = pc.frac_b_only = 0.0;
  const PlantedSource src(make_planted(pc));
  TrainOptions o;
  o.steps = 1500;
  o.batch = 512;
  o.seed = 3;
  o.normalize = false;
  const RStats raw = r_stats(train(src, Sparsity::kBatchTopK, o), src);
  o.normalize = true;
  const RStats norm = r_stats(train(src, Sparsity::kBatchTopK, o), src);
  std::printf("[scale mismatch] mean r without normalisation %.4f, with %.4f\n", raw.mean_r, norm.mean_r);
  EXPECT_GT(raw.mean_r, 0.6);
  EXPECT_NEAR(norm.mean_r, 0.5, 0.05);
}

}  // namespace
}  // namespace ct::crosscoder
