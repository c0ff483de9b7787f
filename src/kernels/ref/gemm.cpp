// Reference GEMM (see gemm.h): readable, slow, double accumulation.
#include "kernels/ref/gemm.h"

namespace ct::kernels::ref {

template <typename T>
void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = ta == Trans::kNo ? a[i * lda + p] : a[p * lda + i];
        const double bv = tb == Trans::kNo ? b[p * ldb + j] : b[j * ldb + p];
        acc += av * bv;
      }
      T& out = c[i * ldc + j];
      out = beta == T(0) ? static_cast<T>(alpha * acc)
                         : static_cast<T>(alpha * acc + static_cast<double>(beta) * out);
    }
  }
}

template void gemm<float>(Trans, Trans, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(Trans, Trans, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

}  // namespace ct::kernels::ref
