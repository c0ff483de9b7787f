// Attention (see attention.h): the decode and blocked drivers over the SimdTable bodies.
#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/simd_table.h"

namespace ct::kernels::cpu {
namespace {

void attention_decode(const ExecContext& ctx, const SimdTable& t, const float* q, int64_t n_q, const float* k,
                      const float* v, int64_t n_kv, const ref::AttentionShape& s, float* out) {
  const int64_t hd = s.head_dim, q_stride = static_cast<int64_t>(s.n_heads) * hd,
                kv_stride = static_cast<int64_t>(s.n_kv_heads) * hd;
  const int group = s.n_heads / s.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  ctx.parallel_for(n_q * s.n_heads, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<std::size_t>(n_kv));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t i = item / s.n_heads;
      const int h = static_cast<int>(item % s.n_heads), kvh = h / group;
      const int64_t visible = s.causal ? s.q_pos0 + i + 1 : n_kv;
      const float* qi = q + i * q_stride + h * hd;
      for (int64_t j = 0; j < visible; ++j)
        scores[static_cast<std::size_t>(j)] = t.dot(qi, k + j * kv_stride + kvh * hd, hd) * scale;
      t.softmax_row(scores.data(), visible);
      float* oi = out + i * q_stride + h * hd;
      std::fill(oi, oi + hd, 0.0f);
      for (int64_t j = 0; j < visible; ++j) t.axpy(scores[static_cast<std::size_t>(j)], v + j * kv_stride + kvh * hd, oi, hd);
    }
  });
}

void attention_blocked(const ExecContext& ctx, const SimdTable& t, const float* q, int64_t n_q, const float* k,
                       const float* v, int64_t n_kv, const ref::AttentionShape& s, float* out) {
  const int hd = s.head_dim;
  const int64_t q_stride = static_cast<int64_t>(s.n_heads) * hd, kv_stride = static_cast<int64_t>(s.n_kv_heads) * hd;
  const int group = s.n_heads / s.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t bc = t.block_cols;
  const int64_t n_pad = (n_kv + bc - 1) / bc * bc;
  // kt [n_kv_heads, hd, n_pad]: K transposed per kv head, zero past n_kv.
  std::vector<float> kt(static_cast<std::size_t>(s.n_kv_heads) * hd * n_pad, 0.0f);
  ctx.parallel_for(static_cast<int64_t>(s.n_kv_heads) * hd, [&](int64_t l0, int64_t l1) {
    for (int64_t line = l0; line < l1; ++line) {
      const int64_t kvh = line / hd, c = line % hd;
      float* dst = kt.data() + line * n_pad;
      const float* src = k + kvh * hd + c;
      for (int64_t j = 0; j < n_kv; ++j) dst[j] = src[j * kv_stride];
    }
  });
  const int64_t blocks = (n_q + kAttnRows - 1) / kAttnRows;
  ctx.parallel_for(static_cast<int64_t>(s.n_heads) * blocks, [&](int64_t begin, int64_t end) {
    std::vector<float> qblk(static_cast<std::size_t>(kAttnRows) * hd), oblk(qblk.size()),
        sc(static_cast<std::size_t>(kAttnRows * n_pad));
    for (int64_t item = begin; item < end; ++item) {
      const int h = static_cast<int>(item / blocks), kvh = h / group;
      const int64_t i0 = (item % blocks) * kAttnRows;
      const int rows = static_cast<int>(std::min<int64_t>(kAttnRows, n_q - i0));
      for (int r = 0; r < kAttnRows; ++r)
        for (int c = 0; c < hd; ++c)
          qblk[static_cast<std::size_t>(r * hd + c)] = r < rows ? q[(i0 + r) * q_stride + h * hd + c] : 0.0f;
      const int64_t ncols = s.causal ? std::min(n_kv, s.q_pos0 + i0 + rows) : n_kv;
      const int64_t ncols_pad = (ncols + bc - 1) / bc * bc;
      t.scores_block(qblk.data(), hd, kt.data() + static_cast<int64_t>(kvh) * hd * n_pad, n_pad, ncols_pad, scale,
                     sc.data(), n_pad);
      for (int r = 0; r < kAttnRows; ++r) {
        float* sr = sc.data() + r * n_pad;
        const int64_t vis = r >= rows ? 0 : s.causal ? s.q_pos0 + i0 + r + 1 : n_kv;
        if (vis > 0) t.softmax_row(sr, vis);
        std::fill(sr + vis, sr + ncols, 0.0f);
      }
      t.pv_block(sc.data(), n_pad, ncols, v + static_cast<int64_t>(kvh) * hd, kv_stride, hd, oblk.data());
      for (int r = 0; r < rows; ++r)
        std::copy(oblk.data() + r * hd, oblk.data() + (r + 1) * hd, out + (i0 + r) * q_stride + h * hd);
    }
  });
}

}  // namespace

void attention(const ExecContext& ctx, const float* q, int64_t n_q, const float* k, const float* v, int64_t n_kv,
               const ref::AttentionShape& s, float* out, Isa isa) {
  CT_CHECK(s.n_heads > 0 && s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0, "attention: bad head counts");
  CT_CHECK(!s.causal || s.q_pos0 + n_q <= n_kv, "attention: causal queries beyond the cache");
  if (isa == Isa::kPortable) {
    ref::attention(ctx, q, n_q, k, v, n_kv, s, out);
    return;
  }
  const SimdTable& t = simd_table(isa);
  if (n_q <= kAttnDecodeRows) attention_decode(ctx, t, q, n_q, k, v, n_kv, s, out);
  else attention_blocked(ctx, t, q, n_q, k, v, n_kv, s, out);
}

}  // namespace ct::kernels::cpu
