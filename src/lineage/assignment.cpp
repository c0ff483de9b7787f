// Jonker-Volgenant style LAP: augmenting row reduction, then Dijkstra augmentation.
//
// Conventions: reduced cost of (i, j) is c(i, j) - v[j]; a row's potential u_i is implicit (its
// minimal reduced cost). Invariants kept throughout, which make the result exact also for n < m:
//   - every assigned row sits at a minimal reduced cost of its row;
//   - v only decreases, and only for columns that are (and stay) assigned, so every free column
//     keeps v = 0 >= every other v (the optimality condition of the rectangular problem).
#include "lineage/assignment.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "kernels/cpu/lap.h"
#include "lineage/assignment_sparse.h"

namespace ct::lineage {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

template <typename T>
void validate(std::span<const T> cost, int64_t n, int64_t m) {
  if (n < 0 || m < 0) throw InputError("assignment", "negative dimension");
  if (n > m) {
    throw InputError("assignment", "expected rows <= cols, found " + std::to_string(n) + " x " +
                                       std::to_string(m) + " (transpose the problem)");
  }
  if (static_cast<int64_t>(cost.size()) < n * m) {
    throw InputError("assignment", "cost span holds " + std::to_string(cost.size()) +
                                       " values, expected " + std::to_string(n * m));
  }
  for (int64_t k = 0; k < n * m; ++k) {
    if (!std::isfinite(static_cast<double>(cost[k]))) {
      throw InputError("assignment", "cost (" + std::to_string(k / m) + ", " +
                                         std::to_string(k % m) + ") is not finite");
    }
  }
}

// kSign = +1 minimises, -1 maximises (negation is exact, so both see the same ties).
struct Scanned {
  int64_t col;
  double v, d;  // the column's potential and distance when it was scanned
};

template <typename T, int kSign>
class Solver {
 public:
  Solver(const T* cost, int64_t n, int64_t m)
      : c_(cost), n_(n), m_(m), x_(n, -1), y_(m, -1), v_(m, 0.0) {}

  std::vector<int64_t> run() {
    augmenting_row_reduction();
    std::vector<double> d(m_);
    std::vector<int64_t> pred(m_);
    std::vector<Scanned> scanned;
    for (int64_t i = 0; i < n_; ++i) {
      if (x_[i] < 0) augment(i, d, pred, scanned);
    }
    return x_;
  }

 private:
  double c(int64_t i, int64_t j) const { return kSign * static_cast<double>(c_[i * m_ + j]); }

  // Auction-like pass (two rounds over the free rows): a row takes its cheapest column and raises
  // that column's "price" (lowers v) by the gap to its second choice, displacing the previous owner.
  void augmenting_row_reduction() {
    if (m_ < 2) return;  // a single column: the Dijkstra phase handles it directly
    std::vector<int64_t> free_rows(n_);
    for (int64_t i = 0; i < n_; ++i) free_rows[i] = i;
    int64_t num_free = n_;
    // A price war between nearly tied rows can advance by rounding-sized steps; the cap bounds the
    // pass, and whatever is still free goes to the exact Dijkstra phase.
    int64_t budget = 8 * n_ + 64;
    for (int pass = 0; pass < 2 && num_free > 0 && budget > 0; ++pass) {
      const int64_t prev_num = num_free;
      int64_t k = 0;
      num_free = 0;
      while (k < prev_num && --budget > 0) {
        const int64_t i = free_rows[k++];
        double u1 = kInf, u2 = kInf;
        int64_t j1 = -1, j2 = -1;
        const T* row = c_ + i * m_;
        for (int64_t j = 0; j < m_; ++j) {
          const double h = kSign * static_cast<double>(row[j]) - v_[j];
          if (h < u1 || (h == u1 && y_[j1] >= 0 && y_[j] < 0)) {
            u2 = u1;
            j2 = j1;
            u1 = h;
            j1 = j;
          } else if (h < u2) {
            u2 = h;
            j2 = j;
          }
        }
        int64_t i0 = y_[j1];
        if (u1 < u2) {
          v_[j1] -= u2 - u1;
        } else if (i0 >= 0) {
          j1 = j2;
          i0 = y_[j1];
        }
        if (i0 >= 0) {
          x_[i0] = -1;
          if (u1 < u2) {
            free_rows[--k] = i0;  // the displaced row bids again at once
          } else {
            free_rows[num_free++] = i0;  // next round
          }
        }
        x_[i] = j1;
        y_[j1] = i;
      }
    }
  }

