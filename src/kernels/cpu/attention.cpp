// Attention (see attention.h): the decode and blocked drivers over the SimdTable bodies.
#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/simd_table.h"

namespace ct::kernels::cpu {
namespace {

// A few query rows against the cache. Threads split the heads into contiguous ranges, and both
// passes walk the cache position-major: row j of K (and of V) holds every head's vector side by
// side, so each position reads one contiguous run (this thread's heads) instead of one head_dim
// slice every n_kv_heads·head_dim floats. Four positions go together (dot4 / axpy4: independent
// FMA chains, one load and store of the output per four positions).
void attention_decode(const ExecContext& ctx, const SimdTable& t, const float* q, int64_t n_q, const float* k,
                      const float* v, int64_t n_kv, const ref::AttentionShape& s, float* out) {
  const int64_t hd = s.head_dim, q_stride = static_cast<int64_t>(s.n_heads) * hd,
                kv_stride = static_cast<int64_t>(s.n_kv_heads) * hd;
  const int group = s.n_heads / s.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  ctx.parallel_for(s.n_heads, [&](int64_t h0, int64_t h1) {
    std::vector<float> scores(static_cast<std::size_t>((h1 - h0) * n_kv));  // [h1 - h0, n_kv]
    auto score_row = [&](int64_t h) { return scores.data() + (h - h0) * n_kv; };
    for (int64_t i = 0; i < n_q; ++i) {
      const int64_t visible = s.causal ? s.q_pos0 + i + 1 : n_kv;
      const float* qi = q + i * q_stride;
      // Scores, four positions at a time: [j, j + 4) x this thread's heads is 4 contiguous runs.
      float s4[4];
      int64_t j = 0;
      for (; j + 4 <= visible; j += 4) {
        const float* kj = k + j * kv_stride;
        for (int64_t h = h0; h < h1; ++h) {
          t.dot4(qi + h * hd, kj + (h / group) * hd, kv_stride, hd, s4);
          for (int r = 0; r < 4; ++r) score_row(h)[j + r] = s4[r] * scale;
        }
      }
      for (; j < visible; ++j) {
        const float* kj = k + j * kv_stride;
        for (int64_t h = h0; h < h1; ++h) score_row(h)[j] = t.dot(qi + h * hd, kj + (h / group) * hd, hd) * scale;
      }
      for (int64_t h = h0; h < h1; ++h) t.softmax_row(score_row(h), visible);
      float* oi = out + i * q_stride;
      std::fill(oi + h0 * hd, oi + h1 * hd, 0.0f);
      for (j = 0; j + 4 <= visible; j += 4) {
        const float* vj = v + j * kv_stride;
        for (int64_t h = h0; h < h1; ++h) t.axpy4(score_row(h) + j, vj + (h / group) * hd, kv_stride, oi + h * hd, hd);
      }
      for (; j < visible; ++j) {
        const float* vj = v + j * kv_stride;
        for (int64_t h = h0; h < h1; ++h) t.axpy(score_row(h)[j], vj + (h / group) * hd, oi + h * hd, hd);
      }
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
