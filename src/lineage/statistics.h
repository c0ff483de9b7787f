// The constrained and unconstrained independence statistics of specs/model-tracing.md sections
// 3-5, over plain f32 matrices (lineage/mlp.h) until the forward engine exists:
//
// - MATCH: similarity of every row pair (f64: cosine, |cosine|, squared Euclidean), then an exact
//   LAP; the result maps each row of the smaller side to a distinct row of the other.
// - phi_U (4.2): MATCH of up-projection rows, cosine, maximised; Spearman against the identity.
// - phi_H (4.3): the same over up-projection activations U x on shared inputs ([h, N]).
// - phi_MATCH (5.1): Spearman between MATCH of gate activations and MATCH of up activations.
//   kAbsCosine (recommended, 5.3) matches gates on cosine and ups on |cosine|, which survives
//   per-unit rescaling of any sign; kEuclidean is the repo's squared-Euclidean parity cost, which
//   fails for negative scales.
// - phi_l2 with PERMTEST (4.1): -(mean Frobenius distance over tensors), exact permutation p over
//   T draws of (one residual permutation, one hidden permutation per block).
// - align (4.6): undo residual and hidden permutations of model 2 from embedding columns and gate
//   rows (squared Euclidean LAPs), before phi_U.
//
// Determinism: similarity rows are split statically over ctx.threads() and every entry is computed
// by one thread in a fixed order, PERMTEST draws permutation t from its own seed stream; results
// are bit-identical for any thread count. Thread-safety: pure functions of their arguments.
// Failure: InputError on shape mismatches (named), e.g. more rows on side a than on side b.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/exec_context.h"
#include "lineage/mlp.h"
#include "lineage/pvalues.h"

namespace ct::lineage {

enum class Similarity { kCosine, kAbsCosine, kSquaredEuclidean };
enum class MatchCost { kAbsCosine, kEuclidean };

// [a.rows, b.rows] row-major; a and b share cols. Zero rows have cosine 0 to everything.
std::vector<double> similarity_matrix(const Matrix& a, const Matrix& b, Similarity s,
                                      const ExecContext& ctx);
// For each row i of a (a.rows <= b.rows), its matched row of b. Cosines are maximised, squared
// Euclidean distances minimised.
std::vector<int64_t> match_rows(const Matrix& a, const Matrix& b, Similarity s, const ExecContext& ctx);

// up1 [h1, d], up2 [h2, d], h1 <= h2.
SpearmanResult phi_u(const Matrix& up1, const Matrix& up2, const ExecContext& ctx);
// up_act1 [h1, N], up_act2 [h2, N] (the up activations on the same N inputs), h1 <= h2.
SpearmanResult phi_h(const Matrix& up_act1, const Matrix& up_act2, const ExecContext& ctx);

struct MatchStatistic {
  SpearmanResult test;
  std::vector<int64_t> gate_match;  // [h1] gate-activation matching into model 2's units
  std::vector<int64_t> up_match;    // [h1] up-activation matching
};
MatchStatistic phi_match(const Activations& a, const Activations& b, MatchCost cost,
                         const ExecContext& ctx);

// Fisher over per-block tests (one-sided p unless two_sided).
FisherResult fisher_over_blocks(std::span<const SpearmanResult> blocks, bool two_sided = false);

// -(mean over tensors of ||theta1 - theta2||_F), tensors walked block by block (gate, up, down).
double phi_l2(std::span<const Mlp> a, std::span<const Mlp> b);
// PERMTEST with T permutations of model a (residual + per-block hidden), seed streams
// derive_seed(seed, t). Larger phi_l2 (smaller distance) is more extreme.
PermTestResult phi_l2_permtest(std::span<const Mlp> a, std::span<const Mlp> b, int64_t num_perm,
                               uint64_t seed, const ExecContext& ctx);

struct Alignment {
  std::vector<int64_t> residual;             // [d] model 2's coordinate matched to model 1's k
  std::vector<std::vector<int64_t>> hidden;  // per block, [h]
  std::vector<Mlp> blocks;                   // model 2, aligned to model 1
};
// emb1, emb2: [V, d] embeddings (rows = tokens); blocks of equal shapes.
Alignment align(const Matrix& emb1, const Matrix& emb2, std::span<const Mlp> blocks1,
                std::span<const Mlp> blocks2, const ExecContext& ctx);

}  // namespace ct::lineage
