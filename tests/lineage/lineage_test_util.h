// Helpers shared by the lineage tests: KS distance against U(0, 1) and a chi-square statistic.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace ct::lineage::testing {

// Kolmogorov-Smirnov distance between the empirical CDF of `p` and U(0, 1).
inline double ks_uniform(std::vector<double> p) {
  std::sort(p.begin(), p.end());
  const double n = static_cast<double>(p.size());
  double d = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    d = std::max({d, (i + 1) / n - p[i], p[i] - i / n});
  }
  return d;
}

inline double fraction_below(const std::vector<double>& p, double alpha) {
  double c = 0;
  for (double v : p) c += v < alpha;
  return c / static_cast<double>(p.size());
}

// 5 % critical value of the one-sample KS distance (asymptotic, 1.358 / sqrt(n)).
inline double ks_critical_5pct(size_t n) { return 1.358 / std::sqrt(static_cast<double>(n)); }

}  // namespace ct::lineage::testing
