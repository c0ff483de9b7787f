#include "lineage/trace.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "lineage/assignment.h"
#include "lineage/dense.h"
#include "lineage/localize.h"
#include "lineage/pvalues.h"
#include "core/random.h"
#include "lineage/statistics.h"

namespace ct::lineage {
namespace {

// Seed streams (derive_seed(ctx.seed(), stream)).
constexpr uint64_t kInputStream = 1;
constexpr uint64_t kColumnStream = 2;
constexpr uint64_t kRowStreamA = 1000;  // + block index
constexpr uint64_t kRowStreamB = 500000;

// What tracing keeps of one block.
struct Signature {
  Activations main;  // [s, N] input side, [s, N] (GLU up) or [s, d] (plain fc2 columns) output side
  Matrix u_in;       // [s, c] up rows on the phi_u columns
  Matrix u_align;    // [s, c] gate rows (GLU) or fc2 columns (plain) on the phi_u columns
};

Matrix take(const Matrix& m, int64_t rows, int64_t cols) {
  Matrix out(rows, cols);
  for (int64_t i = 0; i < rows; ++i) std::copy(m.row(i), m.row(i) + cols, out.row(i));
  return out;
}

Matrix take_columns(const Matrix& m, const std::vector<int64_t>& cols) {
  Matrix out(m.rows, static_cast<int64_t>(cols.size()));
  for (int64_t i = 0; i < m.rows; ++i)
    for (int64_t k = 0; k < out.cols; ++k) out.at(i, k) = m.at(i, cols[k]);
  return out;
}

Signature signature(const ComponentBlocks& c, int64_t i, const std::vector<int64_t>& residual, int64_t rows,
                    uint64_t row_seed, const Matrix& x, const std::vector<int64_t>& u_cols, const ExecContext& ctx) {
  LoadedBlock lb = load_block(c, i);
  if (!residual.empty()) lb.mlp = permute_residual(lb.mlp, residual);
  if (rows < lb.mlp.hidden()) {
    Rng rng(row_seed);
    std::vector<int64_t> keep = random_permutation(lb.mlp.hidden(), rng);
    keep.resize(rows);
    std::vector<float> bias(rows);
    for (int64_t k = 0; k < rows; ++k) bias[k] = lb.up_bias[keep[k]];
    lb.mlp = select_hidden(lb.mlp, keep);
    lb.up_bias = std::move(bias);
  }
  Signature s;
  const std::vector<float> no_bias;
  if (c.is_glu) {
    s.main.gate = pre_activations(lb.mlp.gate, no_bias, x, ctx);
    s.main.up = pre_activations(lb.mlp.up, lb.up_bias, x, ctx);
    s.u_align = take_columns(lb.mlp.gate, u_cols);
  } else {
    s.main.gate = pre_activations(lb.mlp.up, lb.up_bias, x, ctx);
    s.main.up = transpose(lb.mlp.down);  // [h, d]
    s.u_align = take_columns(s.main.up, u_cols);
  }
  s.u_in = take_columns(lb.mlp.up, u_cols);
  return s;
}

// The localisation tier: first `rows` rows, first `samples` inputs (output side of plain MLPs keeps d).
Activations shrink(const Activations& a, int64_t rows, int64_t samples, bool glu) {
  return Activations{take(a.gate, rows, std::min(samples, a.gate.cols)),
                     take(a.up, rows, glu ? std::min(samples, a.up.cols) : a.up.cols)};
}

double fisher(const std::vector<double>& l) { return l.empty() ? kNoP : fisher_combine(l).log10_p; }

// log10 of min(1, k * 10^l).
double bonferroni(double l, double k) { return std::min(0.0, l + std::log10(k)); }

// Residual alignment of b to a from the anchors (spec 4.6, with a relatedness gate).
std::vector<int64_t> align_residual(const ComponentBlocks& a, const ComponentBlocks& b, const TraceOptions& o,
                                    ComponentTrace& r, const ExecContext& ctx) {
  if (!a.anchor || !b.anchor) {
    r.residual_alignment = "no-anchor";
    return {};
  }
  Matrix ea = load_anchor(a, o.anchor_rows), eb = load_anchor(b, o.anchor_rows);
  const int64_t rows = std::min(ea.rows, eb.rows);
  if (rows < 8) {
    r.residual_alignment = "no-anchor";
    return {};
  }
  ea = take(ea, rows, ea.cols);
  eb = take(eb, rows, eb.cols);
  const Matrix ta = normalize_rows(transpose(ea)), tb = normalize_rows(transpose(eb));  // [d, rows]
  const std::vector<float> sim = gemm_nt(ta, tb, ctx);                                 // [d, d]
  const Assignment asg = solve_assignment(std::span<const float>(sim), ta.rows, tb.rows, Objective::kMaximize);
  r.anchor_cosine = asg.total / static_cast<double>(ta.rows);
  if (r.anchor_cosine < o.anchor_min_cosine) {
    r.residual_alignment = "unrelated-anchors";
    return {};
  }
  bool identity = true;
  for (int64_t k = 0; k < ta.rows; ++k) identity = identity && asg.col_of_row[k] == k;
  r.residual_alignment = identity ? "identity" : "permuted";
  return identity ? std::vector<int64_t>{} : asg.col_of_row;
}

// phi_l2 PERMTEST over whole blocks when every shape agrees and it is cheap; nullopt otherwise.
std::optional<TestResult> l2_test(const ComponentBlocks& a, const ComponentBlocks& b, const std::vector<int64_t>& residual,
                                  const TraceOptions& o, const ExecContext& ctx) {
  if (o.l2_permutations < 1 || a.blocks.size() != b.blocks.size()) return std::nullopt;
  double params = 0;
  for (size_t i = 0; i < a.blocks.size(); ++i) {
    if (a.blocks[i].hidden() != b.blocks[i].hidden()) return std::nullopt;
    params += 3.0 * static_cast<double>(a.blocks[i].hidden()) * static_cast<double>(a.width);
  }
  if (params * static_cast<double>(o.l2_permutations) > o.l2_max_work) return std::nullopt;
  std::vector<Mlp> ma, mb;
  for (size_t i = 0; i < a.blocks.size(); ++i) {
    ma.push_back(load_block(a, static_cast<int64_t>(i)).mlp);
    Mlp m = load_block(b, static_cast<int64_t>(i)).mlp;
    mb.push_back(residual.empty() ? m : permute_residual(m, residual));
  }
  const PermTestResult p = phi_l2_permtest(ma, mb, o.l2_permutations, derive_seed(ctx.seed(), 3), ctx);
  TestResult t;
  t.name = "phi_l2";
  t.log10_p = p.log10_p;
  return t;
}

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kDependent: return "dependent";
    case Verdict::kIndependent: return "independent";
    case Verdict::kInconclusive: return "inconclusive";
  }
  return "inconclusive";
}

