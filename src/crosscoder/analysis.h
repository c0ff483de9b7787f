// Model-diffing statistics of a crosscoder (specs/crosscoders.md section 9).
//
// - FVE per source, dataset level: 1 - sum ||x - x_hat||^2 / sum ||x - mean||^2 over the evaluation
//   rows (computed in the normalised space the model works in; FVE is invariant to the per-source
//   scale). L0 in training (batch) mode and in threshold mode; dead fraction = latents that never
//   fire (inference mode) over the N evaluation rows.
// - Per latent (M = 2): decoder norms, r = |d_B| / (|d_A| + |d_B|), delta-norm (Minder), cosine
//   (equal widths only, else NaN), frequency, bin: "dead", "shared" (0.3 < r < 0.7), "<A>-only"
//   (r < 0.2), "<B>-only" (r > 0.8), "other". Norms are taken in the normalised space.
// - Latent Scaling (Minder et al.): for candidate latents, beta = sum f (d . y) / (|d|^2 sum f^2)
//   with the owner's decoder direction d, error target y = x^m - x_hat^m + f d_j^m and
//   reconstruction target y = x_hat^m; nu = beta(other) / beta(owner).
//
// Ownership: results are values. Thread-safety: re-entrant. Failure: InputError when the source's
// widths differ from the crosscoder's, or Latent Scaling is asked with unequal widths.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "crosscoder/trainer.h"

namespace ct::crosscoder {

constexpr double kSharedLow = 0.3, kSharedHigh = 0.7, kExclusiveLow = 0.2, kExclusiveHigh = 0.8;

struct LatentStats {
  double norm_a = 0, norm_b = 0, r = 0.5, delta_norm = 0.5, cosine = 0, frequency = 0;
  std::string bin;
};

struct AnalysisResult {
  std::vector<double> fve;            // [M]
  double l0_train = 0, l0_threshold = 0;
  double dead_fraction = 0;
  int64_t eval_rows = 0;
  std::vector<LatentStats> latents;   // [F]
  std::vector<int64_t> r_histogram;   // 20 bins over [0, 1], dead excluded
  std::vector<std::pair<std::string, int64_t>> bin_counts;
};

// Relative norm r and Minder's delta-norm from two decoder norms.
double relative_norm(double norm_a, double norm_b);
double delta_norm(double norm_a, double norm_b);
// Bin of a latent from r (M = 2), or "dead".
std::string bin_of(double r, bool dead, const std::string& name_a, const std::string& name_b);

// Evaluates over rows [0, rows) of `raw` (raw activations; the model's norm scales are applied).
AnalysisResult analyze(const Crosscoder& model, const RowSource& raw, int64_t rows, int64_t batch,
                       const ExecContext& ctx);

// Closed-form least-squares coefficient, accumulated in one streaming pass.
struct BetaAccumulator {
  double num = 0, den = 0;
  void add(double f, double d_dot_y) {
    num += f * d_dot_y;
    den += f * f;
  }
  double beta(double d_norm2) const { return den > 0 && d_norm2 > 0 ? num / (d_norm2 * den) : 0.0; }
};

struct LatentScaling {
  int64_t latent = 0;
  int owner = 1;                       // source whose decoder direction is used
  std::vector<double> beta_error;      // [M]
  std::vector<double> beta_recon;      // [M]
  double nu_error = 0, nu_recon = 0;   // beta(other) / beta(owner), M = 2
};

// The `n_top` rows of [0, rows) with the largest activation of each latent (inference mode), per
// latent in descending value (ties: lower row first). result [F][<= n_top].
struct TopActivation {
  int64_t row = 0;
  double value = 0;
};
std::vector<std::vector<TopActivation>> top_activations(const Crosscoder& model, const RowSource& raw, int64_t rows,
                                                        int64_t batch, int64_t n_top, const ExecContext& ctx);

// Latent Scaling for `latents` (owner: 0 for A-leaning, 1 for B-leaning by r).
std::vector<LatentScaling> latent_scaling(const Crosscoder& model, const RowSource& raw, int64_t rows,
                                          int64_t batch, const std::vector<int64_t>& latents,
                                          const ExecContext& ctx);

}  // namespace ct::crosscoder
