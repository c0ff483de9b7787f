// The fast path of lineage/assignment.h: solve the LAP on a sparse candidate graph, then certify
// optimality on the full matrix with the dual, growing the graph until the certificate holds.
//
// 1. Candidates: the kSparseCandidates cheapest columns of every row by column-reduced cost
//    (c(i, j) - min over rows of c(., j)); ties by (j - i) mod m.
// 2. Exact Jonker-Volgenant on that graph: augmenting row reduction, then Dijkstra with a binary
//    heap (each scan costs O(candidates of the row), not O(m)). Potentials v are f64; a row's
//    potential is implicit (u_i = c(i, x_i) - v[x_i]). The invariants are the dense solver's,
//    restricted to the graph: every row sits at a minimal reduced cost among its candidates; v only
//    decreases, and only on assigned columns, so every free column keeps v = 0 >= every other v.
// 3. Certificate: one read-only pass over the full matrix (kernels/cpu/lap.h min_reduced). If every
//    row's assigned column is also its minimal reduced cost over ALL columns, the dual (u, v) is
//    feasible for the full problem and complementary slackness holds: the assignment is optimal
//    for the full matrix (the dense solver's own optimality condition). Otherwise every column
//    that beats u_i is added to row i's candidates and the graph is solved again.
// When the graph has no assignment for every row (rows that share all their candidates), the
// candidates are widened 4x and it starts again; it gives up (returns empty, the caller runs the
// dense solver) when that would exceed m / 2 candidates per row, or after kSparseMaxRounds rounds.
// Cost: one pass to pick candidates + one per round to certify (memory-bound, ~0.3 s each at
// 11008^2 f64) + the sparse solve; the dense solver is O(n^2 m) worst case.
//
// Tie rule: deterministic (heap order is (distance, column)), a pure function of the cost values;
// which of several optimal assignments comes out may differ from the dense solver's.
// Ownership: reads the caller's [n, m] row-major matrix. Thread-safety: pure. Failure: none (the
// caller validated the input: n <= m, all costs finite).
#pragma once

#include <cstdint>
#include <vector>

namespace ct::lineage {

// kAuto uses this path only for n >= kSparseMinRows and m >= kSparseMinCols. With few rows the
// dense solver's paths are short and its single pass wins (a 32-layer 7B trace, whose 2048
// localisation LAPs are 64 x 11008, took 142 s user CPU with the sparse path there, 129 s without).
inline constexpr int64_t kSparseMinRows = 512;
inline constexpr int64_t kSparseMinCols = 256;
inline constexpr int64_t kSparseCandidates = 24;
inline constexpr int kSparseMaxRounds = 8;

// sign = +1 minimises, -1 maximises. rounds: solve-and-certify rounds done. Empty: gave up.
std::vector<int64_t> solve_sparse_certified(const double* cost, int64_t n, int64_t m, double sign, int64_t& rounds);
std::vector<int64_t> solve_sparse_certified(const float* cost, int64_t n, int64_t m, double sign, int64_t& rounds);

}  // namespace ct::lineage
