#include "lineage/dense.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "lineage/assignment.h"

namespace ct::lineage {
namespace {

constexpr int64_t kLanes = 8;

// Sum of the 8 lanes in a fixed order.
inline float reduce(const float* acc) {
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// One dot product, same lane layout as the tile (used at the ragged edges).
float dot_lanes(const float* x, const float* y, int64_t k) {
  float acc[kLanes] = {};
  int64_t p = 0;
  for (; p + kLanes <= k; p += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) acc[l] += x[p + l] * y[p + l];
  for (int64_t l = 0; p + l < k; ++l) acc[l] += x[p + l] * y[p + l];
  return reduce(acc);
}

}  // namespace

std::vector<float> gemm_nt(const Matrix& a, const Matrix& b, const ExecContext& ctx) {
  if (a.cols != b.cols) {
    throw InputError("gemm_nt", "rows of different lengths: " + std::to_string(a.cols) + " and " + std::to_string(b.cols));
  }
  const int64_t n = a.rows, m = b.rows, k = a.cols;
  std::vector<float> c(static_cast<size_t>(n * m));  // [n, m]
  const int64_t tiles = (n + 3) / 4;
  ctx.parallel_for(tiles, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t i0 = t * 4;
      const int64_t ni = std::min<int64_t>(4, n - i0);
      int64_t j0 = 0;
      if (ni == 4) {
        for (; j0 + 4 <= m; j0 += 4) {
          float acc[4][4][kLanes] = {};
          int64_t p = 0;
          for (; p + kLanes <= k; p += kLanes) {
            for (int64_t r = 0; r < 4; ++r) {
              const float* x = a.row(i0 + r) + p;
              for (int64_t s = 0; s < 4; ++s) {
                const float* y = b.row(j0 + s) + p;
                for (int64_t l = 0; l < kLanes; ++l) acc[r][s][l] += x[l] * y[l];
              }
            }
          }
          for (int64_t r = 0; r < 4; ++r) {
            for (int64_t s = 0; s < 4; ++s) {
              for (int64_t l = 0; p + l < k; ++l) acc[r][s][l] += a.row(i0 + r)[p + l] * b.row(j0 + s)[p + l];
              c[(i0 + r) * m + j0 + s] = reduce(acc[r][s]);
            }
          }
        }
      }
      for (int64_t r = 0; r < ni; ++r)
        for (int64_t j = j0; j < m; ++j) c[(i0 + r) * m + j] = dot_lanes(a.row(i0 + r), b.row(j), k);
    }
  });
  return c;
}

Matrix normalize_rows(const Matrix& m) {
  Matrix out = m;
  for (int64_t i = 0; i < m.rows; ++i) {
    double s = 0.0;
    for (int64_t k = 0; k < m.cols; ++k) s += static_cast<double>(m.at(i, k)) * m.at(i, k);
    if (s <= 0.0) continue;
    const float inv = static_cast<float>(1.0 / std::sqrt(s));
    for (int64_t k = 0; k < m.cols; ++k) out.at(i, k) *= inv;
  }
  return out;
}

std::vector<int64_t> fast_match_rows(const Matrix& a, const Matrix& b, Similarity s, const ExecContext& ctx) {
  if (s == Similarity::kSquaredEuclidean) throw InputError("fast_match_rows", "only cosine similarities are supported");
  if (a.rows > b.rows) {
    throw InputError("match", "expected side a to have at most as many rows as side b, found " +
                                  std::to_string(a.rows) + " > " + std::to_string(b.rows));
  }
  std::vector<float> sim = gemm_nt(normalize_rows(a), normalize_rows(b), ctx);  // [a.rows, b.rows]
  if (s == Similarity::kAbsCosine)
    for (float& v : sim) v = std::abs(v);
  return solve_assignment(std::span<const float>(sim), a.rows, b.rows, Objective::kMaximize).col_of_row;
}

MatchStatistic fast_phi_match(const Activations& a, const Activations& b, const ExecContext& ctx) {
  MatchStatistic r;
  r.gate_match = fast_match_rows(a.gate, b.gate, Similarity::kCosine, ctx);
  r.up_match = fast_match_rows(a.up, b.up, Similarity::kAbsCosine, ctx);
  r.test = spearman(r.gate_match, r.up_match);
  return r;
}

}  // namespace ct::lineage
