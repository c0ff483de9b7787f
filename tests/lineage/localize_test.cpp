// Localised testing at the MLP level (spec 12 E16): an 8-block parent, a child that keeps blocks
// {0, 1, 2, 4, 6, 7} and a random half of each kept MLP's hidden units (in shuffled order), with
// light noise. All-pairs phi_MATCH at threshold 1e-4 must recover exactly that monotone map with
// no false block matches, and the up matching must name the kept units (>= 95 % correct).
#include "lineage/localize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ct::lineage {
namespace {

TEST(LineageLocalize, MonotoneMapPrefersStrongestConsistentPairs) {
  // 3 x 4 matrix: (0,1) and (1,0) both pass but cross; the DP keeps the heavier consistent set.
  const std::vector<double> lp = {-2, -50, -1, -1,
                                  -40, -1, -30, -1,
                                  -1, -1, -1, -60};
  EXPECT_EQ(monotone_block_map(lp, 3, 4, -4.0), (std::vector<int64_t>{1, 2, 3}));
  const std::vector<double> none(12, -1.0);
  EXPECT_EQ(monotone_block_map(none, 3, 4, -4.0), (std::vector<int64_t>{-1, -1, -1}));
}

TEST(LineageLocalize, RecoversPrunedBlocksAndKeptUnits) {
  ExecContext ctx(2);
  const int64_t d = 64, h = 256, n = 256, parent_blocks = 8;
  const std::vector<int64_t> kept_blocks = {0, 1, 2, 4, 6, 7};
  Rng rng(1601);
  const Matrix x = random_gaussian(n, d, 1.0, rng);
  std::vector<Mlp> parent;
  for (int64_t l = 0; l < parent_blocks; ++l) parent.push_back(random_mlp(d, h, rng));
  std::vector<std::vector<int64_t>> kept_units;
  std::vector<Activations> child_acts, parent_acts;
  for (int64_t b : kept_blocks) {
    std::vector<int64_t> perm = random_permutation(h, rng);
    perm.resize(h / 2);
    kept_units.push_back(perm);
    child_acts.push_back(mlp_activations(add_noise(select_hidden(parent[b], perm), 0.1, rng), x, ctx));
  }
  for (const Mlp& m : parent) parent_acts.push_back(mlp_activations(m, x, ctx));

  const Localization loc = localize(child_acts, parent_acts, 1e-4, MatchCost::kAbsCosine, ctx);
  EXPECT_EQ(loc.block_map, kept_blocks);
  for (int64_t i = 0; i < loc.blocks1; ++i) {
    for (int64_t j = 0; j < loc.blocks2; ++j) {
      const double lp = loc.log10_p[i * loc.blocks2 + j];
      if (j == kept_blocks[i]) {
        EXPECT_LT(lp, -4.0);
      } else {
        EXPECT_GE(lp, -4.0) << "false match child " << i << " parent " << j;
      }
    }
  }
  double min_acc = 1.0;
  for (size_t i = 0; i < kept_blocks.size(); ++i) {
    ASSERT_EQ(loc.kept_units[i].size(), kept_units[i].size());
    int64_t correct = 0;
    for (size_t k = 0; k < kept_units[i].size(); ++k) correct += loc.kept_units[i][k] == kept_units[i][k];
    const double acc = static_cast<double>(correct) / static_cast<double>(kept_units[i].size());
    min_acc = std::min(min_acc, acc);
    EXPECT_GE(acc, 0.95) << "block " << i;
  }
  double min_false_lp = 0.0;
  for (int64_t i = 0; i < loc.blocks1; ++i)
    for (int64_t j = 0; j < loc.blocks2; ++j)
      if (j != kept_blocks[i]) min_false_lp = std::min(min_false_lp, loc.log10_p[i * loc.blocks2 + j]);
  std::printf("[localize] map ok=%d, smallest false-pair log10 p %.2f, weakest true-pair log10 p %.1f, "
              "min kept-unit accuracy %.3f\n", loc.block_map == kept_blocks, min_false_lp,
              [&] { double w = -1e300; for (size_t i = 0; i < kept_blocks.size(); ++i) w = std::max(w, loc.log10_p[i * loc.blocks2 + kept_blocks[i]]); return w; }(),
              min_acc);
}

}  // namespace
}  // namespace ct::lineage
