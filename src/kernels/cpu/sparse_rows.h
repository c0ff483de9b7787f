// Optimised twins of kernels/ref/sparse_rows.h: the inner loops of the sparse crosscoder products
// (kernels/sparse decode, entry_dots, scatter_rows), one latent's piece of at most kSparsePiece
// floats against the rows of its entries. The AVX-512 path holds the piece (or the running sum) in
// four registers for all the latent's entries, so each entry costs a few loads, FMAs and stores
// and no call; the AVX2 path does the same in 8-wide steps; the portable path is the reference.
// Chosen once per op with sparse_row_ops(isa).
//
// Per output element the entries are summed in order with one fused multiply-add each (AVX paths;
// the portable path as the compiler contracts it), so results are deterministic per instruction
// set. dot_rows sums its lanes in a fixed tree, not in the reference's order (tests compare within
// f32 rounding). Thread-safety: pure. Failure: len > kSparsePiece or an unsupported Isa is a
// CT_CHECK.
#pragma once

#include <cstdint>

#include "kernels/cpu/isa.h"

namespace ct::kernels::cpu {

constexpr int64_t kSparsePiece = 64;

struct SparseRowOps {
  // Same contracts as ref::axpy_rows, ref::dot_rows, ref::gather_sum; len <= kSparsePiece.
  void (*axpy_rows)(const float* piece, int64_t len, const float* coef, const int64_t* pos, const int32_t* row,
                    int64_t n, float* rows, int64_t ld);
  void (*dot_rows)(const float* piece, int64_t len, const int64_t* pos, const int32_t* row, int64_t n,
                   const float* rows, int64_t ld, float* out, bool first);
  void (*gather_sum)(const float* coef, const int64_t* pos, const int32_t* row, int64_t n, const float* rows,
                     int64_t ld, int64_t len, float* piece, bool overwrite);
};

const SparseRowOps& sparse_row_ops(Isa isa = best_isa());

}  // namespace ct::kernels::cpu
