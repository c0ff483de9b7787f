// Vector primitives (see vec.h).
#include "kernels/cpu/vec.h"

#include <immintrin.h>

#include <cmath>

namespace ct::kernels::cpu {
namespace {

float dot_portable(const float* a, const float* b, int64_t n) {
  float s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) s[l] += a[i + l] * b[i + l];
  float t = (s[0] + s[1]) + (s[2] + s[3]);
  for (; i < n; ++i) t += a[i] * b[i];
  return t;
}

void axpy_portable(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

double sum_squares_portable(const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return s;
}

void adam_portable(const AdamStep& s, const float* g, float* p, float* m, float* v, int64_t n) {
  const float c1 = s.one_minus_beta1, c2 = s.one_minus_beta2;
  const float step = s.lr / s.bias1, inv_b2 = 1.0f / s.bias2;
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * s.grad_scale;
    m[i] = s.beta1 * m[i] + c1 * gi;
    v[i] = s.beta2 * v[i] + c2 * gi * gi;
    p[i] -= step * m[i] / (std::sqrt(v[i] * inv_b2) + s.eps);
  }
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
         s3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  const __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  float t = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  for (; i < n; ++i) t += a[i] * b[i];
  return t;
}

__attribute__((target("avx2,fma"))) void axpy_avx2(float alpha, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    _mm256_storeu_ps(y + i + 8,
                     _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8)));
  }
  for (; i < n; ++i) y[i] += alpha * x[i];
}

__attribute__((target("avx2,fma"))) double sum_squares_avx2(const float* x, int64_t n) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    s0 = _mm256_fmadd_pd(lo, lo, s0);
    s1 = _mm256_fmadd_pd(hi, hi, s1);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(s0, s1));
  double t = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) t += static_cast<double>(x[i]) * x[i];
  return t;
}

__attribute__((target("avx2,fma"))) void adam_avx2(const AdamStep& s, const float* g, float* p,
                                                  float* m, float* v, int64_t n) {
  const float c1 = s.one_minus_beta1, c2 = s.one_minus_beta2;
  const float step = s.lr / s.bias1, inv_b2 = 1.0f / s.bias2;
  const __m256 vb1 = _mm256_set1_ps(s.beta1), vb2 = _mm256_set1_ps(s.beta2);
  const __m256 vc1 = _mm256_set1_ps(c1), vc2 = _mm256_set1_ps(c2), vgs = _mm256_set1_ps(s.grad_scale);
  const __m256 vstep = _mm256_set1_ps(step), vib2 = _mm256_set1_ps(inv_b2), veps = _mm256_set1_ps(s.eps);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), vgs);
    const __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(vc1, gi));
    const __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)),
                                    _mm256_mul_ps(_mm256_mul_ps(vc2, gi), gi));
    const __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(vi, vib2)), veps);
    const __m256 upd = _mm256_div_ps(_mm256_mul_ps(vstep, mi), den);
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), upd));
  }
  adam_portable(s, g + i, p + i, m + i, v + i, n - i);
}

bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

}  // namespace

const VecOps& vec_ops_portable() {
  static const VecOps ops{dot_portable, axpy_portable, sum_squares_portable, adam_portable, false};
  return ops;
}

const VecOps& vec_ops() {
  static const VecOps avx2{dot_avx2, axpy_avx2, sum_squares_avx2, adam_avx2, true};
  return cpu_has_avx2() ? avx2 : vec_ops_portable();
}

}  // namespace ct::kernels::cpu
