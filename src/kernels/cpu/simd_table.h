// Private to kernels/cpu/: the per-instruction-set table of the vector bodies in simd_body.inc
// (row norms, softmax, activations, RoPE rows, dot/axpy, attention blocks). An op fetches the
// table for its Isa once and calls through it, so the SIMD path is chosen once per op.
// Thread-safety: the tables are immutable. Failure: none.
#pragma once

#include <cstdint>

#include "kernels/cpu/isa.h"

namespace ct::kernels::cpu {

constexpr int kAttnRows = 8;  // query rows per attention block

struct SimdTable {
  void (*layer_norm_row)(const float* x, int64_t d, const float* w, const float* b, double eps, float* y);
  void (*rms_norm_row)(const float* x, int64_t d, const float* w, double eps, float* y);
  void (*softmax_row)(float* x, int64_t d);
  void (*x_sigmoid)(float* x, int64_t n, float alpha);
  void (*gelu_tanh)(float* x, int64_t n);
  void (*rope_row)(float* xr, int n_heads, int head_dim, const float* cs, const float* sn);
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*axpy)(float alpha, const float* x, float* y, int64_t n);
  // Four rows at a time (decode attention): out[r] = a · (b + r·b_stride); y += Σ_r alpha[r]·(x + r·x_stride).
  void (*dot4)(const float* a, const float* b, int64_t b_stride, int64_t n, float* out);
  void (*axpy4)(const float* alpha, const float* x, int64_t x_stride, float* y, int64_t n);
  void (*scores_block)(const float* q, int hd, const float* kt, int64_t ld_kt, int64_t cols, float scale, float* s,
                       int64_t lds);
  void (*pv_block)(const float* p, int64_t ldp, int64_t nvis, const float* v, int64_t v_stride, int hd, float* o);
  int block_cols;  // the column multiple scores_block needs (2 vectors)
};

const SimdTable& simd_table(Isa isa);

}  // namespace ct::kernels::cpu
