// Private to kernels/cpu/: what the weight-streaming kernels share (linear.cpp's GEMV path and
// linear_rows.cpp): a weight row's storage pointer, the widening vector loads of 16 / 8 weights in
// their stored dtype (f32, bf16, or f16 with F16 set), the plain tail dot past the vector width, and
// the portable loop over weight rows.
// Thread-safety: pure functions. Failure: none (callers check shapes).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/cpu/simd.h"
#include "kernels/weight_view.h"

namespace ct::kernels::cpu::weight_rows {

// Row j of w, in its storage type T (float, or uint16_t for bf16 / f16).
template <typename T>
const T* row_ptr(const WeightView& w, int64_t j) {
  return reinterpret_cast<const T*>(w.data) + j * w.cols;
}

// 16 weights widened to f32.
template <typename T, bool F16>
CT_INLINE_AVX512 __m512 load_w16(const T* p) {
  if constexpr (F16) return simd::load16_f16(p);
  else if constexpr (std::is_same_v<T, float>) return simd::load16_f32(p);
  else return simd::load16_bf16(p);
}

// 8 weights widened to f32.
template <typename T, bool F16>
CT_INLINE_AVX2 __m256 load_w8(const T* p) {
  if constexpr (F16) return simd::load8_f16(p);
  else if constexpr (std::is_same_v<T, float>) return simd::load8_f32(p);
  else return simd::load8_bf16(p);
}

// sums[r] += W[j, p0:in) · x[r, p0:in) for r < n, x [n, in] (the tail past the vector width).
inline void dot_tail(const WeightView& w, int64_t j, const float* x, int64_t n, int64_t in, int64_t p0, float* sums) {
  float buf[64];
  for (int64_t p = p0; p < in; p += 64) {
    const int64_t len = std::min<int64_t>(64, in - p);
    w.widen(j * w.cols + p, len, buf);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t t = 0; t < len; ++t) sums[r] += buf[t] * x[r * in + p + t];
  }
}

// y[r, j] = W[j] · x[r] + bias[j] for weight rows [j0, j1) and r < n <= MaxRows, no vectors.
template <int MaxRows>
void rows_portable(const float* x, int64_t n, int64_t in, const WeightView& w, const float* bias, float* y,
                   int64_t j0, int64_t j1) {
  for (int64_t j = j0; j < j1; ++j) {
    float sums[MaxRows] = {};
    dot_tail(w, j, x, n, in, 0, sums);
    for (int64_t r = 0; r < n; ++r) y[r * w.rows + j] = sums[r] + (bias != nullptr ? bias[j] : 0.0f);
  }
}

}  // namespace ct::kernels::cpu::weight_rows
