// Score-chunk scan (see score_scan.h). Four chunks (64 scores) per iteration: one OR of the four
// compare masks decides whether any chunk of the group needs recording, which is almost never.
#include "kernels/cpu/score_scan.h"

#include "core/error.h"
#include "kernels/cpu/simd.h"
#include "kernels/ref/score_scan.h"

namespace ct::kernels::cpu {
namespace {

CT_INLINE_AVX512 __mmask16 ge_mask16(const float* a, const float* b, const float* w, __m512 cut, __mmask16 lanes) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(lanes, a), _mm512_maskz_loadu_ps(lanes, b));
  // max(sum, 0) returns the second operand (0) for a NaN sum, like the reference's compare.
  const __m512 s = _mm512_mul_ps(_mm512_max_ps(sum, zero), _mm512_maskz_loadu_ps(lanes, w));
  return _mm512_mask_cmp_ps_mask(lanes, s, cut, _CMP_GE_OQ);
}

CT_TARGET_AVX512 int64_t chunks_avx512(const float* a, const float* b, const float* w, int64_t n, float cutoff,
                                       int32_t* chunks, uint16_t* masks) {
  const __m512 cut = _mm512_set1_ps(cutoff);
  const __mmask16 all = 0xFFFF;
  int64_t count = 0, j = 0;
  for (; j + 64 <= n; j += 64) {
    const __mmask16 m0 = ge_mask16(a + j, b + j, w + j, cut, all);
    const __mmask16 m1 = ge_mask16(a + j + 16, b + j + 16, w + j + 16, cut, all);
    const __mmask16 m2 = ge_mask16(a + j + 32, b + j + 32, w + j + 32, cut, all);
    const __mmask16 m3 = ge_mask16(a + j + 48, b + j + 48, w + j + 48, cut, all);
    if ((m0 | m1 | m2 | m3) == 0) continue;
    const int32_t c = static_cast<int32_t>(j / 16);
    const __mmask16 m[4] = {m0, m1, m2, m3};
    for (int q = 0; q < 4; ++q) {
      if (m[q] == 0) continue;
      chunks[count] = c + q;
      masks[count++] = m[q];
    }
  }
  for (; j < n; j += 16) {
    const int64_t len = n - j < 16 ? n - j : 16;
    const __mmask16 lanes = static_cast<__mmask16>((1u << len) - 1u);
    const __mmask16 m = ge_mask16(a + j, b + j, w + j, cut, lanes);
    if (m == 0) continue;
    chunks[count] = static_cast<int32_t>(j / 16);
    masks[count++] = m;
  }
  return count;
}

CT_INLINE_AVX2 int ge_mask8(const float* a, const float* b, const float* w, __m256 cut) {
  const __m256 sum = _mm256_add_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(b));
  const __m256 s = _mm256_mul_ps(_mm256_max_ps(sum, _mm256_setzero_ps()), _mm256_loadu_ps(w));
  return _mm256_movemask_ps(_mm256_cmp_ps(s, cut, _CMP_GE_OQ));
}

CT_TARGET_AVX2 int64_t chunks_avx2(const float* a, const float* b, const float* w, int64_t n, float cutoff,
                                   int32_t* chunks, uint16_t* masks) {
  const __m256 cut = _mm256_set1_ps(cutoff);
  int64_t count = 0, j = 0;
  for (; j + 16 <= n; j += 16) {
    const int m = ge_mask8(a + j, b + j, w + j, cut) | (ge_mask8(a + j + 8, b + j + 8, w + j + 8, cut) << 8);
    if (m == 0) continue;
    chunks[count] = static_cast<int32_t>(j / 16);
    masks[count++] = static_cast<uint16_t>(m);
  }
  if (j < n) {
    int32_t tail = 0;
    uint16_t tail_mask = 0;
    if (ref::score_chunks_at_or_above(a + j, b + j, w + j, n - j, cutoff, &tail, &tail_mask) > 0) {
      chunks[count] = static_cast<int32_t>(j / 16);
      masks[count++] = tail_mask;
    }
  }
  return count;
}

}  // namespace

ScoreChunksFn score_chunks_fn(Isa isa) {
  CT_CHECK(isa_supported(isa), "score_chunks_fn: instruction set not supported by this CPU");
  switch (isa) {
    case Isa::kAvx512: return chunks_avx512;
    case Isa::kAvx2: return chunks_avx2;
    case Isa::kPortable: break;
  }
  return ref::score_chunks_at_or_above;
}

}  // namespace ct::kernels::cpu
