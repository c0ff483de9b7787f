// Sparse candidate LAP with a full-matrix optimality certificate (see assignment_sparse.h).
#include "lineage/assignment_sparse.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <queue>
#include <utility>

#include "kernels/cpu/lap.h"

namespace ct::lineage {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

template <typename T>
class SparseSolver {
 public:
  SparseSolver(const T* c, int64_t n, int64_t m, double sign) : c_(c), n_(n), m_(m), sign_(sign), rows_(n) {}

  std::vector<int64_t> run(int64_t& rounds) {
    column_minima();
    int64_t k = std::min(kSparseCandidates, m_);
    pick_candidates(k);
    for (rounds = 1; rounds <= kSparseMaxRounds; ++rounds) {
      if (!solve()) {
        // No complete assignment on the graph: widen every row's candidates, up to m / 2.
        if (4 * k > m_ / 2) return {};
        k *= 4;
        for (auto& r : rows_) r.clear();
        pick_candidates(k);
        continue;
      }
      if (certify() == 0) return x_;
    }
    return {};
  }

 private:
  struct Edge {
    int64_t col;
    double cost;  // sign * c(i, col), exact
  };

  double cost(int64_t i, int64_t j) const { return sign_ * static_cast<double>(c_[i * m_ + j]); }

  void column_minima() {
    col_min_.assign(m_, kInf);
    for (int64_t i = 0; i < n_; ++i)
      for (int64_t j = 0; j < m_; ++j) col_min_[j] = std::min(col_min_[j], cost(i, j));
  }

