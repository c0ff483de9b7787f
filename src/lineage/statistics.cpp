#include "lineage/statistics.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "lineage/assignment.h"
#include "core/random.h"

namespace ct::lineage {
namespace {

double dot_f64(const double* a, const double* b, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;  // fixed summation order
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += a[k] * b[k];
    s1 += a[k + 1] * b[k + 1];
    s2 += a[k + 2] * b[k + 2];
    s3 += a[k + 3] * b[k + 3];
  }
  for (; k < n; ++k) s0 += a[k] * b[k];
  return (s0 + s1) + (s2 + s3);
}

// Rows widened to f64; normalised to unit length when `normalise` (zero rows stay zero).
std::vector<double> widen_rows(const Matrix& m, bool normalise, std::vector<double>& sq_norms) {
  std::vector<double> out(m.data.begin(), m.data.end());
  sq_norms.assign(m.rows, 0.0);
  for (int64_t i = 0; i < m.rows; ++i) {
    double* r = out.data() + i * m.cols;
    sq_norms[i] = dot_f64(r, r, m.cols);
    if (normalise && sq_norms[i] > 0.0) {
      const double inv = 1.0 / std::sqrt(sq_norms[i]);
      for (int64_t k = 0; k < m.cols; ++k) r[k] *= inv;
    }
  }
  return out;
}

}  // namespace

std::vector<double> similarity_matrix(const Matrix& a, const Matrix& b, Similarity s,
                                      const ExecContext& ctx) {
  if (a.cols != b.cols) {
    throw InputError("similarity", "rows of different lengths: " + std::to_string(a.cols) +
                                       " and " + std::to_string(b.cols));
  }
  const bool cosine = s != Similarity::kSquaredEuclidean;
  std::vector<double> na, nb;
  const std::vector<double> wa = widen_rows(a, cosine, na), wb = widen_rows(b, cosine, nb);
  std::vector<double> out(static_cast<size_t>(a.rows * b.rows));  // [a.rows, b.rows]
  ctx.parallel_for(a.rows, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const double* ra = wa.data() + i * a.cols;
      for (int64_t j = 0; j < b.rows; ++j) {
        const double dp = dot_f64(ra, wb.data() + j * b.cols, a.cols);
        double v = dp;
        if (s == Similarity::kAbsCosine) v = std::abs(dp);
        if (s == Similarity::kSquaredEuclidean) v = std::max(0.0, na[i] + nb[j] - 2.0 * dp);
        out[i * b.rows + j] = v;
      }
    }
  });
  return out;
}

std::vector<int64_t> match_rows(const Matrix& a, const Matrix& b, Similarity s, const ExecContext& ctx) {
  if (a.rows > b.rows) {
    throw InputError("match", "expected side a to have at most as many rows as side b, found " +
                                  std::to_string(a.rows) + " > " + std::to_string(b.rows) +
                                  " (put the smaller model first)");
  }
  const std::vector<double> sim = similarity_matrix(a, b, s, ctx);
  const Objective obj = s == Similarity::kSquaredEuclidean ? Objective::kMinimize : Objective::kMaximize;
  return solve_assignment(sim, a.rows, b.rows, obj).col_of_row;
}

SpearmanResult phi_u(const Matrix& up1, const Matrix& up2, const ExecContext& ctx) {
  return spearman_vs_identity(match_rows(up1, up2, Similarity::kCosine, ctx));
}

SpearmanResult phi_h(const Matrix& up_act1, const Matrix& up_act2, const ExecContext& ctx) {
  return spearman_vs_identity(match_rows(up_act1, up_act2, Similarity::kCosine, ctx));
}

