// The inner loop of the shortest-augmenting-path LAP (lineage/assignment.cpp): one Dijkstra
// relaxation over a whole cost row, fused with the search for the next nearest column.
//
// relax_row(row, sign, w, u, i, d, pred, m) does, for every column j in [0, m):
//     h = sign * row[j] - w[j] - u;  if (h < d[j]) { d[j] = h; pred[j] = i; }
// and returns the minimum of the updated d and the lowest column index that attains it. Columns
// the caller wants skipped carry w[j] = -inf and d[j] = +inf (h is then +inf, never < d[j]).
// sign is +1 or -1 (negation is exact). Shapes: row, w, d, pred all [m]; m >= 1.
//
// min_reduced(row, sign, v, m) returns the minimum over j of (sign * row[j] - v[j]) and the lowest
// index attaining it, reading only: the optimality check of a finished assignment.
//
// Two twins: a portable scalar loop (the reference) and an AVX2 path (4 f64 lanes; f32 rows are
// widened exactly), picked once by lap_ops(). Both compute every h with the same two roundings
// (sign * row - w, then - u) and compare the same way, so they agree bit for bit, including the
// returned index (ties go to the lowest index).
// Ownership: caller's buffers. Thread-safety: re-entrant. Failure: none (no validation: the caller
// has checked the costs are finite).
#pragma once

#include <cstdint>

namespace ct::kernels::cpu {

struct RelaxResult {
  double min = 0.0;
  int64_t index = -1;
};

struct LapOps {
  RelaxResult (*relax_f64)(const double* row, double sign, const double* w, double u, int64_t i,
                           double* d, int64_t* pred, int64_t m);
  RelaxResult (*relax_f32)(const float* row, double sign, const double* w, double u, int64_t i,
                           double* d, int64_t* pred, int64_t m);
  RelaxResult (*min_reduced_f64)(const double* row, double sign, const double* v, int64_t m);
  RelaxResult (*min_reduced_f32)(const float* row, double sign, const double* v, int64_t m);
  bool avx2;
};

// The table for this CPU (AVX2 when supported).
const LapOps& lap_ops();
// The portable table (for tests of the twin).
const LapOps& lap_ops_portable();

}  // namespace ct::kernels::cpu
