// Sparse-row products (see sparse_rows.h). AVX-512: a piece of up to 64 floats is four registers
// under lane masks (the masks are all-ones except in the last column block of a row whose width is
// not a multiple of 64), so one code path serves every length.
#include "kernels/cpu/sparse_rows.h"

#include "core/error.h"
#include "kernels/cpu/simd.h"
#include "kernels/ref/sparse_rows.h"

namespace ct::kernels::cpu {
namespace {

struct Masks {
  __mmask16 m[4];
};
inline Masks masks_for(int64_t len) {
  Masks k;
  for (int v = 0; v < 4; ++v) {
    const int64_t lanes = len - 16 * v;
    k.m[v] = lanes >= 16 ? static_cast<__mmask16>(0xFFFF)
                         : lanes <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << lanes) - 1u);
  }
  return k;
}

CT_TARGET_AVX512 void axpy_rows_avx512(const float* piece, int64_t len, const float* coef, const int64_t* pos,
                                       const int32_t* row, int64_t n, float* rows, int64_t ld) {
  CT_CHECK(len <= kSparsePiece);
  if (len == kSparsePiece) {  // full piece: plain loads and stores (masked ones cost more on some CPUs)
    const __m512 p0 = _mm512_loadu_ps(piece), p1 = _mm512_loadu_ps(piece + 16), p2 = _mm512_loadu_ps(piece + 32),
                 p3 = _mm512_loadu_ps(piece + 48);
    for (int64_t a = 0; a < n; ++a) {
      float* o = rows + static_cast<int64_t>(row[a]) * ld;
      const __m512 c = _mm512_set1_ps(coef[pos[a]]);
      _mm512_storeu_ps(o, _mm512_fmadd_ps(c, p0, _mm512_loadu_ps(o)));
      _mm512_storeu_ps(o + 16, _mm512_fmadd_ps(c, p1, _mm512_loadu_ps(o + 16)));
      _mm512_storeu_ps(o + 32, _mm512_fmadd_ps(c, p2, _mm512_loadu_ps(o + 32)));
      _mm512_storeu_ps(o + 48, _mm512_fmadd_ps(c, p3, _mm512_loadu_ps(o + 48)));
    }
    return;
  }
  const Masks k = masks_for(len);
  __m512 p[4];
  for (int v = 0; v < 4; ++v) p[v] = _mm512_maskz_loadu_ps(k.m[v], piece + 16 * v);
  for (int64_t a = 0; a < n; ++a) {
    float* o = rows + static_cast<int64_t>(row[a]) * ld;
    const __m512 c = _mm512_set1_ps(coef[pos[a]]);
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v)
      _mm512_mask_storeu_ps(o + 16 * v, k.m[v], _mm512_fmadd_ps(c, p[v], _mm512_maskz_loadu_ps(k.m[v], o + 16 * v)));
  }
}

CT_TARGET_AVX512 void dot_rows_avx512(const float* piece, int64_t len, const int64_t* pos, const int32_t* row,
                                      int64_t n, const float* rows, int64_t ld, float* out, bool first) {
  CT_CHECK(len <= kSparsePiece);
  if (len == kSparsePiece) {  // full piece: plain loads, the same sums as the masked path below
    const __m512 p0 = _mm512_loadu_ps(piece), p1 = _mm512_loadu_ps(piece + 16), p2 = _mm512_loadu_ps(piece + 32),
                 p3 = _mm512_loadu_ps(piece + 48);
    for (int64_t a = 0; a < n; ++a) {
      const float* r = rows + static_cast<int64_t>(row[a]) * ld;
      const __m512 s01 = _mm512_fmadd_ps(p1, _mm512_loadu_ps(r + 16), _mm512_mul_ps(p0, _mm512_loadu_ps(r)));
      const __m512 s23 = _mm512_fmadd_ps(p3, _mm512_loadu_ps(r + 48), _mm512_mul_ps(p2, _mm512_loadu_ps(r + 32)));
      const float s = _mm512_reduce_add_ps(_mm512_add_ps(s01, s23));
      out[pos[a]] = first ? s : out[pos[a]] + s;
    }
    return;
  }
  const Masks k = masks_for(len);
  __m512 p[4];
  for (int v = 0; v < 4; ++v) p[v] = _mm512_maskz_loadu_ps(k.m[v], piece + 16 * v);
  for (int64_t a = 0; a < n; ++a) {
    const float* r = rows + static_cast<int64_t>(row[a]) * ld;
    const __m512 s01 = _mm512_fmadd_ps(p[1], _mm512_maskz_loadu_ps(k.m[1], r + 16),
                                       _mm512_mul_ps(p[0], _mm512_maskz_loadu_ps(k.m[0], r)));
    const __m512 s23 = _mm512_fmadd_ps(p[3], _mm512_maskz_loadu_ps(k.m[3], r + 48),
                                       _mm512_mul_ps(p[2], _mm512_maskz_loadu_ps(k.m[2], r + 32)));
    const float s = _mm512_reduce_add_ps(_mm512_add_ps(s01, s23));
    out[pos[a]] = first ? s : out[pos[a]] + s;
  }
}

