// Vectorised GELU (erf form), see gelu_erf.h.
#include "kernels/cpu/gelu_erf.h"

#include <cmath>

#include "core/error.h"
#include "kernels/cpu/simd.h"

namespace ct::kernels::cpu {
namespace {

// Abramowitz-Stegun 7.1.26: erfc(z) ≈ (a1·s + a2·s² + a3·s³ + a4·s⁴ + a5·s⁵)·e^(−z²), s = 1/(1 + p·z).
constexpr float kP = 0.3275911f;
constexpr float kA1 = 0.254829592f, kA2 = -0.284496736f, kA3 = 1.421413741f, kA4 = -1.453152027f,
                kA5 = 1.061405429f;
constexpr float kInvSqrt2 = 0.70710678118654752f;

float gelu_scalar(float t) { return 0.5f * t * (1.0f + std::erf(t * kInvSqrt2)); }

CT_TARGET_AVX512 void gelu_avx512(float* x, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f), half = _mm512_set1_ps(0.5f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 t = _mm512_loadu_ps(x + i);
    const __m512 z = _mm512_mul_ps(_mm512_abs_ps(t), _mm512_set1_ps(kInvSqrt2));
    const __m512 s = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(kP), z, one));
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(kA5), s, _mm512_set1_ps(kA4));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(kA3));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(kA2));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(kA1));
    p = _mm512_mul_ps(p, s);
    const __m512 erfc = _mm512_mul_ps(p, simd::exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(z, z))));
    const __mmask16 nonneg = _mm512_cmp_ps_mask(t, _mm512_setzero_ps(), _CMP_GE_OQ);
    const __m512 one_plus_erf = _mm512_mask_sub_ps(erfc, nonneg, two, erfc);  // t >= 0: 2 − erfc
    _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_mul_ps(half, t), one_plus_erf));
  }
  for (; i < n; ++i) x[i] = gelu_scalar(x[i]);
}

CT_TARGET_AVX2 void gelu_avx2(float* x, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f), half = _mm256_set1_ps(0.5f);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 t = _mm256_loadu_ps(x + i);
    const __m256 z = _mm256_mul_ps(_mm256_and_ps(t, abs_mask), _mm256_set1_ps(kInvSqrt2));
    const __m256 s = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(kP), z, one));
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(kA5), s, _mm256_set1_ps(kA4));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(kA3));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(kA2));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(kA1));
    p = _mm256_mul_ps(p, s);
    const __m256 erfc = _mm256_mul_ps(p, simd::exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(z, z))));
    const __m256 nonneg = _mm256_cmp_ps(t, _mm256_setzero_ps(), _CMP_GE_OQ);
    const __m256 one_plus_erf = _mm256_blendv_ps(erfc, _mm256_sub_ps(two, erfc), nonneg);
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, t), one_plus_erf));
  }
  for (; i < n; ++i) x[i] = gelu_scalar(x[i]);
}

}  // namespace

void gelu_erf(float* x, int64_t n, Isa isa) {
  CT_CHECK(isa_supported(isa), "gelu_erf: instruction set not supported by this CPU");
  switch (isa) {
    case Isa::kAvx512: gelu_avx512(x, n); return;
    case Isa::kAvx2: gelu_avx2(x, n); return;
    case Isa::kPortable:
      for (int64_t i = 0; i < n; ++i) x[i] = gelu_scalar(x[i]);
      return;
  }
}

}  // namespace ct::kernels::cpu
