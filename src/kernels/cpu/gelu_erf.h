// Vectorised exact-form GELU, gelu(t) = 0.5·t·(1 + erf(t/√2)) (PyTorch nn.GELU(), BERT's "gelu"):
// the twin of ref::gelu_erf (kernels/ref/activations.h), tested against it over a dense range.
//
// Why: cpu::activate(kGeluErf) calls std::erf per element, which in a decoder step (5 beams x 3072
// x 12 layers) costs about as much as a whole small linear. Here 1 + erf(t/√2) is computed as
// erfc(|z|) = P(s)·e^(−z²), s = 1/(1 + p·|z|), z = t/√2 (Abramowitz-Stegun 7.1.26, absolute error
// at most 1.5e-7), taken as is for t < 0 and as 2 − erfc for t >= 0, so there is no cancellation
// for negative t; e^(−z²) through the ~1-ulp vector exp of simd.h. The absolute error of the result
// is below 1e-7·(1 + |t|) (f32 std::erf gives about the same: 1 + erf(t) rounds at the 6e-8 ulp of
// 1). The portable path keeps std::erf.
//
// Thread-safety: pure, in place on the caller's buffer. Failure: an Isa the CPU lacks is a CT_CHECK.
#pragma once

#include <cstdint>

#include "kernels/cpu/isa.h"

namespace ct::kernels::cpu {

// x[0, n) in place.
void gelu_erf(float* x, int64_t n, Isa isa = best_isa());

}  // namespace ct::kernels::cpu