CT_TARGET_AVX512 void gather_sum_avx512(const float* coef, const int64_t* pos, const int32_t* row, int64_t n,
                                        const float* rows, int64_t ld, int64_t len, float* piece, bool overwrite) {
  CT_CHECK(len <= kSparsePiece);
  if (len == kSparsePiece) {  // full piece: plain loads and stores, same sums as the masked path
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    if (!overwrite) {
      a0 = _mm512_loadu_ps(piece);
      a1 = _mm512_loadu_ps(piece + 16);
      a2 = _mm512_loadu_ps(piece + 32);
      a3 = _mm512_loadu_ps(piece + 48);
    }
    for (int64_t a = 0; a < n; ++a) {
      const float* r = rows + static_cast<int64_t>(row[a]) * ld;
      const __m512 c = _mm512_set1_ps(coef[pos[a]]);
      a0 = _mm512_fmadd_ps(c, _mm512_loadu_ps(r), a0);
      a1 = _mm512_fmadd_ps(c, _mm512_loadu_ps(r + 16), a1);
      a2 = _mm512_fmadd_ps(c, _mm512_loadu_ps(r + 32), a2);
      a3 = _mm512_fmadd_ps(c, _mm512_loadu_ps(r + 48), a3);
    }
    _mm512_storeu_ps(piece, a0);
    _mm512_storeu_ps(piece + 16, a1);
    _mm512_storeu_ps(piece + 32, a2);
    _mm512_storeu_ps(piece + 48, a3);
    return;
  }
  const Masks k = masks_for(len);
  __m512 acc[4];
  for (int v = 0; v < 4; ++v)
    acc[v] = overwrite ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(k.m[v], piece + 16 * v);
  for (int64_t a = 0; a < n; ++a) {
    const float* r = rows + static_cast<int64_t>(row[a]) * ld;
    const __m512 c = _mm512_set1_ps(coef[pos[a]]);
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) acc[v] = _mm512_fmadd_ps(c, _mm512_maskz_loadu_ps(k.m[v], r + 16 * v), acc[v]);
  }
  for (int v = 0; v < 4; ++v) _mm512_mask_storeu_ps(piece + 16 * v, k.m[v], acc[v]);
}

// AVX2: 8-wide steps over the full part, then a scalar tail with explicit fmaf (same rounding as
// the vector FMA).
CT_TARGET_AVX2 void axpy_rows_avx2(const float* piece, int64_t len, const float* coef, const int64_t* pos,
                                   const int32_t* row, int64_t n, float* rows, int64_t ld) {
  CT_CHECK(len <= kSparsePiece);
  const int64_t main = len / 8 * 8;
  for (int64_t a = 0; a < n; ++a) {
    float* o = rows + static_cast<int64_t>(row[a]) * ld;
    const float cf = coef[pos[a]];
    const __m256 c = _mm256_set1_ps(cf);
    for (int64_t i = 0; i < main; i += 8)
      _mm256_storeu_ps(o + i, _mm256_fmadd_ps(c, _mm256_loadu_ps(piece + i), _mm256_loadu_ps(o + i)));
    for (int64_t i = main; i < len; ++i) o[i] = std::fmaf(cf, piece[i], o[i]);
  }
}

CT_TARGET_AVX2 void dot_rows_avx2(const float* piece, int64_t len, const int64_t* pos, const int32_t* row, int64_t n,
                                  const float* rows, int64_t ld, float* out, bool first) {
  CT_CHECK(len <= kSparsePiece);
  const int64_t main = len / 8 * 8;
  for (int64_t a = 0; a < n; ++a) {
    const float* r = rows + static_cast<int64_t>(row[a]) * ld;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < main; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(piece + i), _mm256_loadu_ps(r + i), acc);
    float s = simd::hsum8(acc);
    for (int64_t i = main; i < len; ++i) s = std::fmaf(piece[i], r[i], s);
    out[pos[a]] = first ? s : out[pos[a]] + s;
  }
}

CT_TARGET_AVX2 void gather_sum_avx2(const float* coef, const int64_t* pos, const int32_t* row, int64_t n,
                                    const float* rows, int64_t ld, int64_t len, float* piece, bool overwrite) {
  CT_CHECK(len <= kSparsePiece);
  if (overwrite)
    for (int64_t i = 0; i < len; ++i) piece[i] = 0.0f;
  const int64_t main = len / 8 * 8;
  for (int64_t a = 0; a < n; ++a) {
    const float* r = rows + static_cast<int64_t>(row[a]) * ld;
    const float cf = coef[pos[a]];
    const __m256 c = _mm256_set1_ps(cf);
    for (int64_t i = 0; i < main; i += 8)
      _mm256_storeu_ps(piece + i, _mm256_fmadd_ps(c, _mm256_loadu_ps(r + i), _mm256_loadu_ps(piece + i)));
    for (int64_t i = main; i < len; ++i) piece[i] = std::fmaf(cf, r[i], piece[i]);
  }
}

}  // namespace

const SparseRowOps& sparse_row_ops(Isa isa) {
  CT_CHECK(isa_supported(isa), "sparse_row_ops: instruction set not supported by this CPU");
  static const SparseRowOps avx512{axpy_rows_avx512, dot_rows_avx512, gather_sum_avx512};
  static const SparseRowOps avx2{axpy_rows_avx2, dot_rows_avx2, gather_sum_avx2};
  static const SparseRowOps portable{ref::axpy_rows, ref::dot_rows, ref::gather_sum};
  switch (isa) {
    case Isa::kAvx512: return avx512;
    case Isa::kAvx2: return avx2;
    case Isa::kPortable: break;
  }
  return portable;
}

}  // namespace ct::kernels::cpu
