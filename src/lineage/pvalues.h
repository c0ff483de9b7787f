// Log-space p-values for model tracing (specs/model-tracing.md sections 3.2-3.4).
//
// Every p-value is carried as log10 p, computed without ever forming p itself when p is tiny: at
// n = 11008 a Spearman rho of 0.9 gives log10 p = -3971.39, far below the smallest double. The
// special functions (regularised incomplete beta by continued fraction, regularised incomplete
// gamma by series / continued fraction) are evaluated as logarithms of their prefactor and
// fraction, so nothing underflows.
//
// - SPEARMAN: rho from two matchings or rankings, then the Student-t approximation with n - 2
//   degrees of freedom; one-sided (upper tail, the paper's Algorithm 3) and two-sided (scipy's
//   spearmanr, the repo) p. |rho| = 1 has no t-tail (t is infinite): the result is flagged and the
//   p-value set to the exact permutation-null floor, 1/n! one-sided (2/n! two-sided).
// - FISHER: X = -2 sum ln p_i ~ chi-square with 2k degrees of freedom; NaN inputs are skipped.
// - PERMTEST p-value: p = (1 + #{phi_t >= phi_0}) / (T + 1) (ties count against detection, so the
//   test stays valid; the paper's randomised tie-break is not used).
//
// Thread-safety: pure functions. Failure: InputError for impossible arguments (n < 3, negative
// degrees of freedom, length mismatch), named in the message.
#pragma once

#include <cstdint>
#include <span>

namespace ct::lineage {

inline constexpr double kLn10 = 2.302585092994045684;

// ln I_x(a, b), the regularised incomplete beta, with y = 1 - x given separately so that x near 1
// keeps its precision. a, b > 0; 0 <= x <= 1.
double log_beta_inc(double a, double b, double x, double y);
// ln Q(a, x) and ln P(a, x), the regularised upper and lower incomplete gamma. a > 0, x >= 0.
double log_gamma_q(double a, double x);
double log_gamma_p(double a, double x);

// log10 P(T_nu > t) for Student's t with nu > 0 degrees of freedom.
double log10_t_sf(double t, double nu);
// log10 P(|T_nu| > |t|).
double log10_t_two_sided(double t, double nu);
// log10 P(chi2_k > x).
double log10_chi2_sf(double x, double k);

struct SpearmanResult {
  int64_t n = 0;
  double rho = 0.0;
  double t = 0.0;                     // +-inf when |rho| = 1
  double log10_p_one_sided = 0.0;     // upper tail: small when rho is large and positive
  double log10_p_two_sided = 0.0;
  bool at_floor = false;              // |rho| = 1: p-values are the 1/n! permutation floor
};

// The test from a known rho over n >= 3 pairs.
SpearmanResult spearman_from_rho(double rho, int64_t n);
// Spearman correlation of two equally long vectors (matchings, rankings): each is rank-transformed
// (average ranks for ties), so injective maps into a larger index set are handled. Constant input
// gives rho = 0 (no information), not NaN.
SpearmanResult spearman(std::span<const int64_t> a, std::span<const int64_t> b);
SpearmanResult spearman(std::span<const double> a, std::span<const double> b);
// Spearman of a matching against the identity 0..n-1 (phi_U, phi_H).
SpearmanResult spearman_vs_identity(std::span<const int64_t> matching);

struct FisherResult {
  double log10_p = 0.0;    // NaN when no input was usable
  double statistic = 0.0;  // X = -2 sum ln p_i
  int64_t used = 0;        // inputs that were not NaN
};
// Fisher's method over log10 p-values.
FisherResult fisher_combine(std::span<const double> log10_p);

struct PermTestResult {
  double p = 1.0;
  double log10_p = 0.0;
  int64_t at_least_as_extreme = 0;  // #{t : phi_t >= phi_0}
  int64_t num_perm = 0;             // T
};
// Larger phi means "more similar". p = (1 + #{phi_perm >= phi_obs}) / (T + 1).
PermTestResult permutation_p_value(double phi_obs, std::span<const double> phi_perm);

}  // namespace ct::lineage
