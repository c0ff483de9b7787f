#include "lineage/localize.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace ct::lineage {

std::vector<int64_t> monotone_block_map(std::span<const double> log10_p, int64_t l1, int64_t l2,
                                        double log10_threshold) {
  CT_CHECK(static_cast<int64_t>(log10_p.size()) == l1 * l2, "block matrix size");
  // best[(i + 1) * (l2 + 1) + (j + 1)]: best evidence using blocks <= i of model 1 and <= j of 2.
  std::vector<double> best(static_cast<size_t>((l1 + 1) * (l2 + 1)), 0.0);
  auto at = [&](int64_t i, int64_t j) -> double& { return best[(i + 1) * (l2 + 1) + (j + 1)]; };
  for (int64_t i = 0; i < l1; ++i) {
    for (int64_t j = 0; j < l2; ++j) {
      double v = std::max(at(i, j - 1), at(i - 1, j));
      const double lp = log10_p[i * l2 + j];
      if (lp < log10_threshold) v = std::max(v, at(i - 1, j - 1) - lp);
      at(i, j) = v;
    }
  }
  std::vector<int64_t> map(l1, -1);
  for (int64_t i = l1 - 1, j = l2 - 1; i >= 0 && j >= 0;) {
    if (at(i, j) == at(i, j - 1)) {
      --j;
    } else if (at(i, j) == at(i - 1, j)) {
      --i;
    } else {
      map[i] = j;
      --i;
      --j;
    }
  }
  return map;
}

Localization localize(std::span<const Activations> acts1, std::span<const Activations> acts2,
                      double threshold, MatchCost cost, const ExecContext& ctx) {
  Localization r;
  r.blocks1 = static_cast<int64_t>(acts1.size());
  r.blocks2 = static_cast<int64_t>(acts2.size());
  r.log10_p.assign(static_cast<size_t>(r.blocks1 * r.blocks2), 0.0);
  std::vector<std::vector<int64_t>> up_matches(static_cast<size_t>(r.blocks1 * r.blocks2));
  for (int64_t i = 0; i < r.blocks1; ++i) {
    for (int64_t j = 0; j < r.blocks2; ++j) {
      if (acts1[i].gate.cols != acts2[j].gate.cols) {
        throw InputError("localize", "blocks " + std::to_string(i) + " and " + std::to_string(j) +
                                         " were fed different numbers of inputs");
      }
      MatchStatistic m = phi_match(acts1[i], acts2[j], cost, ctx);
      r.log10_p[i * r.blocks2 + j] = m.test.log10_p_one_sided;
      up_matches[i * r.blocks2 + j] = std::move(m.up_match);
    }
  }
  r.block_map = monotone_block_map(r.log10_p, r.blocks1, r.blocks2, std::log10(threshold));
  r.kept_units.resize(r.blocks1);
  for (int64_t i = 0; i < r.blocks1; ++i) {
    if (r.block_map[i] >= 0) r.kept_units[i] = up_matches[i * r.blocks2 + r.block_map[i]];
  }
  return r;
}

}  // namespace ct::lineage
