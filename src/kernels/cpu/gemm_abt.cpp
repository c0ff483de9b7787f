// Encoder GEMM with the input packed once (see gemm_abt.h).
#include "kernels/cpu/gemm_abt.h"

#include <algorithm>
#include <memory>
#include <new>

#include "core/aligned_vector.h"
#include "core/error.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/micro_14x32.h"

namespace ct::kernels::cpu {
namespace {

constexpr int kMr = kTileRows, kNr = kTileCols;
// A 512-deep slice: the 28 KiB a panel stays in a 48 KiB L1 while the 64 KiB b panels stream
// from L2; the slice of a 512-column block of b (1 MiB) and the [56, 512] block of y (112 KiB) of
// 4 a panels share a 2 MiB L2. Chosen by measurement at the crosscoder_bench shape (n 4096, k 2048,
// m 16384, 2 threads, minimum of 3 calls, four rounds alternating): 512-deep 581-593 ms against
// 256-deep 592-607 ms; 256/4 had run 7-10 % faster than 128/8 and 256/8, and 512 against 1024
// columns, or 2 or 8 panels, made no difference beyond the noise.
constexpr int64_t kKc = 512, kNc = 512, kMcPanels = 4;

// Rows [14 p, 14 p + 14) of a [n, k] as one panel over the whole depth: dst[kk * 14 + i] =
// a[14 p + i, kk], zero past row n.
void pack_a_panel(const float* a, int64_t n, int64_t k, int64_t p, float* dst) {
  for (int i = 0; i < kMr; ++i) {
    const int64_t r = p * kMr + i;
    if (r < n) {
      const float* src = a + r * k;
      for (int64_t kk = 0; kk < k; ++kk) dst[kk * kMr + i] = src[kk];
    } else {
      for (int64_t kk = 0; kk < k; ++kk) dst[kk * kMr + i] = 0.0f;
    }
  }
}

// Rows [j0, j0 + cols) of b, depth [p0, p0 + kc), as one 32-wide panel: dst[kk * 32 + j] =
// b[j0 + j, p0 + kk], zero for j >= cols.
void pack_b_panel(const float* b, int64_t k, int64_t j0, int64_t cols, int64_t p0, int64_t kc, float* dst) {
  for (int j = 0; j < kNr; ++j) {
    if (j < cols) {
      const float* src = b + (j0 + j) * k + p0;
      for (int64_t kk = 0; kk < kc; ++kk) dst[kk * kNr + j] = src[kk];
    } else {
      for (int64_t kk = 0; kk < kc; ++kk) dst[kk * kNr + j] = 0.0f;
    }
  }
}

// One thread's output columns [j_begin, j_end) (whole panels, except at the end of y). Per block of
// kNc columns, the whole depth of b is packed once (kNc x k floats, 4 MiB at k = 2048; it stays in
// L3), then the rows go by groups of kMcPanels a panels: the group's [rows, kNc] block of y stays
// in L2 while every kKc-deep slice adds into it, so y is written to memory once instead of being
// re-read and re-written for every slice.
void columns_avx512(const float* apack, int64_t n, int64_t k, const float* b, int64_t m, float* y, int64_t j_begin,
                    int64_t j_end) {
  const int64_t a_panels = (n + kMr - 1) / kMr;
  const int64_t nc_pad_max = std::min<int64_t>(kNc, (j_end - j_begin + kNr - 1) / kNr * kNr);
  AlignedArray<float> bpack = aligned_array<float>(k * nc_pad_max);
  for (int64_t jc = j_begin; jc < j_end; jc += kNc) {
    const int64_t nc = std::min(kNc, j_end - jc);
    const int64_t nc_pad = (nc + kNr - 1) / kNr * kNr;
    // Slice [pc, pc + kc) of the block at bpack + pc * nc_pad; panel s (column offset) at + s * kc.
    for (int64_t pc = 0; pc < k; pc += kKc) {
      const int64_t kc = std::min(kKc, k - pc);
      for (int64_t s = 0; s < nc; s += kNr)
        pack_b_panel(b, k, jc + s, std::min<int64_t>(kNr, nc - s), pc, kc, bpack.get() + pc * nc_pad + s * kc);
    }
    for (int64_t p0 = 0; p0 < a_panels; p0 += kMcPanels) {
      const int64_t p1 = std::min(a_panels, p0 + kMcPanels);
      for (int64_t pc = 0; pc < k; pc += kKc) {
        const int64_t kc = std::min(kKc, k - pc);
        const float* bslice = bpack.get() + pc * nc_pad;
        for (int64_t p = p0; p < p1; ++p) {
          const int rows = static_cast<int>(std::min<int64_t>(kMr, n - p * kMr));
          const float* ap = apack + p * k * kMr + pc * kMr;
          for (int64_t s = 0; s < nc; s += kNr) {
            const int cols = static_cast<int>(std::min<int64_t>(kNr, nc - s));
            micro_14x32(kc, ap, bslice + s * kc, y + p * kMr * m + jc + s, m, rows, cols, nullptr, pc == 0);
          }
        }
      }
    }
  }
}

}  // namespace

void gemm_abt(const ExecContext& ctx, const float* a, int64_t n, int64_t k, const float* b, int64_t m, float* y,
              Isa isa) {
  CT_CHECK(n > 0 && k > 0 && m > 0, "gemm_abt: shapes must be positive");
  CT_CHECK(isa_supported(isa), "gemm_abt: instruction set not supported by this CPU");
  if (isa != Isa::kAvx512) {
    linear_gemm(ctx, a, n, k, WeightView::of_f32(b, m, k), WeightView{}, y, isa);
    return;
  }
  const int64_t a_panels = (n + kMr - 1) / kMr;
  AlignedArray<float> apack = aligned_array<float>(a_panels * kMr * k);
  ctx.parallel_for(a_panels, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) pack_a_panel(a, n, k, p, apack.get() + p * k * kMr);
  });
  const int64_t b_panels = (m + kNr - 1) / kNr;
  ctx.parallel_for(b_panels, [&](int64_t q0, int64_t q1) {
    if (q1 > q0) columns_avx512(apack.get(), n, k, b, m, y, q0 * kNr, std::min(m, q1 * kNr));
  });
}

}  // namespace ct::kernels::cpu
