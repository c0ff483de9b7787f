// LAP relaxation kernels (see lap.h).
#include "kernels/cpu/lap.h"

#include <immintrin.h>

#include <limits>

namespace ct::kernels::cpu {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

template <typename T>
RelaxResult relax_portable(const T* row, double sign, const double* w, double u, int64_t i, double* d,
                           int64_t* pred, int64_t m) {
  RelaxResult r{kInf, -1};
  for (int64_t j = 0; j < m; ++j) {
    const double h = (sign * static_cast<double>(row[j]) - w[j]) - u;
    if (h < d[j]) {
      d[j] = h;
      pred[j] = i;
    }
    if (d[j] < r.min || r.index < 0) {
      r.min = d[j];
      r.index = j;
    }
  }
  return r;
}

template <typename T>
__attribute__((target("avx2"))) inline __m256d load4(const T* p) {
  if constexpr (sizeof(T) == 8) {
    return _mm256_loadu_pd(reinterpret_cast<const double*>(p));
  } else {
    return _mm256_cvtps_pd(_mm_loadu_ps(reinterpret_cast<const float*>(p)));
  }
}

template <typename T>
__attribute__((target("avx2"))) RelaxResult relax_avx2(const T* row, double sign, const double* w, double u,
                                                       int64_t i, double* d, int64_t* pred, int64_t m) {
  const __m256d vs = _mm256_set1_pd(sign), vu = _mm256_set1_pd(u);
  const __m256i vi = _mm256_set1_epi64x(i);
  __m256d best = _mm256_set1_pd(kInf);
  __m256i best_idx = _mm256_set1_epi64x(-1);
  __m256i idx = _mm256_setr_epi64x(0, 1, 2, 3);
  const __m256i four = _mm256_set1_epi64x(4);
  int64_t j = 0;
  for (; j + 4 <= m; j += 4) {
    const __m256d h = _mm256_sub_pd(_mm256_sub_pd(_mm256_mul_pd(vs, load4(row + j)), _mm256_loadu_pd(w + j)), vu);
    const __m256d dj = _mm256_loadu_pd(d + j);
    const __m256d lt = _mm256_cmp_pd(h, dj, _CMP_LT_OQ);
    const __m256d nd = _mm256_blendv_pd(dj, h, lt);
    _mm256_storeu_pd(d + j, nd);
    const __m256i* pp = reinterpret_cast<const __m256i*>(pred + j);
    const __m256d np = _mm256_blendv_pd(_mm256_castsi256_pd(_mm256_loadu_si256(pp)), _mm256_castsi256_pd(vi), lt);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(pred + j), _mm256_castpd_si256(np));
    // Per lane: strictly smaller replaces, so each lane keeps its lowest index at its minimum.
    // (A lane still at -1 takes its first value even when it is +inf.)
    const __m256d take = _mm256_or_pd(_mm256_cmp_pd(nd, best, _CMP_LT_OQ),
                                      _mm256_castsi256_pd(_mm256_cmpeq_epi64(best_idx, _mm256_set1_epi64x(-1))));
    best = _mm256_blendv_pd(best, nd, take);
    best_idx = _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(best_idx), _mm256_castsi256_pd(idx), take));
    idx = _mm256_add_epi64(idx, four);
  }
  alignas(32) double bv[4];
  alignas(32) int64_t bi[4];
  _mm256_store_pd(bv, best);
  _mm256_store_si256(reinterpret_cast<__m256i*>(bi), best_idx);
  RelaxResult r{kInf, -1};
  for (int l = 0; l < 4; ++l) {
    if (bi[l] < 0) continue;
    if (r.index < 0 || bv[l] < r.min || (bv[l] == r.min && bi[l] < r.index)) {
      r.min = bv[l];
      r.index = bi[l];
    }
  }
  for (; j < m; ++j) {
    const double h = (sign * static_cast<double>(row[j]) - w[j]) - u;
    if (h < d[j]) {
      d[j] = h;
      pred[j] = i;
    }
    if (r.index < 0 || d[j] < r.min) {
      r.min = d[j];
      r.index = j;
    }
  }
  return r;
}

template <typename T>
RelaxResult min_reduced_portable(const T* row, double sign, const double* v, int64_t m) {
  RelaxResult r{kInf, -1};
  for (int64_t j = 0; j < m; ++j) {
    const double h = sign * static_cast<double>(row[j]) - v[j];
    if (r.index < 0 || h < r.min) r = {h, j};
  }
  return r;
}

template <typename T>
__attribute__((target("avx2"))) RelaxResult min_reduced_avx2(const T* row, double sign, const double* v, int64_t m) {
  if (m < 8) return min_reduced_portable(row, sign, v, m);
  const __m256d vs = _mm256_set1_pd(sign);
  // Lanes start from the first 4 columns, so every lane holds a real column.
  __m256d best = _mm256_sub_pd(_mm256_mul_pd(vs, load4(row)), _mm256_loadu_pd(v));
  __m256i best_idx = _mm256_setr_epi64x(0, 1, 2, 3);
  __m256i idx = _mm256_setr_epi64x(4, 5, 6, 7);
  const __m256i four = _mm256_set1_epi64x(4);
  int64_t j = 4;
  for (; j + 4 <= m; j += 4) {
    const __m256d h = _mm256_sub_pd(_mm256_mul_pd(vs, load4(row + j)), _mm256_loadu_pd(v + j));
    const __m256d lt = _mm256_cmp_pd(h, best, _CMP_LT_OQ);
    best = _mm256_blendv_pd(best, h, lt);
    best_idx = _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(best_idx), _mm256_castsi256_pd(idx), lt));
    idx = _mm256_add_epi64(idx, four);
  }
  alignas(32) double bv[4];
  alignas(32) int64_t bi[4];
  _mm256_store_pd(bv, best);
  _mm256_store_si256(reinterpret_cast<__m256i*>(bi), best_idx);
  RelaxResult r{bv[0], bi[0]};
  for (int l = 1; l < 4; ++l)
    if (bv[l] < r.min || (bv[l] == r.min && bi[l] < r.index)) r = {bv[l], bi[l]};
  for (; j < m; ++j) {
    const double h = sign * static_cast<double>(row[j]) - v[j];
    if (h < r.min) r = {h, j};
  }
  return r;
}

bool cpu_has_avx2() { return __builtin_cpu_supports("avx2"); }

}  // namespace

const LapOps& lap_ops_portable() {
  static const LapOps ops{relax_portable<double>, relax_portable<float>, min_reduced_portable<double>,
                          min_reduced_portable<float>, false};
  return ops;
}

const LapOps& lap_ops() {
  static const LapOps avx2{relax_avx2<double>, relax_avx2<float>, min_reduced_avx2<double>, min_reduced_avx2<float>,
                           true};
  return cpu_has_avx2() ? avx2 : lap_ops_portable();
}

}  // namespace ct::kernels::cpu
