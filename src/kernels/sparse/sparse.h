// Sparse codes of a crosscoder / SAE and the kernels over them: selection (BatchTopK, TopK,
// threshold / ReLU filter), sparse decoding, and the sparse backward products.
//
// Pre-activations come in as `acts` [B, F] WITHOUT the encoder bias (the GEMM output); selection
// adds `b_enc` [F] on the fly and uses r = max(0, acts + b_enc). Scores are s = r * w_j with w [F]
// the per-latent weights (sum of per-source decoder norms); the kept value is r, unscaled.
//
// Determinism: every kernel splits rows or latents statically over the ExecContext threads and
// sums in a fixed order, so results do not depend on scheduling. Ties in top-k selection are broken
// by index: the lower flat index (b * F + j) wins.
//
// T is float or double (explicitly instantiated); double exists for exact tests.
// Ownership: outputs are caller-owned objects filled by the kernels. Thread-safety: re-entrant.
// Failure: none for valid shapes (CT_CHECK on violated invariants).
#pragma once

#include <cstdint>
#include <vector>

#include "core/exec_context.h"

namespace ct::kernels::sparse {

// CSR over rows: entries of row b are [row_ptr[b], row_ptr[b+1]), latents ascending.
template <typename T>
struct SparseCode {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> row_ptr;  // [rows + 1]
  std::vector<int32_t> idx;      // [nnz] latent index
  std::vector<T> val;            // [nnz] kept value r (may be 0 when fewer scores are positive)
  int64_t nnz() const { return static_cast<int64_t>(idx.size()); }
};

// Latent-major view of a code (CSC): entries of latent j are positions pos[col_ptr[j] ..
// col_ptr[j+1]) into the code's arrays, rows ascending; row[e] is the row of that entry.
struct LatentIndex {
  std::vector<int64_t> col_ptr;  // [F + 1]
  std::vector<int64_t> pos;      // [nnz]
  std::vector<int32_t> row;      // [nnz]
};

// Keeps exactly min(k_total, B*F) entries over the whole batch with the largest scores.
// Returns the smallest strictly positive kept score (0 if none) for the threshold EMA.
template <typename T>
T batch_topk(const T* acts, const T* b_enc, const T* w, int64_t batch, int64_t dict, int64_t k_total,
             SparseCode<T>& out, const ExecContext& ctx);

// The same selection, for f32, by one vectorised pass over B*F: a sample of the scores (a 64-wide
// segment of every row, at offsets spread over the columns) gives a cutoff that a little more than
// k_total scores reach, the pass collects every score at or above it (kernels/cpu/score_scan.h),
// and the exact k_total-th key is chosen among those candidates. Exact: when the sample misleads
// (fewer than k_total candidates, a zero cutoff, or a problem too small to sample) it falls back to
// the two-pass select. batch_topk uses it for f32 problems of at least 2^20 scores; f64 always
// takes the two-pass select.
template <typename T>
T batch_topk_sampled(const T* acts, const T* b_enc, const T* w, int64_t batch, int64_t dict, int64_t k_total,
                     SparseCode<T>& out, const ExecContext& ctx);

// The two-pass select (a 16-bit histogram pass, then an emit pass with an exact select among the
// threshold bucket's entries).
template <typename T>
T batch_topk_two_pass(const T* acts, const T* b_enc, const T* w, int64_t batch, int64_t dict, int64_t k_total,
                      SparseCode<T>& out, const ExecContext& ctx);

// The same selection by a radix select with one pass over B*F per 16-bit digit (the fallback of
// batch_topk, exposed so tests can compare the two).
template <typename T>
T batch_topk_radix(const T* acts, const T* b_enc, const T* w, int64_t batch, int64_t dict, int64_t k_total,
                   SparseCode<T>& out, const ExecContext& ctx);

// Keeps the min(k, F) largest scores of every row.
template <typename T>
void row_topk(const T* acts, const T* b_enc, const T* w, int64_t batch, int64_t dict, int64_t k,
              SparseCode<T>& out, const ExecContext& ctx);

// Keeps every entry whose score (r * w_j, or r when w is null) is strictly above `cutoff`.
// ReLU: w = nullptr, cutoff = 0. Inference threshold of BatchTopK: w, cutoff = theta.
template <typename T>
void filter_code(const T* acts, const T* b_enc, const T* w, T cutoff, int64_t batch, int64_t dict,
                 SparseCode<T>& out, const ExecContext& ctx);

// Like row_topk but only among the latents with mask[j] != 0 and r > 0 (AuxK over dead latents).
template <typename T>
void masked_row_topk(const T* acts, const T* b_enc, const T* w, const uint8_t* mask, int64_t batch,
                     int64_t dict, int64_t k, SparseCode<T>& out, const ExecContext& ctx);

// out[b, :] = (bias ? bias : 0) + sum over entries (j, v) of row b of v * dec[j, :]
// dec [F, D], bias [D] or null, out [B, D].
template <typename T>
void decode(const SparseCode<T>& code, const T* dec, const T* bias, int64_t dim, T* out,
            const ExecContext& ctx);

// Per entry e = (b, j): out[e] = dot(dec[j, :], g[b, :]). dec [F, D], g [B, D], out [nnz].
template <typename T>
void entry_dots(const SparseCode<T>& code, const T* dec, const T* g, int64_t dim, T* out,
                const ExecContext& ctx);

// Builds the latent-major index of `code` (counting sort, stable in rows).
template <typename T>
void latent_index(const SparseCode<T>& code, LatentIndex& out);

// Scatter-add by latent: out[j, :] (+)= sum over entries e of latent j of coef[e] * src[row(e), :].
// coef [nnz], src [B, D], out [F, D]. With `overwrite`, every row of out is first set to zero
// (rows of latents without entries become zero), fused into the same pass.
template <typename T>
void scatter_rows(const LatentIndex& index, const T* coef, const T* src, int64_t dim, int64_t dict,
                  T* out, bool overwrite, const ExecContext& ctx);

// out[j] (+)= sum over entries of latent j of coef[e]   (bias gradients); out [F].
template <typename T>
void scatter_sum(const LatentIndex& index, const T* coef, int64_t dict, T* out, bool overwrite);

}  // namespace ct::kernels::sparse
