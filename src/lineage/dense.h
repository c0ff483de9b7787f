// Dense f32 products for tracing real-size blocks: C = A B^T over rows of equal length, and the
// MATCH step built on it (cosine / |cosine| similarity in f32, then the exact LAP of
// lineage/assignment.h).
//
// Why not statistics.h's similarity_matrix: that reference widens every entry to f64 and runs one
// scalar dot per entry; at LLaMA-7B width (11008 units x 4096 or 256 columns) tracing needs ~1e12
// multiply-adds and the reference would take most of an hour on two cores. Here rows are processed
// in 4 x 4 register tiles with 8-lane f32 accumulators that the compiler vectorises (plain C++, no
// intrinsics), so one pass over the data feeds 16 dot products. f32 accumulation over <= 16k terms
// costs ~1e-6 relative error, far below the gap between matched and unmatched units.
// Reference twins: similarity_matrix / match_rows / mlp_activations (tests/lineage/dense_test.cpp).
//
// Determinism: every entry is computed by one thread in a fixed order (rows split statically over
// ctx.threads()), so results are bit-identical for any thread count.
// Thread-safety: pure functions. Failure: InputError on mismatched row lengths, or a.rows > b.rows
// for matching.
#pragma once

#include <cstdint>
#include <vector>

#include "core/exec_context.h"
#include "lineage/mlp.h"
#include "lineage/statistics.h"

namespace ct::lineage {

// a [n, k], b [m, k] -> [n, m] row-major, c[i, j] = a_i . b_j.
std::vector<float> gemm_nt(const Matrix& a, const Matrix& b, const ExecContext& ctx);

// Rows scaled to unit length (zero rows stay zero).
Matrix normalize_rows(const Matrix& m);

// MATCH of rows of a (a.rows <= b.rows) into rows of b, maximising kCosine or kAbsCosine.
std::vector<int64_t> fast_match_rows(const Matrix& a, const Matrix& b, Similarity s, const ExecContext& ctx);

// phi_MATCH over Activations (gate matched on cosine, up on |cosine|), as statistics.h's
// phi_match with MatchCost::kAbsCosine.
MatchStatistic fast_phi_match(const Activations& a, const Activations& b, const ExecContext& ctx);

}  // namespace ct::lineage