MatchStatistic phi_match(const Activations& a, const Activations& b, MatchCost cost,
                         const ExecContext& ctx) {
  const bool abs_cos = cost == MatchCost::kAbsCosine;
  MatchStatistic r;
  r.gate_match = match_rows(a.gate, b.gate, abs_cos ? Similarity::kCosine : Similarity::kSquaredEuclidean, ctx);
  r.up_match = match_rows(a.up, b.up, abs_cos ? Similarity::kAbsCosine : Similarity::kSquaredEuclidean, ctx);
  r.test = spearman(r.gate_match, r.up_match);
  return r;
}

FisherResult fisher_over_blocks(std::span<const SpearmanResult> blocks, bool two_sided) {
  std::vector<double> l;
  for (const auto& b : blocks) l.push_back(two_sided ? b.log10_p_two_sided : b.log10_p_one_sided);
  return fisher_combine(l);
}

double phi_l2(std::span<const Mlp> a, std::span<const Mlp> b) {
  if (a.size() != b.size() || a.empty()) throw InputError("phi_l2", "models differ in block count");
  double total = 0.0;
  int64_t tensors = 0;
  for (size_t l = 0; l < a.size(); ++l) {
    const Matrix* ta[3] = {&a[l].gate, &a[l].up, &a[l].down};
    const Matrix* tb[3] = {&b[l].gate, &b[l].up, &b[l].down};
    for (int k = 0; k < 3; ++k) {
      if (ta[k]->rows != tb[k]->rows || ta[k]->cols != tb[k]->cols) {
        throw InputError("phi_l2", "block " + std::to_string(l) + ": tensor shapes differ");
      }
      double s = 0.0;
      for (size_t e = 0; e < ta[k]->data.size(); ++e) {
        const double d = static_cast<double>(ta[k]->data[e]) - tb[k]->data[e];
        s += d * d;
      }
      total += std::sqrt(s);
      ++tensors;
    }
  }
  return -total / static_cast<double>(tensors);
}

PermTestResult phi_l2_permtest(std::span<const Mlp> a, std::span<const Mlp> b, int64_t num_perm,
                               uint64_t seed, const ExecContext& ctx) {
  if (num_perm < 1) throw InputError("phi_l2_permtest", "expected T >= 1 permutations");
  const double phi0 = phi_l2(a, b);
  std::vector<double> phis(num_perm);
  ctx.parallel_for(num_perm, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      Rng rng(derive_seed(seed, static_cast<uint64_t>(t)));
      const std::vector<int64_t> res = random_permutation(a[0].width(), rng);
      std::vector<Mlp> permuted;
      for (const Mlp& m : a) {
        const std::vector<int64_t> hid = random_permutation(m.hidden(), rng);
        permuted.push_back(permute_hidden(permute_residual(m, res), hid));
      }
      phis[t] = phi_l2(permuted, b);
    }
  });
  return permutation_p_value(phi0, phis);
}

Alignment align(const Matrix& emb1, const Matrix& emb2, std::span<const Mlp> blocks1,
                std::span<const Mlp> blocks2, const ExecContext& ctx) {
  if (emb1.rows != emb2.rows || emb1.cols != emb2.cols || blocks1.size() != blocks2.size()) {
    throw InputError("align", "models differ in embedding shape or block count");
  }
  Alignment r;
  // Residual coordinate k of model 1 is the column k of E1 (a V-vector); find model 2's nearest.
  r.residual = match_rows(transpose(emb1), transpose(emb2), Similarity::kSquaredEuclidean, ctx);
  for (size_t l = 0; l < blocks1.size(); ++l) {
    check_mlp(blocks1[l], "align");
    const Mlp res_aligned = permute_residual(blocks2[l], r.residual);
    if (res_aligned.hidden() != blocks1[l].hidden()) {
      throw InputError("align", "block " + std::to_string(l) + ": hidden widths differ");
    }
    r.hidden.push_back(match_rows(blocks1[l].gate, res_aligned.gate, Similarity::kSquaredEuclidean, ctx));
    r.blocks.push_back(permute_hidden(res_aligned, r.hidden.back()));
  }
  return r;
}

}  // namespace ct::lineage
