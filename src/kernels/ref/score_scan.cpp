// Plain loop of the score-chunk scan (see score_scan.h).
#include "kernels/ref/score_scan.h"

namespace ct::kernels::ref {

int64_t score_chunks_at_or_above(const float* a, const float* b, const float* w, int64_t n, float cutoff,
                                 int32_t* chunks, uint16_t* masks) {
  int64_t count = 0;
  for (int64_t c = 0; c * 16 < n; ++c) {
    uint32_t mask = 0;
    for (int64_t j = c * 16; j < n && j < c * 16 + 16; ++j) {
      const float sum = a[j] + b[j];
      const float r = sum > 0.0f ? sum : 0.0f;
      if (r * w[j] >= cutoff) mask |= 1u << (j - c * 16);
    }
    if (mask == 0) continue;
    chunks[count] = static_cast<int32_t>(c);
    masks[count++] = static_cast<uint16_t>(mask);
  }
  return count;
}

}  // namespace ct::kernels::ref
