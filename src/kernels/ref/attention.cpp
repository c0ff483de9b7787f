// Reference attention: one (query row, head) per work item, scores in a local buffer.
#include "kernels/ref/attention.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/ref/activations.h"

namespace ct::kernels::ref {

void attention(const ExecContext& ctx, const float* q, int64_t n_q, const float* k, const float* v, int64_t n_kv,
               const AttentionShape& s, float* out) {
  CT_CHECK(s.n_heads > 0 && s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0, "attention: bad head counts");
  CT_CHECK(!s.causal || s.q_pos0 + n_q <= n_kv, "attention: causal queries beyond the cache");
  const int64_t hd = s.head_dim;
  const int64_t q_stride = static_cast<int64_t>(s.n_heads) * hd;
  const int64_t kv_stride = static_cast<int64_t>(s.n_kv_heads) * hd;
  const int group = s.n_heads / s.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  ctx.parallel_for(n_q * s.n_heads, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<std::size_t>(n_kv));
    std::vector<double> acc(static_cast<std::size_t>(hd));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t i = item / s.n_heads;
      const int h = static_cast<int>(item % s.n_heads);
      const int kvh = h / group;
      const int64_t visible = s.causal ? s.q_pos0 + i + 1 : n_kv;
      const float* qi = q + i * q_stride + h * hd;
      for (int64_t j = 0; j < visible; ++j) {
        const float* kj = k + j * kv_stride + kvh * hd;
        double dot = 0.0;
        for (int64_t c = 0; c < hd; ++c) dot += static_cast<double>(qi[c]) * kj[c];
        scores[static_cast<std::size_t>(j)] = static_cast<float>(dot) * scale;
      }
      softmax_rows(scores.data(), 1, visible);
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j < visible; ++j) {
        const float* vj = v + j * kv_stride + kvh * hd;
        const double p = scores[static_cast<std::size_t>(j)];
        for (int64_t c = 0; c < hd; ++c) acc[static_cast<std::size_t>(c)] += p * vj[c];
      }
      float* oi = out + i * q_stride + h * hd;
      for (int64_t c = 0; c < hd; ++c) oi[c] = static_cast<float>(acc[static_cast<std::size_t>(c)]);
    }
  });
}

}  // namespace ct::kernels::ref
