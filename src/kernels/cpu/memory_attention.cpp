// Attention over a memory with pre-transposed keys (see memory_attention.h), over the SimdTable's
// score, softmax and P·V blocks.
#include "kernels/cpu/memory_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/simd_table.h"

namespace ct::kernels::cpu {

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