  // The k best columns of every row by column-reduced cost c(i, j) - min_i' c(i', j) (Jonker-
  // Volgenant's column reduction: columns cheap for every row do not crowd out the rest), ties by
  // (j - i) mod m so that rows with equal keys spread over different columns. A max-heap of the
  // best k so far; for most entries one comparison against its top.
  void pick_candidates(int64_t k) {
    std::vector<std::pair<double, int64_t>> heap;  // (key, (j - i) mod m)
    for (int64_t i = 0; i < n_; ++i) {
      heap.clear();
      for (int64_t j = 0; j < m_; ++j) {
        const std::pair<double, int64_t> e{cost(i, j) - col_min_[j], (j - i % m_ + m_) % m_};
        if (static_cast<int64_t>(heap.size()) < k) {
          heap.push_back(e);
          std::push_heap(heap.begin(), heap.end());
        } else if (e < heap.front()) {
          std::pop_heap(heap.begin(), heap.end());
          heap.back() = e;
          std::push_heap(heap.begin(), heap.end());
        }
      }
      for (auto& e : heap) e.second = (e.second + i) % m_;
      std::sort(heap.begin(), heap.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
      for (const auto& e : heap) rows_[i].push_back({e.second, cost(i, e.second)});
    }
  }

  bool solve() {
    x_.assign(n_, -1);
    xc_.assign(n_, 0.0);
    y_.assign(m_, -1);
    v_.assign(m_, 0.0);
    d_.assign(m_, kInf);
    pred_.assign(m_, -1);
    predc_.assign(m_, 0.0);
    done_.assign(m_, 0);
    augmenting_row_reduction();
    for (int64_t i = 0; i < n_; ++i)
      if (x_[i] < 0 && !augment(i)) return false;
    return true;
  }

  // As the dense solver's pass, over the row's candidates only.
  void augmenting_row_reduction() {
    std::vector<int64_t> free_rows(n_);
    for (int64_t i = 0; i < n_; ++i) free_rows[i] = i;
    int64_t num_free = n_;
    int64_t budget = 8 * n_ + 64;
    for (int pass = 0; pass < 2 && num_free > 0 && budget > 0; ++pass) {
      const int64_t prev_num = num_free;
      int64_t k = 0;
      num_free = 0;
      while (k < prev_num && --budget > 0) {
        const int64_t i = free_rows[k++];
        double u1 = kInf, u2 = kInf, c1 = 0.0;
        int64_t j1 = -1, j2 = -1;
        double c2 = 0.0;
        for (const Edge& e : rows_[i]) {
          const double h = e.cost - v_[e.col];
          if (h < u1 || (h == u1 && y_[j1] >= 0 && y_[e.col] < 0)) {
            u2 = u1, j2 = j1, c2 = c1;
            u1 = h, j1 = e.col, c1 = e.cost;
          } else if (h < u2) {
            u2 = h, j2 = e.col, c2 = e.cost;
          }
        }
        if (j2 < 0) continue;  // a one-candidate row is left to the Dijkstra phase
        int64_t i0 = y_[j1];
        if (u1 < u2) {
          v_[j1] -= u2 - u1;
        } else if (i0 >= 0) {
          j1 = j2, c1 = c2;
          i0 = y_[j1];
        }
        if (i0 >= 0) {
          x_[i0] = -1;
          if (u1 < u2) {
            free_rows[--k] = i0;
          } else {
            free_rows[num_free++] = i0;
          }
        }
        x_[i] = j1;
        xc_[i] = c1;
        y_[j1] = i;
      }
    }
  }

  // Dijkstra from free row f over the candidate graph; false when no free column is reachable.
  bool augment(int64_t f) {
    using Item = std::pair<double, int64_t>;
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
    auto relax_row = [&](int64_t i, double u) {
      for (const Edge& e : rows_[i]) {
        if (done_[e.col]) continue;
        const double h = (e.cost - v_[e.col]) - u;
        if (h < d_[e.col]) {
          if (d_[e.col] == kInf) touched_.push_back(e.col);
          d_[e.col] = h;
          pred_[e.col] = i;
          predc_[e.col] = e.cost;
          heap.push({h, e.col});
        }
      }
    };
    relax_row(f, 0.0);
    int64_t end = -1;
    double mn = 0.0;
    while (!heap.empty()) {
      const auto [dist, j] = heap.top();
      heap.pop();
      if (done_[j] || dist != d_[j]) continue;  // stale entry
      if (y_[j] < 0) {
        end = j, mn = dist;
        break;
      }
      done_[j] = 1;
      scanned_.push_back(j);
      const int64_t i = y_[j];
      relax_row(i, (xc_[i] - v_[j]) - dist);
    }
    const bool found = end >= 0;
    if (found) {
      for (int64_t j : scanned_) v_[j] += d_[j] - mn;
      for (;;) {
        const int64_t i = pred_[end];
        y_[end] = i;
        const int64_t prev = x_[i];
        x_[i] = end;
        xc_[i] = predc_[end];
        end = prev;
        if (i == f) break;
      }
    }
    for (int64_t j : touched_) d_[j] = kInf, done_[j] = 0;
    touched_.clear();
    scanned_.clear();
    return found;
  }

  // Adds every column that beats a row's assigned one on the full matrix; returns how many.
  int64_t certify() {
    const kernels::cpu::LapOps& ops = kernels::cpu::lap_ops();
    int64_t added = 0;
    for (int64_t i = 0; i < n_; ++i) {
      const T* row = c_ + i * m_;
      const kernels::cpu::RelaxResult r = sizeof(T) == 8
          ? ops.min_reduced_f64(reinterpret_cast<const double*>(row), sign_, v_.data(), m_)
          : ops.min_reduced_f32(reinterpret_cast<const float*>(row), sign_, v_.data(), m_);
      const double ui = xc_[i] - v_[x_[i]];
      if (!(r.min < ui)) continue;
      std::vector<Edge>& edges = rows_[i];
      for (int64_t j = 0; j < m_; ++j) {
        if (!(cost(i, j) - v_[j] < ui)) continue;
        // Candidates already in the graph can sit a rounding step below u_i; only new columns count.
        if (std::any_of(edges.begin(), edges.end(), [j](const Edge& e) { return e.col == j; })) continue;
        edges.push_back({j, cost(i, j)});
        ++added;
      }
    }
    return added;
  }

  const T* c_;
  int64_t n_, m_;
  double sign_;
  std::vector<std::vector<Edge>> rows_;  // [n] candidate columns of each row
  std::vector<int64_t> x_, y_, pred_, touched_, scanned_;
  std::vector<double> xc_, v_, d_, predc_, col_min_;
  std::vector<char> done_;
};

}  // namespace

std::vector<int64_t> solve_sparse_certified(const double* cost, int64_t n, int64_t m, double sign, int64_t& rounds) {
  return SparseSolver<double>(cost, n, m, sign).run(rounds);
}

std::vector<int64_t> solve_sparse_certified(const float* cost, int64_t n, int64_t m, double sign, int64_t& rounds) {
  return SparseSolver<float>(cost, n, m, sign).run(rounds);
}

}  // namespace ct::lineage
