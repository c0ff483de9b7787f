// Plain loop of the score-chunk scan (see score_scan.h).
#include "kernels/ref/score_scan.h"

namespace ct::kernels::ref {

int64_t score_chunks_at_or_above(const float* a, const float* b, const float* w, int64_t n, float cutoff,
                                 int32_t* chunks) {
  int64_t count = 0;
  for (int64_t c = 0; c * 16 < n; ++c) {
    bool hit = false;
    for (int64_t j = c * 16; j < n && j < c * 16 + 16; ++j) {
      const float sum = a[j] + b[j];
      const float r = sum > 0.0f ? sum : 0.0f;
      hit = hit || r * w[j] >= cutoff;
    }
    if (hit) chunks[count++] = static_cast<int32_t>(c);
  }
  return count;
}

}  // namespace ct::kernels::ref
