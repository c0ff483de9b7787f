// y [n, m] = a [n, k] * b [m, k]^T in f32 (row-major, y overwritten): the crosscoder's encoder GEMM
// (a = the batch x [B, D], b = the encoder enc [F, D], y = pre-activations [B, F]). Its scalar twin
// is kernels/ref/gemm.h (Trans::kNo, Trans::kYes, alpha 1, beta 0), which the tests compare it with.
//
// Same AVX-512 14x32 register tile as kernels/cpu/linear.h (kernels/cpu/micro_14x32.h), with two
// changes of blocking: a is packed into 14-row panels ONCE per call (over the full depth), where
// linear_gemm repacks its input for every 512-column block of the output on every thread (16 times
// per thread at F = 16384); and the depth loop runs inside groups of 4 row panels, so each [56, 512]
// block of y stays in L2 across the 512-deep slices and goes to memory once (linear_gemm's order re-reads and re-writes
// its whole [n, 512] block of y for every slice). On CPUs without AVX-512F it calls linear_gemm
// (AVX2 or portable).
//
// Threads split the output columns in whole 32-column panels; every element of y is summed by one
// thread in a fixed order, so results do not depend on the thread count.
// Ownership: caller's buffers; the packed copy of a (4 * ceil(n / 14) * 14 * k bytes) and each
// thread's packed [512, k] block of b are allocated per call. Thread-safety: re-entrant.
// Failure: non-positive shapes or an unsupported Isa are CT_CHECKs.
#pragma once

#include <cstdint>

#include "core/exec_context.h"
#include "kernels/cpu/isa.h"

namespace ct::kernels::cpu {

void gemm_abt(const ExecContext& ctx, const float* a, int64_t n, int64_t k, const float* b, int64_t m, float* y,
              Isa isa = best_isa());

}  // namespace ct::kernels::cpu
