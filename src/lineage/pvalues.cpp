// Special functions in log space. The continued fractions are evaluated with the modified Lentz
// method; prefactors x^a y^b / B(a, b) and e^-x x^a / Gamma(a) are summed as logarithms, which is
// what keeps p-values of 1e-4000 finite.
#include "lineage/pvalues.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"

namespace ct::lineage {
namespace {

constexpr double kEps = 1e-16;
constexpr double kTiny = 1e-300;
constexpr int kMaxIter = 200000;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double log_beta_fn(double a, double b) { return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b); }

// Continued fraction of I_x(a, b) (converges fast for x < (a + 1) / (a + b + 2)).
double beta_cf(double a, double b, double x) {
  const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0;
  double d = 1.0 - qab * x / qap;
  if (std::abs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= kMaxIter; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::abs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::abs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::abs(del - 1.0) < kEps) return h;
  }
  CT_CHECK(false, "incomplete beta continued fraction did not converge");
  return h;
}

// ln of x given both x and y = 1 - x: whichever is more precise.
double log_of(double x, double y) { return x > 0.5 ? std::log1p(-y) : std::log(x); }

// ln I_x(a, b) in the region where the fraction converges directly.
double log_beta_direct(double a, double b, double x, double y) {
  return a * log_of(x, y) + b * log_of(y, x) - log_beta_fn(a, b) - std::log(a) +
         std::log(beta_cf(a, b, x));
}

double log1m_exp(double l) {  // ln(1 - e^l), l <= 0
  return l > -0.693147 ? std::log(-std::expm1(l)) : std::log1p(-std::exp(l));
}

// Average ranks (0-based) of `v`; ties share the mean of their positions.
std::vector<double> average_ranks(std::span<const double> v, bool& has_ties) {
  const size_t n = v.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(n);
  has_ties = false;
  for (size_t s = 0; s < n;) {
    size_t e = s + 1;
    while (e < n && v[order[e]] == v[order[s]]) ++e;
    if (e - s > 1) has_ties = true;
    const double r = 0.5 * static_cast<double>(s + e - 1);
    for (size_t k = s; k < e; ++k) rank[order[k]] = r;
    s = e;
  }
  return rank;
}

}  // namespace

double log_beta_inc(double a, double b, double x, double y) {
  if (!(a > 0.0) || !(b > 0.0) || x < 0.0 || y < 0.0) {
    throw InputError("incomplete beta", "expected a, b > 0 and 0 <= x <= 1, found a=" +
                                            std::to_string(a) + " b=" + std::to_string(b) +
                                            " x=" + std::to_string(x));
  }
  if (x <= 0.0) return kNegInf;
  if (y <= 0.0) return 0.0;
  if (x < (a + 1.0) / (a + b + 2.0)) return log_beta_direct(a, b, x, y);
  return log1m_exp(log_beta_direct(b, a, y, x));
}

double log_gamma_p(double a, double x) {
  if (!(a > 0.0) || x < 0.0) throw InputError("incomplete gamma", "expected a > 0 and x >= 0");
  if (x == 0.0) return kNegInf;
  if (std::isinf(x)) return 0.0;
  if (x >= a + 1.0) return log1m_exp(log_gamma_q(a, x));
  double term = 1.0 / a, sum = term;
  for (int n = 1; n <= kMaxIter; ++n) {
    term *= x / (a + n);
    sum += term;
    if (term < sum * kEps) break;
  }
  return -x + a * std::log(x) - std::lgamma(a) + std::log(sum);
}

double log_gamma_q(double a, double x) {
  if (!(a > 0.0) || x < 0.0) throw InputError("incomplete gamma", "expected a > 0 and x >= 0");
  if (x == 0.0) return 0.0;
  if (std::isinf(x)) return kNegInf;
  if (x < a + 1.0) return log1m_exp(log_gamma_p(a, x));
  double b = x + 1.0 - a;
  double c = 1.0 / kTiny, d = 1.0 / b, h = d;
  for (int i = 1; i <= kMaxIter; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::abs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::abs(del - 1.0) < kEps) break;
  }
  return -x + a * std::log(x) - std::lgamma(a) + std::log(h);
}

double log10_t_sf(double t, double nu) {
  if (!(nu > 0.0)) throw InputError("student t", "expected nu > 0");
  if (t == 0.0) return std::log10(0.5);
  const double t2 = t * t;
  const double x = nu / (nu + t2), y = std::isinf(t2) ? 1.0 : t2 / (nu + t2);
  const double lbi = log_beta_inc(0.5 * nu, 0.5, x, y);  // ln P(|T| > |t|)
  if (t > 0.0) return (std::log(0.5) + lbi) / kLn10;
  return std::log1p(-0.5 * std::exp(lbi)) / kLn10;
}

double log10_t_two_sided(double t, double nu) {
  if (!(nu > 0.0)) throw InputError("student t", "expected nu > 0");
  const double t2 = t * t;
  const double x = nu / (nu + t2), y = std::isinf(t2) ? 1.0 : t2 / (nu + t2);
  return log_beta_inc(0.5 * nu, 0.5, x, y) / kLn10;
}