Verdict verdict_for(double log10_p, const TraceOptions& o) {
  if (std::isnan(log10_p)) return Verdict::kInconclusive;
  if (log10_p < o.dependent_log10_p) return Verdict::kDependent;
  if (log10_p > o.independent_log10_p) return Verdict::kIndependent;
  return Verdict::kInconclusive;
}

Matrix pre_activations(const Matrix& w, const std::vector<float>& bias, const Matrix& x, const ExecContext& ctx) {
  Matrix out(w.rows, x.rows);  // [h, N]
  out.data = gemm_nt(w, x, ctx);
  if (!bias.empty())
    for (int64_t j = 0; j < w.rows; ++j)
      for (int64_t t = 0; t < x.rows; ++t) out.at(j, t) += bias[j];
  return out;
}

ComponentTrace trace_components(const ComponentBlocks& a, const ComponentBlocks& b, const TraceOptions& o,
                                const ExecContext& ctx) {
  ComponentTrace r;
  r.a = a.component;
  r.b = b.component;
  r.match_class = a.match_class;
  const int64_t la = static_cast<int64_t>(a.blocks.size()), lb = static_cast<int64_t>(b.blocks.size());
  r.blocks_a = la;
  r.blocks_b = lb;
  if (a.width != b.width) {
    r.notes.push_back("residual widths differ (" + std::to_string(a.width) + " vs " + std::to_string(b.width) +
                      "): no shared inputs, not tested");
    r.residual_alignment = "not-applicable";
    return r;
  }
  const int64_t d = a.width;
  const std::vector<int64_t> residual = align_residual(a, b, o, r, ctx);

  // Rows: a subset of the narrower side's units, matched into all units of the other side.
  int64_t sum_a = 0, sum_b = 0, min_a = INT64_MAX, min_b = INT64_MAX;
  for (const auto& blk : a.blocks) sum_a += blk.hidden(), min_a = std::min(min_a, blk.hidden());
  for (const auto& blk : b.blocks) sum_b += blk.hidden(), min_b = std::min(min_b, blk.hidden());
  const bool rows_a = sum_a <= sum_b;
  const int64_t s_main = std::min({o.match_units, min_a, min_b});
  const int64_t s_loc = std::min(o.localize_units, s_main);

  Rng in_rng(derive_seed(ctx.seed(), kInputStream));
  const Matrix x = random_gaussian(o.samples, d, 1.0, in_rng);  // [N, d]
  Rng col_rng(derive_seed(ctx.seed(), kColumnStream));
  std::vector<int64_t> u_cols = random_permutation(d, col_rng);
  u_cols.resize(std::min(o.u_columns, d));

  std::vector<Signature> sa, sb;
  for (int64_t i = 0; i < la; ++i)
    sa.push_back(signature(a, i, {}, rows_a ? s_main : INT64_MAX, derive_seed(ctx.seed(), kRowStreamA + i), x, u_cols, ctx));
  for (int64_t j = 0; j < lb; ++j)
    sb.push_back(signature(b, j, residual, rows_a ? INT64_MAX : s_main, derive_seed(ctx.seed(), kRowStreamB + j), x, u_cols, ctx));
  const std::vector<Signature>& srow = rows_a ? sa : sb;
  const std::vector<Signature>& scol = rows_a ? sb : sa;
  const int64_t l1 = rows_a ? la : lb, l2 = rows_a ? lb : la;

  // All-pairs localisation matrix, in row-side x column-side order.
  std::vector<Activations> loc_row, loc_col;
  for (const auto& s : srow) loc_row.push_back(shrink(s.main, s_loc, o.localize_samples, a.is_glu));
  for (const auto& s : scol) loc_col.push_back(shrink(s.main, s.main.gate.rows, o.localize_samples, a.is_glu));
  std::vector<double> loc(static_cast<size_t>(l1 * l2));
  for (int64_t i = 0; i < l1; ++i)
    for (int64_t j = 0; j < l2; ++j) loc[i * l2 + j] = fast_phi_match(loc_row[i], loc_col[j], ctx).test.log10_p_one_sided;
  const std::vector<int64_t> map = monotone_block_map(loc, l1, l2, std::log10(o.localize_threshold));
  r.block_log10_p.assign(static_cast<size_t>(la * lb), 0.0);
  for (int64_t i = 0; i < l1; ++i)
    for (int64_t j = 0; j < l2; ++j) r.block_log10_p[rows_a ? i * lb + j : j * lb + i] = loc[i * l2 + j];
  for (int64_t i = 0; i < l1; ++i) {
    if (map[i] < 0) continue;
    const BlockLink link{rows_a ? i : map[i], rows_a ? map[i] : i, loc[i * l2 + map[i]]};
    r.block_map.push_back(link);
  }
  std::sort(r.block_map.begin(), r.block_map.end(), [](const BlockLink& x1, const BlockLink& x2) { return x1.a < x2.a; });

  // Block pairs under test (row-side index, column-side index) and the Bonferroni factor.
  std::vector<std::pair<int64_t, int64_t>> pairs;
  double factor = 1.0;
  if (l1 == l2) {
    for (int64_t i = 0; i < l1; ++i) pairs.emplace_back(i, i);
  } else if (l1 < l2) {
    factor = static_cast<double>(l2);
    for (int64_t i = 0; i < l1; ++i)
      pairs.emplace_back(i, std::min_element(loc.begin() + i * l2, loc.begin() + (i + 1) * l2) - (loc.begin() + i * l2));
  } else {
    factor = static_cast<double>(l1);
    for (int64_t j = 0; j < l2; ++j) {
      int64_t best = 0;
      for (int64_t i = 1; i < l1; ++i) best = loc[i * l2 + j] < loc[best * l2 + j] ? i : best;
      pairs.emplace_back(best, j);
    }
  }
  TestResult tm{"phi_match", kNoP, {}, {}}, tu{"phi_u", kNoP, {}, {}};
  for (const auto& [i, j] : pairs) {
    const BlockPair bp{rows_a ? i : j, rows_a ? j : i};
    const MatchStatistic m = fast_phi_match(srow[i].main, scol[j].main, ctx);
    tm.per_block.push_back(bonferroni(m.test.log10_p_one_sided, factor));
    tm.blocks.push_back(bp);
    // phi_u: align the column side's units to the row side's by the other projection, then test up rows.
    const std::vector<int64_t> unit_map =
        fast_match_rows(srow[i].u_align, scol[j].u_align, a.is_glu ? Similarity::kCosine : Similarity::kAbsCosine, ctx);
    const Matrix aligned_up = select_rows(scol[j].u_in, unit_map);
    const SpearmanResult u = spearman_vs_identity(fast_match_rows(srow[i].u_in, aligned_up, Similarity::kCosine, ctx));
    tu.per_block.push_back(bonferroni(u.log10_p_one_sided, factor));
    tu.blocks.push_back(bp);
  }
  tm.log10_p = fisher(tm.per_block);
  tu.log10_p = fisher(tu.per_block);
  r.tests.push_back(tm);
  r.tests.push_back(tu);
  if (auto l2t = l2_test(a, b, residual, o, ctx)) r.tests.push_back(*l2t);
  if (s_main < std::max(min_a, min_b)) {
    r.notes.push_back("phi_match matched " + std::to_string(s_main) + " sampled units per block against all units of the other model");
  }

  double best = 0.0;
  for (const auto& t : r.tests) best = std::min(best, t.log10_p);
  r.log10_p = bonferroni(best, static_cast<double>(r.tests.size()));
  r.verdict = verdict_for(r.log10_p, o);
  return r;
}

PairTrace trace_pair(const std::vector<ComponentBlocks>& a, const std::vector<ComponentBlocks>& b,
                     const TraceOptions& o, const ExecContext& ctx) {
  PairTrace p;
  double best = 0.0;
  int64_t tested = 0;
  for (const auto& ca : a) {
    for (const auto& cb : b) {
      if (!comparable(ca, cb)) continue;
      p.components.push_back(trace_components(ca, cb, o, ctx));
      const double l = p.components.back().log10_p;
      if (!std::isnan(l)) best = std::min(best, l), ++tested;
    }
  }
  if (p.components.empty()) {
    p.notes.push_back("no comparable components (language models, CLIP vision towers and BERT-like stacks are compared with their own kind)");
    return p;
  }
  if (tested == 0) {
    p.notes.push_back("no component pair could be tested");
    return p;
  }
  p.log10_p = bonferroni(best, static_cast<double>(tested));
  p.verdict = verdict_for(p.log10_p, o);
  return p;
}

}  // namespace ct::lineage
