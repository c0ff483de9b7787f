// Reference GEMM: the plain triple loop that the optimised kernels/cpu/gemm is tested against.
//
// C[m, n] = alpha * sum_p op(A)[m, p] * op(B)[p, n] + beta * C[m, n], row-major operands with
// leading dimensions lda/ldb/ldc; op(X) is X or its transpose. Sums are accumulated in double
// (for float and double inputs) in increasing p, so the result is the executable spec.
// beta == 0 never reads C (C may hold garbage or NaN).
//
// Ownership: the caller owns every buffer. Thread-safety: re-entrant, single-threaded.
// Failure: none; shapes are the caller's invariant.
#pragma once

#include <cstdint>

namespace ct::kernels {

enum class Trans { kNo, kYes };

namespace ref {

template <typename T>
void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace ref
}  // namespace ct::kernels