double log10_chi2_sf(double x, double k) {
  if (!(k > 0.0)) throw InputError("chi-square", "expected k > 0 degrees of freedom");
  return log_gamma_q(0.5 * k, 0.5 * std::max(x, 0.0)) / kLn10;
}

SpearmanResult spearman_from_rho(double rho, int64_t n) {
  if (n < 3) throw InputError("spearman", "expected n >= 3 pairs, found " + std::to_string(n));
  if (!(std::abs(rho) <= 1.0 + 1e-12)) {
    throw InputError("spearman", "expected rho in [-1, 1], found " + std::to_string(rho));
  }
  SpearmanResult r;
  r.n = n;
  r.rho = std::clamp(rho, -1.0, 1.0);
  const double nu = static_cast<double>(n - 2);
  const double log10_nfact = std::lgamma(static_cast<double>(n) + 1.0) / kLn10;
  if (r.rho >= 1.0 || r.rho <= -1.0) {
    r.at_floor = true;
    r.t = r.rho > 0 ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
    r.log10_p_one_sided = r.rho > 0 ? -log10_nfact : 0.0;
    r.log10_p_two_sided = std::log10(2.0) - log10_nfact;
    return r;
  }
  // With t = rho sqrt(nu / (1 - rho^2)), nu / (nu + t^2) is exactly 1 - rho^2: use it directly.
  const double x = (1.0 - r.rho) * (1.0 + r.rho), y = r.rho * r.rho;
  r.t = r.rho * std::sqrt(nu / x);
  const double lbi = log_beta_inc(0.5 * nu, 0.5, x, y);
  r.log10_p_two_sided = lbi / kLn10;
  if (r.rho > 0.0) {
    r.log10_p_one_sided = (std::log(0.5) + lbi) / kLn10;
  } else if (r.rho < 0.0) {
    r.log10_p_one_sided = std::log1p(-0.5 * std::exp(lbi)) / kLn10;
  } else {
    r.log10_p_one_sided = std::log10(0.5);
  }
  return r;
}

SpearmanResult spearman(std::span<const double> a, std::span<const double> b) {
  if (a.size() != b.size()) {
    throw InputError("spearman", "expected equal lengths, found " + std::to_string(a.size()) +
                                     " and " + std::to_string(b.size()));
  }
  const int64_t n = static_cast<int64_t>(a.size());
  if (n < 3) throw InputError("spearman", "expected n >= 3 pairs, found " + std::to_string(n));
  bool ties_a = false, ties_b = false;
  const std::vector<double> ra = average_ranks(a, ties_a), rb = average_ranks(b, ties_b);
  double rho = 0.0;
  if (!ties_a && !ties_b) {
    // Integer ranks: sum of squared differences is exact, so rho = 1 exactly on perfect recovery.
    int64_t sum_d2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t d = static_cast<int64_t>(ra[i]) - static_cast<int64_t>(rb[i]);
      sum_d2 += d * d;
    }
    const double nn = static_cast<double>(n);
    rho = 1.0 - 6.0 * static_cast<double>(sum_d2) / (nn * (nn * nn - 1.0));
  } else {
    const double mean = 0.5 * static_cast<double>(n - 1);  // average ranks keep the mean
    double sab = 0.0, saa = 0.0, sbb = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double da = ra[i] - mean, db = rb[i] - mean;
      sab += da * db;
      saa += da * da;
      sbb += db * db;
    }
    rho = (saa > 0.0 && sbb > 0.0) ? sab / std::sqrt(saa * sbb) : 0.0;
  }
  return spearman_from_rho(rho, n);
}

SpearmanResult spearman(std::span<const int64_t> a, std::span<const int64_t> b) {
  std::vector<double> da(a.begin(), a.end()), db(b.begin(), b.end());
  return spearman(std::span<const double>(da), std::span<const double>(db));
}

SpearmanResult spearman_vs_identity(std::span<const int64_t> matching) {
  std::vector<int64_t> id(matching.size());
  std::iota(id.begin(), id.end(), int64_t{0});
  return spearman(matching, std::span<const int64_t>(id));
}

FisherResult fisher_combine(std::span<const double> log10_p) {
  FisherResult r;
  double sum = 0.0;
  for (double l : log10_p) {
    if (std::isnan(l)) continue;
    if (l > 0.0) throw InputError("fisher", "expected log10 p <= 0, found " + std::to_string(l));
    sum += l;
    ++r.used;
  }
  if (r.used == 0) {
    r.log10_p = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  r.statistic = -2.0 * kLn10 * sum;
  r.log10_p = log_gamma_q(static_cast<double>(r.used), 0.5 * r.statistic) / kLn10;
  return r;
}

PermTestResult permutation_p_value(double phi_obs, std::span<const double> phi_perm) {
  if (std::isnan(phi_obs)) throw InputError("permutation test", "observed statistic is NaN");
  PermTestResult r;
  r.num_perm = static_cast<int64_t>(phi_perm.size());
  for (double phi : phi_perm) {
    if (std::isnan(phi)) throw InputError("permutation test", "a permuted statistic is NaN");
    if (phi >= phi_obs) ++r.at_least_as_extreme;
  }
  r.p = static_cast<double>(1 + r.at_least_as_extreme) / static_cast<double>(r.num_perm + 1);
  r.log10_p = std::log10(r.p);
  return r;
}

}  // namespace ct::lineage