  // Dijkstra over columns from free row f until an unassigned column is the nearest, then flips
  // the path. Each step is one fused relax-and-argmin pass over the whole cost row of the row just
  // reached (kernels/cpu/lap.h); a scanned column is taken out of later passes by parking v = -inf
  // and d = +inf (its true v and d are kept in `scanned` and restored at the end).
  void augment(int64_t f, std::vector<double>& d, std::vector<int64_t>& pred, std::vector<Scanned>& scanned) {
    std::fill(d.begin(), d.end(), kInf);
    scanned.clear();
    kernels::cpu::RelaxResult r = relax(f, 0.0, d, pred);
    int64_t end = -1;
    double mn = 0.0;
    for (;;) {
      const int64_t j1 = r.index;
      mn = r.min;
      if (y_[j1] < 0) {
        end = j1;
        break;
      }
      const int64_t i = y_[j1];
      const double u1 = (c(i, j1) - v_[j1]) - mn;
      scanned.push_back({j1, v_[j1], d[j1]});
      v_[j1] = -kInf;
      d[j1] = kInf;
      r = relax(i, u1, d, pred);
    }
    // Scanned columns move their potential so that the tree edges stay tight.
    for (const Scanned& s : scanned) v_[s.col] = s.v + (s.d - mn);
    for (;;) {
      const int64_t i = pred[end];
      y_[end] = i;
      const int64_t prev = x_[i];
      x_[i] = end;
      end = prev;
      if (i == f) break;
    }
  }

  kernels::cpu::RelaxResult relax(int64_t i, double u, std::vector<double>& d, std::vector<int64_t>& pred) const {
    if constexpr (sizeof(T) == 8) {
      return ops_.relax_f64(c_ + i * m_, kSign, v_.data(), u, i, d.data(), pred.data(), m_);
    } else {
      return ops_.relax_f32(c_ + i * m_, kSign, v_.data(), u, i, d.data(), pred.data(), m_);
    }
  }

  const kernels::cpu::LapOps& ops_ = kernels::cpu::lap_ops();
  const T* c_;
  int64_t n_, m_;
  std::vector<int64_t> x_;  // [n] column of row, -1 free
  std::vector<int64_t> y_;  // [m] row of column, -1 free
  std::vector<double> v_;   // [m] column potentials
};

template <typename T>
Assignment solve_impl(std::span<const T> cost, int64_t n, int64_t m, Objective objective, LapMethod method) {
  validate(cost, n, m);
  Assignment out;
  if (n == 0) return out;
  const bool sparse = method == LapMethod::kSparseCertified || (method == LapMethod::kAuto && n >= kSparseMinRows && m >= kSparseMinCols);
  if (sparse) {
    const double sign = objective == Objective::kMinimize ? 1.0 : -1.0;
    out.col_of_row = solve_sparse_certified(cost.data(), n, m, sign, out.sparse_rounds);
    if (!out.col_of_row.empty()) out.used = LapMethod::kSparseCertified;
  }
  if (out.col_of_row.empty()) {
    out.col_of_row = objective == Objective::kMinimize ? Solver<T, 1>(cost.data(), n, m).run()
                                                       : Solver<T, -1>(cost.data(), n, m).run();
  }
  for (int64_t i = 0; i < n; ++i) {
    CT_CHECK(out.col_of_row[i] >= 0 && out.col_of_row[i] < m, "LAP left a row unassigned");
    out.total += static_cast<double>(cost[i * m + out.col_of_row[i]]);
  }
  return out;
}

void brute_recurse(std::span<const double> cost, int64_t n, int64_t m, int sign, int64_t i,
                   double partial, std::vector<int64_t>& cur, std::vector<bool>& used,
                   double& best, std::vector<int64_t>& best_map) {
  if (i == n) {
    if (partial < best) {
      best = partial;
      best_map = cur;
    }
    return;
  }
  for (int64_t j = 0; j < m; ++j) {
    if (used[j]) continue;
    used[j] = true;
    cur[i] = j;
    brute_recurse(cost, n, m, sign, i + 1, partial + sign * cost[i * m + j], cur, used, best,
                  best_map);
    used[j] = false;
  }
}

}  // namespace

Assignment solve_assignment(std::span<const double> cost, int64_t n, int64_t m, Objective objective,
                            LapMethod method) {
  return solve_impl(cost, n, m, objective, method);
}

Assignment solve_assignment(std::span<const float> cost, int64_t n, int64_t m, Objective objective,
                            LapMethod method) {
  return solve_impl(cost, n, m, objective, method);
}

Assignment brute_force_assignment(std::span<const double> cost, int64_t n, int64_t m,
                                  Objective objective) {
  validate(cost, n, m);
  CT_CHECK(m <= 10, "brute force is for tiny problems");
  const int sign = objective == Objective::kMinimize ? 1 : -1;
  std::vector<int64_t> cur(n), best_map;
  std::vector<bool> used(m, false);
  double best = kInf;
  brute_recurse(cost, n, m, sign, 0, 0.0, cur, used, best, best_map);
  Assignment out;
  out.col_of_row = best_map;
  for (int64_t i = 0; i < n; ++i) out.total += cost[i * m + best_map[i]];
  return out;
}

}  // namespace ct::lineage
