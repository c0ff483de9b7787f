// Packed GEMM (see gemm.h). Goto/BLIS structure: for each NC-wide column block and KC-deep slice,
// pack op(B) into NR-wide panels; for each MC-tall row block pack op(A) into MR-tall panels; the
// micro-kernel multiplies one MR x KC panel by one KC x NR panel into an MR x NR tile of C held in
// registers. Packing absorbs the transposes and zero-pads the edges, so the micro-kernel never
// branches on shape.
#include "kernels/cpu/gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "core/aligned_vector.h"

namespace ct::kernels::cpu {
namespace {

constexpr int64_t kMr = 6;
constexpr int64_t kNr = 16;
constexpr int64_t kKc = 256;
constexpr int64_t kMc = 144;   // multiple of kMr; A block 144 x 256 floats = 144 KiB (L2)
constexpr int64_t kNc = 2048;  // multiple of kNr; B block 256 x 2048 floats = 2 MiB (L2/L3)

// op(A) rows [i0, i0+mc), depth [p0, p0+kc) -> panels of kMr rows: panel r holds kc groups of kMr.
void pack_a(Trans ta, const float* a, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
            float* out) {
  for (int64_t r = 0; r < mc; r += kMr) {
    const int64_t rows = std::min(kMr, mc - r);
    float* dst = out + r * kc;
    for (int64_t p = 0; p < kc; ++p) {
      for (int64_t i = 0; i < kMr; ++i) {
        float v = 0.0f;
        if (i < rows) {
          const int64_t row = i0 + r + i, col = p0 + p;
          v = ta == Trans::kNo ? a[row * lda + col] : a[col * lda + row];
        }
        dst[p * kMr + i] = v;
      }
    }
  }
}

// op(B) depth [p0, p0+kc), columns [j0, j0+nc) -> panels of kNr columns.
void pack_b(Trans tb, const float* b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
            float* out) {
  for (int64_t s = 0; s < nc; s += kNr) {
    const int64_t cols = std::min(kNr, nc - s);
    float* dst = out + s * kc;
    if (tb == Trans::kNo) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = b + (p0 + p) * ldb + j0 + s;
        int64_t j = 0;
        for (; j < cols; ++j) dst[p * kNr + j] = src[j];
        for (; j < kNr; ++j) dst[p * kNr + j] = 0.0f;
      }
    } else {
      // Row j of B is column j of op(B): read each row sequentially along the depth.
      for (int64_t j = 0; j < kNr; ++j) {
        if (j < cols) {
          const float* src = b + (j0 + s + j) * ldb + p0;
          for (int64_t p = 0; p < kc; ++p) dst[p * kNr + j] = src[p];
        } else {
          for (int64_t p = 0; p < kc; ++p) dst[p * kNr + j] = 0.0f;
        }
      }
    }
  }
}

// Writes the kMr x kNr tile `acc` into C (rows x cols valid): C = alpha*acc + (first ? beta*C : C).
inline void store_tile(const float* acc, float* c, int64_t ldc, int64_t rows, int64_t cols,
                       float alpha, float beta, bool first) {
  for (int64_t i = 0; i < rows; ++i) {
    float* crow = c + i * ldc;
    for (int64_t j = 0; j < cols; ++j) {
      const float v = alpha * acc[i * kNr + j];
      if (!first) crow[j] += v;
      else crow[j] = beta == 0.0f ? v : v + beta * crow[j];
    }
  }
}

void micro_kernel_portable(int64_t kc, const float* ap, const float* bp, float* acc) {
  for (int64_t i = 0; i < kMr * kNr; ++i) acc[i] = 0.0f;
  for (int64_t p = 0; p < kc; ++p) {
    for (int64_t i = 0; i < kMr; ++i) {
      const float av = ap[p * kMr + i];
      for (int64_t j = 0; j < kNr; ++j) acc[i * kNr + j] += av * bp[p * kNr + j];
    }
  }
}

