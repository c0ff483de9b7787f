// Reference twins of kernels/cpu/sparse_rows.h: the per-latent inner loops of the sparse crosscoder
// products, by plain loops. `rows` points at column c0 of a row-major matrix with leading dimension
// ld; `piece` is one latent's len-float piece of a decoder (or gradient) row; entry a has the
// coefficient coef[pos[a]] (or writes out[pos[a]]) and the row row[a].
// Thread-safety: pure. Failure: none.
#pragma once

#include <cstdint>

namespace ct::kernels::ref {

// rows[row[a] * ld + i] += coef[pos[a]] * piece[i], entries in order.
void axpy_rows(const float* piece, int64_t len, const float* coef, const int64_t* pos, const int32_t* row, int64_t n,
               float* rows, int64_t ld);
// out[pos[a]] = (first ? 0 : out[pos[a]]) + sum_i piece[i] * rows[row[a] * ld + i].
void dot_rows(const float* piece, int64_t len, const int64_t* pos, const int32_t* row, int64_t n, const float* rows,
              int64_t ld, float* out, bool first);
// piece[i] = (overwrite ? 0 : piece[i]) + sum over a (in order) of coef[pos[a]] * rows[row[a] * ld + i].
void gather_sum(const float* coef, const int64_t* pos, const int32_t* row, int64_t n, const float* rows, int64_t ld,
                int64_t len, float* piece, bool overwrite);

}  // namespace ct::kernels::ref
