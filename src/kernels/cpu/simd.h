// Private helpers of the kernels/cpu/*.cpp files (not an API): the function-level target
// attributes and the in-register widening of 16-bit weights. Include only from kernels/cpu/*.cpp.
// Thread-safety: pure. Failure: none.
#pragma once

// GCC 12's AVX-512 headers trip -Wuninitialized on their own _mm512_undefined_* helpers (GCC bug
// 105593, fixed in 13); the pragmas cover only the header's lines.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cmath>
#include <cstdint>
#include <cstring>

#define CT_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CT_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))
#define CT_INLINE_AVX2 __attribute__((target("avx2,fma,f16c"), always_inline)) inline
#define CT_INLINE_AVX512 __attribute__((target("avx512f,avx2,fma,f16c"), always_inline)) inline

namespace ct::kernels::cpu::simd {

inline float bf16_bits_to_f32(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// 16 weights at p (unaligned) as f32.
CT_INLINE_AVX512 __m512 load16_f32(const float* p) { return _mm512_loadu_ps(p); }
CT_INLINE_AVX512 __m512 load16_bf16(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
CT_INLINE_AVX512 __m512 load16_f16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
// 8 weights at p (unaligned) as f32.
CT_INLINE_AVX2 __m256 load8_f32(const float* p) { return _mm256_loadu_ps(p); }
CT_INLINE_AVX2 __m256 load8_bf16(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
CT_INLINE_AVX2 __m256 load8_f16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
CT_INLINE_AVX2 float hsum8(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// exp(x) for x in [-87.3, 88.7] (clamped outside): Cody-Waite reduction x = n·ln2 + r with
// |r| <= ln2/2, a degree-7 Taylor polynomial for exp(r) (truncation < 1e-8 relative), times 2^n.
// About 1 ulp; never produces inf or NaN from finite input.
CT_INLINE_AVX512 __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.7f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}
CT_INLINE_AVX2 __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  // 2^n through the exponent field; n is in [-126, 128] after the clamp, split in two halves so
  // neither factor overflows.
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i h1 = _mm256_srai_epi32(ni, 1), h2 = _mm256_sub_epi32(ni, h1);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h1, _mm256_set1_epi32(127)), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h2, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}
CT_INLINE_AVX512 float hmax16(__m512 v) { return _mm512_reduce_max_ps(v); }
CT_INLINE_AVX2 float hmax8(__m256 v) {
  const __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// Vector traits so one template body serves both widths (each member is inlined into a caller
// compiled for the same target).
struct V512 {
  using V = __m512;
  static constexpr int kW = 16;
  CT_INLINE_AVX512 static V load(const float* p) { return _mm512_loadu_ps(p); }
  CT_INLINE_AVX512 static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  CT_INLINE_AVX512 static V set1(float f) { return _mm512_set1_ps(f); }
  CT_INLINE_AVX512 static V zero() { return _mm512_setzero_ps(); }
  CT_INLINE_AVX512 static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  CT_INLINE_AVX512 static V add(V a, V b) { return _mm512_add_ps(a, b); }
  CT_INLINE_AVX512 static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  CT_INLINE_AVX512 static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  CT_INLINE_AVX512 static V div(V a, V b) { return _mm512_div_ps(a, b); }
  CT_INLINE_AVX512 static V max(V a, V b) { return _mm512_max_ps(a, b); }
  CT_INLINE_AVX512 static V exp(V a) { return exp16(a); }
  CT_INLINE_AVX512 static float hsum(V a) { return _mm512_reduce_add_ps(a); }
  CT_INLINE_AVX512 static float hmax(V a) { return hmax16(a); }
};
struct V256 {
  using V = __m256;
  static constexpr int kW = 8;
  CT_INLINE_AVX2 static V load(const float* p) { return _mm256_loadu_ps(p); }
  CT_INLINE_AVX2 static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  CT_INLINE_AVX2 static V set1(float f) { return _mm256_set1_ps(f); }
  CT_INLINE_AVX2 static V zero() { return _mm256_setzero_ps(); }
  CT_INLINE_AVX2 static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  CT_INLINE_AVX2 static V add(V a, V b) { return _mm256_add_ps(a, b); }
  CT_INLINE_AVX2 static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  CT_INLINE_AVX2 static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  CT_INLINE_AVX2 static V div(V a, V b) { return _mm256_div_ps(a, b); }
  CT_INLINE_AVX2 static V max(V a, V b) { return _mm256_max_ps(a, b); }
  CT_INLINE_AVX2 static V exp(V a) { return exp8(a); }
  CT_INLINE_AVX2 static float hsum(V a) { return hsum8(a); }
  CT_INLINE_AVX2 static float hmax(V a) { return hmax8(a); }
};

struct V1 {  // scalar, for the portable path
  using V = float;
  static constexpr int kW = 1;
  static V load(const float* p) { return *p; }
  static void store(float* p, V v) { *p = v; }
  static V set1(float f) { return f; }
  static V zero() { return 0.0f; }
  static V fmadd(V a, V b, V c) { return a * b + c; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  static V div(V a, V b) { return a / b; }
  static V max(V a, V b) { return a > b ? a : b; }
  static V exp(V a) { return std::exp(a); }
  static float hsum(V a) { return a; }
  static float hmax(V a) { return a; }
};

}  // namespace ct::kernels::cpu::simd
