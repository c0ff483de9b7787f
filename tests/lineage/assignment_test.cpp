// LAP against exhaustive search (every n <= 8, square and rectangular, both objectives), ties,
// degenerate matrices, integer-valued costs with many optima, and bad input.
#include "lineage/assignment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "core/random.h"

namespace ct::lineage {
namespace {

void expect_injective(const Assignment& a, int64_t m) {
  std::set<int64_t> seen(a.col_of_row.begin(), a.col_of_row.end());
  EXPECT_EQ(seen.size(), a.col_of_row.size());
  for (int64_t j : a.col_of_row) {
    EXPECT_GE(j, 0);
    EXPECT_LT(j, m);
  }
}

TEST(LineageAssignment, MatchesBruteForceEverySizeUpTo8) {
  Rng rng(11);
  for (int64_t n = 1; n <= 8; ++n) {
    for (int64_t m : {n, n + 1, n + 2}) {
      if (m > 9) continue;
      for (int trial = 0; trial < 6; ++trial) {
        std::vector<double> cost(n * m);
        // Half the trials use small integers, which create many tied optima.
        for (auto& c : cost) {
          c = trial % 2 ? static_cast<double>(rng.uniform_below(4)) : rng.normal();
        }
        for (Objective obj : {Objective::kMinimize, Objective::kMaximize}) {
          const Assignment ref = brute_force_assignment(cost, n, m, obj);
          for (LapMethod method : {LapMethod::kAuto, LapMethod::kDense, LapMethod::kSparseCertified}) {
            const Assignment fast = solve_assignment(cost, n, m, obj, method);
            expect_injective(fast, m);
            EXPECT_NEAR(fast.total, ref.total, 1e-9)
                << "n=" << n << " m=" << m << " trial=" << trial << " method=" << static_cast<int>(method);
          }
        }
      }
    }
  }
}

TEST(LineageAssignment, FloatCostsMatchDoubleCosts) {
  Rng rng(12);
  const int64_t n = 7, m = 9;
  std::vector<float> cf(n * m);
  std::vector<double> cd(n * m);
  for (int64_t k = 0; k < n * m; ++k) cd[k] = cf[k] = static_cast<float>(rng.normal());
  EXPECT_EQ(solve_assignment(cf, n, m).col_of_row, brute_force_assignment(cd, n, m).col_of_row);
}

TEST(LineageAssignment, AllEqualGivesIdentity) {
  for (int64_t n : {1, 2, 5, 33}) {
    for (int64_t m : {n, n + 3}) {
      std::vector<double> cost(n * m, 2.5);
      for (Objective obj : {Objective::kMinimize, Objective::kMaximize}) {
        const Assignment a = solve_assignment(cost, n, m, obj);
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(a.col_of_row[i], i);
        EXPECT_DOUBLE_EQ(a.total, 2.5 * n);
      }
    }
  }
}

TEST(LineageAssignment, TiesAreDeterministicAndOptimal) {
  // Rows that are constant in blocks: many optima; the solver must give the same answer on every
  // call and an optimal total.
  const int64_t n = 6, m = 8;
  std::vector<double> cost(n * m);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) cost[i * m + j] = static_cast<double>((i + j) % 3);
  const Assignment a = solve_assignment(cost, n, m);
  const Assignment b = solve_assignment(cost, n, m);
  EXPECT_EQ(a.col_of_row, b.col_of_row);
  EXPECT_DOUBLE_EQ(a.total, brute_force_assignment(cost, n, m).total);
  expect_injective(a, m);
}

TEST(LineageAssignment, LargerRandomAgreesWithPermutedCopy) {
  // An independent check beyond brute-force sizes: permuting the columns permutes the solution
  // and leaves the optimum unchanged (up to rounding in a different summation path).
  Rng rng(13);
  const int64_t n = 300, m = 340;
  std::vector<double> cost(n * m);
  for (auto& c : cost) c = rng.uniform01();
  const auto perm = random_permutation(m, rng);
  std::vector<double> permuted(n * m);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) permuted[i * m + perm[j]] = cost[i * m + j];
  const Assignment a = solve_assignment(cost, n, m);
  const Assignment b = solve_assignment(permuted, n, m);
  EXPECT_NEAR(a.total, b.total, 1e-9);
  expect_injective(a, m);
  // Optimality certificate on a planted problem: a diagonal of zeros, everything else >= 1.
  std::vector<double> planted(n * m);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) planted[i * m + perm[j]] = (i == j) ? 0.0 : 1.0 + rng.uniform01();
  const Assignment p = solve_assignment(planted, n, m);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(p.col_of_row[i], perm[i]);
}

