// Attention over a memory with pre-transposed keys (see memory_attention.h), over the SimdTable's
// score, softmax and P·V blocks.
#include "kernels/cpu/memory_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/simd_table.h"

namespace ct::kernels::cpu {

namespace {

// One head, R query rows (AVX-512, head_dim a multiple of 32): the table's blocks work on 8 rows
// whatever the count, so a decoder's 5 beams would pay for 8; here exactly R.
// qh [R, hd] (packed), kth [hd, ld], v rows of stride `width` from the head's first column,
// scores [R, ld] scratch, oh [R, hd].
template <int R>
CT_TARGET_AVX512 void head_rows_avx512(const SimdTable& t, const float* qh, int hd, const float* kth, int64_t ld,
                                       int64_t n_kv, const float* v, int64_t width, float scale, float* scores,
                                       float* oh) {
  const __m512 vs = _mm512_set1_ps(scale);
  for (int64_t j = 0; j < ld; j += 32) {  // scores, 32 keys at a time
    __m512 acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int c = 0; c < hd; ++c) {
      const __m512 k0 = _mm512_loadu_ps(kth + c * ld + j), k1 = _mm512_loadu_ps(kth + c * ld + j + 16);
      for (int r = 0; r < R; ++r) {
        const __m512 a = _mm512_set1_ps(qh[r * hd + c]);
        acc[r][0] = _mm512_fmadd_ps(a, k0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(a, k1, acc[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm512_storeu_ps(scores + r * ld + j, _mm512_mul_ps(acc[r][0], vs));
      _mm512_storeu_ps(scores + r * ld + j + 16, _mm512_mul_ps(acc[r][1], vs));
    }
  }
  for (int r = 0; r < R; ++r) t.softmax_row(scores + r * ld, n_kv);
  for (int c0 = 0; c0 < hd; c0 += 32) {  // P·V, 32 output columns at a time
    __m512 acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t j = 0; j < n_kv; ++j) {
      const float* vj = v + j * width + c0;
      const __m512 v0 = _mm512_loadu_ps(vj), v1 = _mm512_loadu_ps(vj + 16);
      for (int r = 0; r < R; ++r) {
        const __m512 p = _mm512_set1_ps(scores[r * ld + j]);
        acc[r][0] = _mm512_fmadd_ps(p, v0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(p, v1, acc[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm512_storeu_ps(oh + r * hd + c0, acc[r][0]);
      _mm512_storeu_ps(oh + r * hd + c0 + 16, acc[r][1]);
    }
  }
}

using HeadRowsFn = void (*)(const SimdTable&, const float*, int, const float*, int64_t, int64_t, const float*, int64_t,
                            float, float*, float*);
constexpr HeadRowsFn kHeadRows[kAttnRows] = {head_rows_avx512<1>, head_rows_avx512<2>, head_rows_avx512<3>,
                                             head_rows_avx512<4>, head_rows_avx512<5>, head_rows_avx512<6>,
                                             head_rows_avx512<7>, head_rows_avx512<8>};

}  // namespace

void memory_keys_transposed(const ExecContext& ctx, const float* k, int64_t n_kv, int heads, int head_dim,
                            float* kt) {
  CT_CHECK(n_kv > 0 && heads > 0 && head_dim > 0, "memory_keys_transposed: empty shape");
  const int64_t ld = memory_keys_stride(n_kv), width = static_cast<int64_t>(heads) * head_dim;
  // One kt row per (head, dim) line: the line's n_kv keys, then zeros up to ld.
  ctx.parallel_for(width, [&](int64_t l0, int64_t l1) {
    for (int64_t line = l0; line < l1; ++line) {
      float* dst = kt + line * ld;
      for (int64_t j = 0; j < n_kv; ++j) dst[j] = k[j * width + line];
      std::fill(dst + n_kv, dst + ld, 0.0f);
    }
  });
}

void memory_attention(const ExecContext& ctx, const float* q, int64_t n_q, const float* kt, const float* v,
                      int64_t n_kv, int heads, int head_dim, float* out, Isa isa) {
  CT_CHECK(n_q >= 0 && n_kv > 0 && heads > 0 && head_dim > 0, "memory_attention: bad shape");
  CT_CHECK(isa_supported(isa), "memory_attention: instruction set not supported by this CPU");
  if (n_q == 0) return;
  const SimdTable& t = simd_table(isa);
  const int hd = head_dim;
  const int64_t width = static_cast<int64_t>(heads) * hd, ld = memory_keys_stride(n_kv);
  CT_CHECK(ld % t.block_cols == 0, "memory_attention: kt stride is not a multiple of the score block");
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t blocks = (n_q + kAttnRows - 1) / kAttnRows;
  const bool exact_rows = isa == Isa::kAvx512 && hd % 32 == 0;  // head_rows_avx512 fits this shape
  // Items are (head, block of kAttnRows query rows), head-major, so a thread's items share heads.
  ctx.parallel_for(static_cast<int64_t>(heads) * blocks, [&](int64_t begin, int64_t end) {
    std::vector<float> qblk(static_cast<std::size_t>(kAttnRows * hd)), oblk(qblk.size()),
        scores(static_cast<std::size_t>(kAttnRows * ld));  // [kAttnRows, ld]
    for (int64_t item = begin; item < end; ++item) {
      const int64_t h = item / blocks, i0 = (item % blocks) * kAttnRows;
      const int rows = static_cast<int>(std::min<int64_t>(kAttnRows, n_q - i0));
      for (int r = 0; r < kAttnRows; ++r)
        for (int c = 0; c < hd; ++c)
          qblk[static_cast<std::size_t>(r * hd + c)] = r < rows ? q[(i0 + r) * width + h * hd + c] : 0.0f;
      if (exact_rows) {
        kHeadRows[rows - 1](t, qblk.data(), hd, kt + h * hd * ld, ld, n_kv, v + h * hd, width, scale, scores.data(),
                            oblk.data());
        for (int r = 0; r < rows; ++r) std::copy_n(oblk.data() + r * hd, hd, out + (i0 + r) * width + h * hd);
        continue;
      }
      t.scores_block(qblk.data(), hd, kt + h * hd * ld, ld, ld, scale, scores.data(), ld);
      for (int r = 0; r < rows; ++r) t.softmax_row(scores.data() + r * ld, n_kv);
      // Padding rows (r >= rows) carry zero probabilities, so P·V leaves them zero.
      for (int r = rows; r < kAttnRows; ++r) std::fill_n(scores.data() + r * ld, n_kv, 0.0f);
      t.pv_block(scores.data(), ld, n_kv, v + h * hd, width, hd, oblk.data());
      for (int r = 0; r < rows; ++r)
        std::copy_n(oblk.data() + r * hd, hd, out + (i0 + r) * width + h * hd);
    }
  });
}

}  // namespace ct::kernels::cpu
