// Dense per-row kernels of the crosscoder loss (specs/crosscoders.md section 3), split statically
// over the ExecContext threads: the reconstruction error and its gradient with fused column sums
// (the decoder-bias gradient), the AuxK residual statistics and gradient, and per-latent sums of
// per-source decoder-row norms (the BatchTopK scoring weights).
//
// Rows are split into one contiguous chunk per thread; per-chunk partial sums are reduced in chunk
// order, so results are bit-identical for a given thread count (like the GEMM), and each element is
// accumulated in double. T is float (training) or double (exact tests).
// Ownership: caller's buffers. Thread-safety: re-entrant. Failure: none (shapes are invariants).
#pragma once

#include <cstdint>
#include <vector>

#include "core/exec_context.h"

namespace ct::kernels::cpu {

// For x, recon [B, D] with sources at columns [off[m], off[m+1]):
//   row_sq[b, m] = ||e_b^m||^2 with e = x - recon;
//   squared: row_loss[b] = sum_m row_sq / B,          g = -2 e / B
//   norm:    row_loss[b] = sum_m ||e_b^m|| / (B M),   g = -e / (||e_b^m|| B M)  (0 where the norm is 0)
//   g_colsum[i] = sum_b g[b, i]  (the decoder-bias gradient).
// g [B, D], row_sq [B, M], row_loss [B], g_colsum [D].
template <typename T>
void recon_loss_grad(const T* x, const T* recon, int64_t batch, const std::vector<int64_t>& off, bool squared,
                     T* g, double* row_sq, double* row_loss, T* g_colsum, const ExecContext& ctx);

// AuxK normalised residual loss on the detached residual e = x - recon and its aux reconstruction
// ehat [B, D]: num = sum_b ||e_b - ehat_b||^2, den = sum_b ||e_b - mean_b(e)||^2.
struct AuxStats {
  double num = 0, den = 0;
};
template <typename T>
AuxStats aux_residual_stats(const T* x, const T* recon, const T* ehat, int64_t batch, int64_t dim,
                            const ExecContext& ctx);
// g_aux[b, i] = coef * (e[b, i] - ehat[b, i]).
template <typename T>
void aux_residual_grad(const T* x, const T* recon, const T* ehat, int64_t batch, int64_t dim, double coef,
                       T* g_aux, const ExecContext& ctx);

// out[j] = sum_m ||dec[j, off[m]:off[m+1]]||, dec [F, D], out [F].
template <typename T>
void block_norm_sums(const T* dec, int64_t dict, const std::vector<int64_t>& off, T* out, const ExecContext& ctx);

}  // namespace ct::kernels::cpu
