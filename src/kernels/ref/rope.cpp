// Reference RoPE (rotate-half).
#include "kernels/ref/rope.h"

#include <cmath>
#include <vector>

#include "core/error.h"

namespace ct::kernels::ref {

void rope_rotate_half(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, double theta) {
  CT_CHECK(head_dim % 2 == 0, "rope: head_dim must be even");
  const int half = head_dim / 2;
  std::vector<float> inv_freq(static_cast<std::size_t>(half));
  const float base = static_cast<float>(theta);
  for (int j = 0; j < half; ++j) {
    const float e = static_cast<float>(2 * j) / static_cast<float>(head_dim);
    inv_freq[static_cast<std::size_t>(j)] = 1.0f / std::pow(base, e);
  }
  for (int64_t r = 0; r < n; ++r) {
    const float p = static_cast<float>(pos0 + r);
    for (int j = 0; j < half; ++j) {
      const float angle = p * inv_freq[static_cast<std::size_t>(j)];
      const float c = std::cos(angle), s = std::sin(angle);
      for (int h = 0; h < n_heads; ++h) {
        float* xh = x + r * static_cast<int64_t>(n_heads) * head_dim + static_cast<int64_t>(h) * head_dim;
        const float a = xh[j], b = xh[j + half];
        xh[j] = a * c - b * s;
        xh[j + half] = b * c + a * s;
      }
    }
  }
}

}  // namespace ct::kernels::ref
