// Optimised f32 GEMM for the CPU: packed, cache-blocked, with an AVX2+FMA micro-kernel chosen at
// run time (once per call) and a portable scalar micro-kernel otherwise. The build never needs
// -march=native: the AVX2 path is compiled with a function-level target attribute.
//
// C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C[m, n], row-major, same contract as
// kernels/ref/gemm.h (beta == 0 never reads C). Work is split statically over the threads of the
// ExecContext (columns of C when n is wide enough, rows otherwise); each element of C is computed by
// one thread with a fixed summation order, so results are bit-identical for a given thread count
// and instruction set (they may differ in the last bits between the AVX2 and the portable path).
//
// Ownership: the caller owns the operands; packing buffers are allocated per call and thread.
// Thread-safety: re-entrant. Failure: none (shapes are invariants of the caller).
#pragma once

#include <cstdint>

#include "core/exec_context.h"
#include "kernels/ref/gemm.h"

namespace ct::kernels::cpu {

void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
          const ExecContext& ctx);

// True when this CPU runs the AVX2+FMA micro-kernel.
bool gemm_uses_avx2();

// Peak f32 FMA throughput of all ctx.threads() threads together, in FLOP/s, measured with an independent-chain FMA loop
// (AVX2 when available), for benchmarks that compare against the floor. Runs for about `seconds`.
double measure_fma_peak_flops(const ExecContext& ctx, double seconds);

}  // namespace ct::kernels::cpu