TEST(LineageAssignment, SparseCertifiedEqualsDenseOnStructuredMatrices) {
  // Beyond brute-force sizes the dense solver is the reference. Families chosen to stress the
  // candidate graph: random, integer ties, a few columns cheap for every row (needs certificate
  // rounds), column-dominated costs, near-diagonal (related models), repeated column classes.
  Rng rng(14);
  int64_t max_rounds = 0;
  for (int family = 0; family < 6; ++family) {
    for (int64_t m : {300, 337}) {
      const int64_t n = 300;
      std::vector<double> cost(n * m);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < m; ++j) {
          double& x = cost[i * m + j];
          switch (family) {
            case 0: x = rng.uniform01(); break;
            case 1: x = static_cast<double>(rng.uniform_below(4)); break;
            case 2: x = j < 12 ? 0.0 : 1.0 + rng.uniform01(); break;
            case 3: x = 0.01 * j + 0.001 * rng.uniform01(); break;
            case 4: x = 0.01 * std::abs(static_cast<double>(i - j)) + 0.02 * rng.uniform01(); break;
            default: x = 0.1 * (j % 50) + rng.uniform01(); break;
          }
        }
      }
      std::vector<float> costf(cost.begin(), cost.end());
      for (Objective obj : {Objective::kMinimize, Objective::kMaximize}) {
        const Assignment dense = solve_assignment(cost, n, m, obj, LapMethod::kDense);
        const Assignment sparse = solve_assignment(cost, n, m, obj, LapMethod::kSparseCertified);
        EXPECT_EQ(sparse.used, LapMethod::kSparseCertified) << "family " << family;
        EXPECT_NEAR(sparse.total, dense.total, 1e-9) << "family " << family << " m " << m;
        expect_injective(sparse, m);
        max_rounds = std::max(max_rounds, sparse.sparse_rounds);
        const Assignment dense_f = solve_assignment(costf, n, m, obj, LapMethod::kDense);
        const Assignment sparse_f = solve_assignment(costf, n, m, obj, LapMethod::kSparseCertified);
        EXPECT_NEAR(sparse_f.total, dense_f.total, 1e-6) << "f32 family " << family;
      }
    }
  }
  EXPECT_GE(max_rounds, 2) << "no family exercised a certificate that failed and grew the graph";
  // Rows 0..s-1 cost 0 on columns 0..9 and exactly 1000 elsewhere: after column reduction they
  // all rank the other columns the same way, so they share their candidates. s = 50 rows need the
  // 4x wider graph (96 candidates); s = 150 rows exceed it too, so the dense solver takes over.
  for (int64_t shared : {50, 150}) {
    const int64_t n = 300;
    std::vector<double> c(n * n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * n + j] = i < shared ? (j < 10 ? 0.0 : 1000.0) : 1.0 + rng.uniform01();
    const Assignment dense = solve_assignment(c, n, n, Objective::kMinimize, LapMethod::kDense);
    const Assignment sparse = solve_assignment(c, n, n, Objective::kMinimize, LapMethod::kSparseCertified);
    EXPECT_EQ(sparse.used, shared == 50 ? LapMethod::kSparseCertified : LapMethod::kDense);
    EXPECT_NEAR(sparse.total, dense.total, 1e-9);
    expect_injective(sparse, n);
  }
}

TEST(LineageAssignment, RejectsBadInput) {
  std::vector<double> cost(6, 1.0);
  EXPECT_THROW(solve_assignment(cost, 3, 2), InputError);
  EXPECT_THROW(solve_assignment(cost, 2, 4), InputError);
  cost[4] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(solve_assignment(cost, 2, 3), InputError);
  EXPECT_TRUE(solve_assignment(std::span<const double>{}, 0, 0).col_of_row.empty());
}

}  // namespace
}  // namespace ct::lineage
