// The AuxK weight's scale (TrainConfig::aux_relative): the reconstruction loss of predicting the
// mean, from hand-computed values on a 3-row source, for both reconstruction losses; 1 for L1 and
// when switched off; recomputed identically on resume; and the loss the trainer reports carries it.
#include <gtest/gtest.h>

#include <cmath>

#include "crosscoder/trainer.h"
#include "support/test_dir.h"

namespace ct::crosscoder {
namespace {

// Source A (d = 2): rows (1, 2), (3, 2), (5, 8): mean (3, 4), squared deviations 4+4, 0+4, 4+16.
// Source B (d = 1): rows 0, 0, 3: mean 1, squared deviations 1, 1, 4.
InMemorySource three_rows() { return InMemorySource({{1, 2, 3, 2, 5, 8}, {0, 0, 3}}, {2, 1}); }

CrosscoderSpec spec_for(Sparsity s, ReconLoss r) {
  CrosscoderSpec spec;
  spec.names = {"A", "B"};
  spec.dims = {2, 1};
  spec.dict_size = 4;
  spec.k = 1;
  spec.sparsity = s;
  spec.recon = r;
  return spec;
}

TrainConfig config() {
  TrainConfig cfg;
  cfg.steps = 4;
  cfg.batch_size = 3;
  cfg.normalize = false;  // the hand values are in raw units
  cfg.warmup_steps = 1;
  return cfg;
}

TEST(CrosscoderAuxScale, IsTheLossOfPredictingTheMean) {
  const InMemorySource src = three_rows();
  ExecContext ctx(1, 0);
  {
    Trainer t(spec_for(Sparsity::kBatchTopK, ReconLoss::kSquared), config(), src, ctx);
    t.initialize();
    // mean_b sum_m ||x_b^m - mean^m||^2 = ((8 + 1) + (4 + 1) + (20 + 4)) / 3.
    EXPECT_NEAR(t.aux_scale(), 38.0 / 3.0, 1e-12);
  }
  {
    Trainer t(spec_for(Sparsity::kBatchTopK, ReconLoss::kNorm), config(), src, ctx);
    t.initialize();
    // mean over b and m of ||x_b^m - mean^m||.
    const double want = (std::sqrt(8.0) + 1 + 2 + 1 + std::sqrt(20.0) + 2) / 6.0;
    EXPECT_NEAR(t.aux_scale(), want, 1e-12);
  }
  {
    Trainer t(spec_for(Sparsity::kL1, ReconLoss::kSquared), config(), src, ctx);
    t.initialize();
    EXPECT_EQ(t.aux_scale(), 1.0);
  }
  {
    TrainConfig cfg = config();
    cfg.aux_relative = false;
    Trainer t(spec_for(Sparsity::kBatchTopK, ReconLoss::kSquared), cfg, src, ctx);
    t.initialize();
    EXPECT_EQ(t.aux_scale(), 1.0);
  }
}

TEST(CrosscoderAuxScale, ScalesTheAuxLossAndSurvivesResume) {
  const InMemorySource src = three_rows();
  const auto dir = testing::test_dir();
  TrainConfig cfg = config();
  cfg.dead_tokens = 1;  // every latent that did not fire in the last step is dead: AuxK runs
  TrainConfig plain = cfg;
  plain.aux_relative = false;
  ExecContext ctx(1, 0);
  Trainer relative(spec_for(Sparsity::kBatchTopK, ReconLoss::kSquared), cfg, src, ctx);
  Trainer absolute(spec_for(Sparsity::kBatchTopK, ReconLoss::kSquared), plain, src, ctx);
  // Step 1 runs no AuxK (no latent is dead yet), so both trainers take the same step 1 and reach
  // step 2 with equal parameters; there AuxK runs and only its weight differs.
  const StepStats a1 = relative.step(), b1 = absolute.step();
  ASSERT_EQ(a1.aux_k, 0);
  ASSERT_EQ(a1.loss, b1.loss);
  const StepStats a = relative.step(), b = absolute.step();
  ASSERT_GT(a.aux_k, 0);
  ASSERT_GT(b.aux_loss, 0);
  EXPECT_EQ(a.recon_loss, b.recon_loss);
  EXPECT_NEAR(a.aux_loss, b.aux_loss * relative.aux_scale(), 1e-9 * a.aux_loss);
  relative.save(dir);
  Trainer resumed(spec_for(Sparsity::kBatchTopK, ReconLoss::kSquared), cfg, src, ctx);
  resumed.resume(dir);
  EXPECT_EQ(resumed.aux_scale(), relative.aux_scale());
  const StepStats c = relative.step(), d = resumed.step();
  EXPECT_EQ(c.loss, d.loss);
  EXPECT_EQ(c.aux_loss, d.aux_loss);
}

}  // namespace
}  // namespace ct::crosscoder
