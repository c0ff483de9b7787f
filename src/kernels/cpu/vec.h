// Vector primitives for the sparse kernels and the optimiser: dot, axpy, sum of squares, and a
// fused Adam update. The f32 versions have an AVX2+FMA path (function-level target attribute) and
// a portable path; vec_ops() picks one once, callers keep the table for a whole op. The f64
// versions are plain loops (tests only).
//
// Summation order is fixed per path (8 lanes x 4 accumulators for AVX2), so results are
// deterministic on one machine. Ownership: caller's buffers. Thread-safety: re-entrant.
// Failure: none.
#pragma once

#include <cstdint>

namespace ct::kernels::cpu {

struct AdamStep {
  float lr = 0, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float one_minus_beta1 = 0.1f, one_minus_beta2 = 0.001f;  // exact in double, then rounded
  float bias1 = 1, bias2 = 1;  // 1 - beta^t for the bias correction
  float grad_scale = 1;        // gradient clipping factor applied on the fly
};

struct VecOps {
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*axpy)(float alpha, const float* x, float* y, int64_t n);  // y += alpha * x
  double (*sum_squares)(const float* x, int64_t n);
  // m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2; p -= lr * (m/bias1) / (sqrt(v/bias2) + eps),
  // with g' = grad_scale * g.
  void (*adam)(const AdamStep& s, const float* g, float* p, float* m, float* v, int64_t n);
  bool avx2;
};

// The table for this CPU (AVX2+FMA when supported).
const VecOps& vec_ops();
// The portable table (for tests of the twin).
const VecOps& vec_ops_portable();

inline double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
inline void axpy(double alpha, const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace ct::kernels::cpu
