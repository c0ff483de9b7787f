// Localised testing (specs/model-tracing.md section 6): which blocks of model 1 came from which
// blocks of model 2, and which hidden units were kept when a block was pruned.
//
// All-pairs phi_MATCH over cached per-block activations gives an [L1, L2] matrix of log10 p.
// Pairs with p below the threshold (1e-4 in the paper) are candidates; the block map is the
// monotone one (i < i' implies j < j') that maximises the summed evidence -log10 p over its pairs,
// found by dynamic programming (an LCS-style table), instead of the repo's greedy scan. A block of
// model 1 with no partner maps to -1. For every matched pair the up-activation matching is the
// kept-unit map: unit k of model 1 came from unit kept_units[i][k] of model 2.
//
// Model 1 is the smaller side (the pruned child): its blocks' hidden widths must not exceed model
// 2's. Ties in the DP prefer skipping model 2's block, then model 1's, so the map is deterministic.
// Thread-safety: pure; uses ctx for the matching. Failure: InputError on mismatched input widths.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/exec_context.h"
#include "lineage/mlp.h"
#include "lineage/statistics.h"

namespace ct::lineage {

struct Localization {
  int64_t blocks1 = 0, blocks2 = 0;
  std::vector<double> log10_p;                   // [blocks1, blocks2] one-sided phi_MATCH
  std::vector<int64_t> block_map;                // [blocks1] block of model 2, or -1
  std::vector<std::vector<int64_t>> kept_units;  // [blocks1][h1_i], empty where unmatched
};

// Monotone map from [L1, L2] log10 p values: maximises sum(-log10 p) over pairs below threshold.
std::vector<int64_t> monotone_block_map(std::span<const double> log10_p, int64_t l1, int64_t l2,
                                        double log10_threshold);

// acts1[i]: activations of model 1's block i, acts2[j] of model 2's block j, all on the same inputs.
Localization localize(std::span<const Activations> acts1, std::span<const Activations> acts2,
                      double threshold, MatchCost cost, const ExecContext& ctx);

}  // namespace ct::lineage
