// Linear assignment (LAP) on dense rectangular cost matrices: the MATCH step of model tracing
// (specs/model-tracing.md section 3.1).
//
// solve_assignment() assigns each of the n rows of an n x m cost matrix (n <= m) to a distinct
// column so that the total cost is minimal (or maximal). It is exact: a Jonker-Volgenant style
// solver, with augmenting row reduction (an auction-like pass that settles most rows of a random
// matrix cheaply) followed by Dijkstra shortest augmenting paths over reduced costs for the rows
// still free. Potentials are f64 whatever the cost type. Worst case O(n^2 m); memory is the
// caller's matrix plus O(m) vectors.
//
// Tie rule (deterministic, documented): the solver is sequential and its result is a pure function
// of the cost values (never of threads or timing). Whenever several columns have the same reduced
// cost the scan prefers an unassigned column, then the lowest column index; rows are settled in
// increasing row order. Consequence: a matrix whose rows are all constant yields the identity
// (row i -> column i). Among several optimal assignments no other guarantee is made.
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

struct Assignment {
  std::vector<int64_t> col_of_row;  // [n] column assigned to row i, all distinct, in [0, m)
  double total = 0.0;               // sum of the assigned costs (f64, summed in row order)
};

// cost: [n, m] row-major.
Assignment solve_assignment(std::span<const double> cost, int64_t n, int64_t m,
                            Objective objective = Objective::kMinimize);
Assignment solve_assignment(std::span<const float> cost, int64_t n, int64_t m,
                            Objective objective = Objective::kMinimize);

// Reference twin: exhaustive search over all injective maps (n <= m <= 10). Ties: the first
// optimal map in lexicographic order of col_of_row. For tests only.
Assignment brute_force_assignment(std::span<const double> cost, int64_t n, int64_t m,
                                  Objective objective = Objective::kMinimize);

}  // namespace ct::lineage
