// Reference rotary position embedding, Hugging Face rotate-half convention
// (vlm-architectures.md 1.3): inside each head of `head_dim` dims, dimension j and j + head_dim/2
// share the angle p·inv_freq[j], inv_freq[j] = theta^(-2j/head_dim), and
//   x'[j]      = x[j]·cos − x[j+h/2]·sin
//   x'[j+h/2]  = x[j+h/2]·cos + x[j]·sin.
// inv_freq, the angle, cos and sin are computed in f32 as PyTorch does, so HF parity holds to the
// last bits. Positions are 0-based absolute: row r sits at position pos0 + r.
//
// Thread-safety: re-entrant, in place on the caller's buffer. Failure: odd head_dim is a CT_CHECK.
#pragma once

#include <cstdint>

namespace ct::kernels::ref {

// x [n, n_heads * head_dim], in place.
void rope_rotate_half(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, double theta);

}  // namespace ct::kernels::ref
