// Reference twin of kernels/cpu/score_scan.h: which 16-wide chunks of one row of pre-activations
// hold a BatchTopK score at or above a cutoff, by a plain loop.
// Thread-safety: pure. Failure: none.
#pragma once

#include <cstdint>

namespace ct::kernels::ref {

// Row of n pre-activations a [n] with encoder bias b [n] and latent weights w [n]; scores
// s_j = max(0, a_j + b_j) * w_j (NaN sums count as 0). Writes, ascending, every chunk index c such
// that some j in [16c, min(16c + 16, n)) has s_j >= cutoff into chunks [(n + 15) / 16], and beside
// it in masks the bits l of the j = 16c + l that do; returns the count.
int64_t score_chunks_at_or_above(const float* a, const float* b, const float* w, int64_t n, float cutoff,
                                 int32_t* chunks, uint16_t* masks);

}  // namespace ct::kernels::ref
