// Optimised twin of kernels/ref/score_scan.h: the 16-wide chunks of one row of pre-activations that
// hold a BatchTopK score s_j = max(0, a_j + b_j) * w_j at or above a cutoff. The sampled BatchTopK
// (kernels/sparse) scans the whole [B, F] pre-activation matrix with it once per step; almost every
// chunk is below the cutoff, so the scan runs at memory speed and the caller's scalar code visits
// only the hit lanes (recomputing their scores with the same IEEE operations).
//
// AVX-512F and AVX2 paths (function-level target attributes) and the portable reference; the
// function is chosen once per op with score_chunks_fn(isa). Every path returns exactly the chunks
// of the reference (same single-precision add, max and multiply; no contraction).
// Thread-safety: pure. Failure: asking for an Isa the CPU lacks is a CT_CHECK.
#pragma once

#include <cstdint>

#include "kernels/cpu/isa.h"

namespace ct::kernels::cpu {

// Same contract as ref::score_chunks_at_or_above.
using ScoreChunksFn = int64_t (*)(const float* a, const float* b, const float* w, int64_t n, float cutoff,
                                  int32_t* chunks, uint16_t* masks);

ScoreChunksFn score_chunks_fn(Isa isa = best_isa());

}  // namespace ct::kernels::cpu
