// Linear assignment (LAP) on dense rectangular cost matrices: the MATCH step of model tracing
// (specs/model-tracing.md section 3.1).
//
// solve_assignment() assigns each of the n rows of an n x m cost matrix (n <= m) to a distinct
// column so that the total cost is minimal (or maximal). It is exact: a Jonker-Volgenant style
// solver, with augmenting row reduction (an auction-like pass that settles most rows of a random
// matrix cheaply) followed by Dijkstra shortest augmenting paths over reduced costs for the rows
// still free. Potentials are f64 whatever the cost type. Worst case O(n^2 m); memory is the
// caller's matrix plus O(m) vectors (kSparseCertified: plus O(24 n) candidates).
//
// Two exact methods (LapMethod):
// - kDense: the solver above. Each Dijkstra step is one fused relax-and-argmin pass over a whole
//   cost row (AVX2 in kernels/cpu/lap.h).
// - kSparseCertified (lineage/assignment_sparse.h): the same algorithm on the 24 cheapest columns of
//   every row, then a full-matrix dual certificate; columns that violate it are added and the graph
//   is solved again; it falls back to kDense when the graph has no complete assignment. Its answer
//   is optimal for the full matrix whenever it returns (the certificate is the dense solver's own
//   optimality condition). On a random 11008^2 matrix it reads the matrix ~3 times instead of
//   ~600k row scans.
// - kAuto (default): kSparseCertified when n >= 512 and m >= 256, kDense otherwise (few rows:
//   dense paths are short and one pass beats the sparse path's three).
//
// Tie rule (deterministic, documented): both methods are sequential and their result is a pure
// function of the cost values and the method (never of threads or timing). The dense scan prefers
// an unassigned column among equal reduced costs in its first pass, then the lowest column index;
// rows are settled in increasing row order. Consequence: with kDense (and kAuto below 512 rows),
// a matrix whose rows are all constant yields the identity (row i -> column i). Among several
// optimal assignments no other guarantee is made; the two methods may return different optima.
//
// Ownership: reads the caller's matrix, never keeps it. Thread-safety: pure functions.
// Failure: InputError when n > m, when a dimension is negative, the span is too short, or a cost
// is NaN or infinite.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace ct::lineage {

enum class Objective { kMinimize, kMaximize };
enum class LapMethod { kAuto, kDense, kSparseCertified };

struct Assignment {
  std::vector<int64_t> col_of_row;  // [n] column assigned to row i, all distinct, in [0, m)
  double total = 0.0;               // sum of the assigned costs (f64, summed in row order)
  int64_t sparse_rounds = 0;        // kSparseCertified: solve-and-certify rounds (0: dense only)
  LapMethod used = LapMethod::kDense;  // the method that produced the answer (after any fallback)
};

// cost: [n, m] row-major.
Assignment solve_assignment(std::span<const double> cost, int64_t n, int64_t m,
                            Objective objective = Objective::kMinimize, LapMethod method = LapMethod::kAuto);
Assignment solve_assignment(std::span<const float> cost, int64_t n, int64_t m,
                            Objective objective = Objective::kMinimize, LapMethod method = LapMethod::kAuto);

// Reference twin: exhaustive search over all injective maps (n <= m <= 10). Ties: the first
// optimal map in lexicographic order of col_of_row. For tests only.
Assignment brute_force_assignment(std::span<const double> cost, int64_t n, int64_t m,
                                  Objective objective = Objective::kMinimize);

}  // namespace ct::lineage
