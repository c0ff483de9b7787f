// y [n, m] = a [n, k] * b [m, k]^T in f32 (row-major, y overwritten): the crosscoder's encoder GEMM
// (a = the batch x [B, D], b = the encoder enc [F, D], y = pre-activations [B, F]). Its scalar twin
// is kernels/ref/gemm.h (Trans::kNo, Trans::kYes, alpha 1, beta 0), which the tests compare it with.
//
// Same Goto/BLIS structure and AVX-512 14x32 register tile as kernels/cpu/linear.h, but a is packed
// into 14-row panels ONCE per call (over the full depth), where linear_gemm repacks its input for
// every 512-column block of the output on every thread (16 times per thread at F = 16384). b is
// packed per 128-deep slice of each thread's 512-column block, as in linear_gemm. On CPUs without
// AVX-512F it calls linear_gemm (AVX2 or portable).
//
// Threads split the output columns in whole 32-column panels; every element of y is summed by one
// thread in a fixed order, so results do not depend on the thread count.
// Ownership: caller's buffers; the packed copy of a (4 * ceil(n / 14) * 14 * k bytes) and the
// per-thread b slices are allocated per call. Thread-safety: re-entrant.
// Failure: non-positive shapes or an unsupported Isa are CT_CHECKs.
#pragma once

#include <cstdint>

#include "core/exec_context.h"
#include "kernels/cpu/isa.h"

namespace ct::kernels::cpu {

void gemm_abt(const ExecContext& ctx, const float* a, int64_t n, int64_t k, const float* b, int64_t m, float* y,
              Isa isa = best_isa());

}  // namespace ct::kernels::cpu