__attribute__((target("avx2,fma"))) void micro_kernel_avx2(int64_t kc, const float* ap,
                                                           const float* bp, float* acc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
    __m256 a = _mm256_broadcast_ss(ap + 0);
    c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(ap + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(ap + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(ap + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(ap + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(ap + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    ap += kMr;
    bp += kNr;
  }
  _mm256_store_ps(acc + 0, c00);  _mm256_store_ps(acc + 8, c01);
  _mm256_store_ps(acc + 16, c10); _mm256_store_ps(acc + 24, c11);
  _mm256_store_ps(acc + 32, c20); _mm256_store_ps(acc + 40, c21);
  _mm256_store_ps(acc + 48, c30); _mm256_store_ps(acc + 56, c31);
  _mm256_store_ps(acc + 64, c40); _mm256_store_ps(acc + 72, c41);
  _mm256_store_ps(acc + 80, c50); _mm256_store_ps(acc + 88, c51);
}

// Full-tile fast path: C += alpha * tile (or the first-slice rule) with vector loads and stores.
__attribute__((target("avx2,fma"))) void store_full_tile_avx2(const float* acc, float* c,
                                                             int64_t ldc, float alpha, float beta,
                                                             bool first) {
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  for (int64_t i = 0; i < kMr; ++i) {
    for (int64_t j = 0; j < kNr; j += 8) {
      const __m256 v = _mm256_mul_ps(va, _mm256_load_ps(acc + i * kNr + j));
      float* dst = c + i * ldc + j;
      __m256 out;
      if (!first) out = _mm256_add_ps(_mm256_loadu_ps(dst), v);
      else if (beta == 0.0f) out = v;
      else out = _mm256_fmadd_ps(vb, _mm256_loadu_ps(dst), v);
      _mm256_storeu_ps(dst, out);
    }
  }
}

using MicroKernel = void (*)(int64_t, const float*, const float*, float*);

// One thread's share: C[0:m, 0:n] (already offset) with its own packing buffers.
void gemm_serial(bool avx2, Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  const MicroKernel kernel = avx2 ? micro_kernel_avx2 : micro_kernel_portable;
  const int64_t nc_max = std::min(kNc, (n + kNr - 1) / kNr * kNr);
  const int64_t mc_max = std::min(kMc, (m + kMr - 1) / kMr * kMr);
  AlignedArray<float> bpack = aligned_array<float>(kKc * nc_max);
  AlignedArray<float> apack = aligned_array<float>(kKc * mc_max);
  alignas(64) float acc[kMr * kNr];
  for (int64_t jc = 0; jc < n; jc += kNc) {
    const int64_t nc = std::min(kNc, n - jc);
    for (int64_t pc = 0; pc < k; pc += kKc) {
      const int64_t kc = std::min(kKc, k - pc);
      const bool first = pc == 0;
      pack_b(tb, b, ldb, pc, kc, jc, nc, bpack.get());
      for (int64_t ic = 0; ic < m; ic += kMc) {
        const int64_t mc = std::min(kMc, m - ic);
        pack_a(ta, a, lda, ic, mc, pc, kc, apack.get());
        for (int64_t jr = 0; jr < nc; jr += kNr) {
          const int64_t cols = std::min(kNr, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += kMr) {
            const int64_t rows = std::min(kMr, mc - ir);
            kernel(kc, apack.get() + ir * kc, bpack.get() + jr * kc, acc);
            float* ctile = c + (ic + ir) * ldc + jc + jr;
            if (avx2 && rows == kMr && cols == kNr) {
              store_full_tile_avx2(acc, ctile, ldc, alpha, beta, first);
            } else {
              store_tile(acc, ctile, ldc, rows, cols, alpha, beta, first);
            }
          }
        }
      }
    }
  }
}

}  // namespace

bool gemm_uses_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
          const ExecContext& ctx) {
  const bool avx2 = gemm_uses_avx2();
  const int64_t threads = ctx.threads();
  // Split the wider side of C into whole panels, one contiguous chunk per thread.
  const int64_t col_panels = (n + kNr - 1) / kNr, row_panels = (m + kMr - 1) / kMr;
  const bool by_cols = col_panels >= threads * 4 || col_panels >= row_panels;
  const int64_t panels = by_cols ? col_panels : row_panels;
  if (threads <= 1 || panels < 2 || 2.0 * m * n * k < 1e6) {
    gemm_serial(avx2, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  ctx.parallel_for(panels, [&](int64_t p0, int64_t p1) {
    if (by_cols) {
      const int64_t j0 = p0 * kNr, j1 = std::min(n, p1 * kNr);
      const float* bs = tb == Trans::kNo ? b + j0 : b + j0 * ldb;
      gemm_serial(avx2, ta, tb, m, j1 - j0, k, alpha, a, lda, bs, ldb, beta, c + j0, ldc);
    } else {
      const int64_t i0 = p0 * kMr, i1 = std::min(m, p1 * kMr);
      const float* as = ta == Trans::kNo ? a + i0 * lda : a + i0;
      gemm_serial(avx2, ta, tb, i1 - i0, n, k, alpha, as, lda, b, ldb, beta, c + i0 * ldc, ldc);
    }
  });
}

namespace {

__attribute__((target("avx2,fma"))) double fma_loop_avx2(int64_t iters) {
  // 10 independent accumulator chains hide the FMA latency on two FMA pipes.
  __m256 acc[10];
  for (int i = 0; i < 10; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
  for (int64_t t = 0; t < iters; ++t) {
    for (int i = 0; i < 10; ++i) acc[i] = _mm256_fmadd_ps(acc[i], mul, add);
  }
  __m256 s = acc[0];
  for (int i = 1; i < 10; ++i) s = _mm256_add_ps(s, acc[i]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return out[0];  // keeps the loop alive
}

double fma_loop_portable(int64_t iters) {
  float acc[8] = {0, 1e-3f, 2e-3f, 3e-3f, 4e-3f, 5e-3f, 6e-3f, 7e-3f};
  for (int64_t t = 0; t < iters; ++t)
    for (float& v : acc) v = v * 0.999999f + 1e-7f;
  return acc[0] + acc[7];
}

}  // namespace

double measure_fma_peak_flops(const ExecContext& ctx, double seconds) {
  const bool avx2 = gemm_uses_avx2();
  const double flops_per_iter = avx2 ? 10.0 * 8 * 2 : 8.0 * 2;
  // Calibrate the iteration count on one thread, then run every thread at once.
  int64_t iters = 1 << 20;
  double sink = 0.0;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    sink += avx2 ? fma_loop_avx2(iters) : fma_loop_portable(iters);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt > 0.05) {
      iters = static_cast<int64_t>(static_cast<double>(iters) * seconds / dt) + 1;
      break;
    }
    iters *= 2;
  }
  std::vector<double> sinks(ctx.threads(), 0.0);
  const auto t0 = std::chrono::steady_clock::now();
  ctx.parallel_for(ctx.threads(), [&](int64_t t0i, int64_t t1i) {
    for (int64_t t = t0i; t < t1i; ++t) sinks[t] = avx2 ? fma_loop_avx2(iters) : fma_loop_portable(iters);
  });
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (double s : sinks) sink += s;
  volatile double keep = sink;
  (void)keep;
  return flops_per_iter * static_cast<double>(iters) * ctx.threads() / dt;
}

}  // namespace ct::kernels::cpu
