// Optimised linear layer (see linear.h). The weight dtype and the instruction set are resolved once
// per call into template instantiations; the inner loops never branch on either.
#include "kernels/cpu/linear.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "core/aligned_vector.h"
#include "core/error.h"
#include "kernels/cpu/linear_rows.h"
#include "kernels/cpu/micro_14x32.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/weight_rows.h"
#include "tensor/convert.h"

namespace ct::kernels::cpu {

using weight_rows::dot_tail;
using weight_rows::load_w16;
using weight_rows::row_ptr;

namespace {

// ---- packing -------------------------------------------------------------------------------

// Widens n stored values at src (dtype dt) into out, per instruction set: the bf16 shift and the
// F16C conversion run 16 (8) lanes at a time; the portable path is WeightView's scalar loop.
using WidenFn = void (*)(const std::byte* src, io::DType dt, int64_t n, float* out);

void widen_portable(const std::byte* src, io::DType dt, int64_t n, float* out) {
  WeightView{src, dt, 1, n}.widen(0, n, out);
}

CT_TARGET_AVX2 void widen_avx2(const std::byte* src, io::DType dt, int64_t n, float* out) {
  if (dt == io::DType::kF32) {
    std::memcpy(out, src, static_cast<std::size_t>(n) * 4);
    return;
  }
  const auto* h = reinterpret_cast<const uint16_t*>(src);
  int64_t i = 0;
  if (dt == io::DType::kBF16) {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, simd::load8_bf16(h + i));
  } else {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, simd::load8_f16(h + i));
  }
  if (i < n) widen_portable(src + 2 * i, dt, n - i, out + i);
}

CT_TARGET_AVX512 void widen_avx512(const std::byte* src, io::DType dt, int64_t n, float* out) {
  if (dt == io::DType::kF32) {
    std::memcpy(out, src, static_cast<std::size_t>(n) * 4);
    return;
  }
  const auto* h = reinterpret_cast<const uint16_t*>(src);
  int64_t i = 0;
  if (dt == io::DType::kBF16) {
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, simd::load16_bf16(h + i));
  } else {
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, simd::load16_f16(h + i));
  }
  if (i < n) widen_portable(src + 2 * i, dt, n - i, out + i);
}

// Rows [row0, row0 + rows) of W, depth [p0, p0 + kc), widened into one NR-wide panel:
// dst[p * NR + j] = W[row0 + j, p0 + p], zero for j >= rows. Each row segment is widened into a
// contiguous scratch first (vector conversion), then scattered into the panel.
template <int NR>
void pack_w(const WeightView& w, WidenFn widen, int64_t row0, int64_t rows, int64_t p0, int64_t kc, float* scratch,
            float* dst) {
  const std::size_t esize = io::dtype_size(w.dtype);
  for (int64_t j = 0; j < NR; ++j) {
    if (j < rows) {
      widen(w.data + static_cast<std::size_t>((row0 + j) * w.cols + p0) * esize, w.dtype, kc, scratch);
      for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = scratch[p];
    } else {
      for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = 0.0f;
    }
  }
}

// Rows [i0, i0 + mc) of x [n, in], depth [p0, p0 + kc), into MR-tall panels: panel r holds kc
// groups of MR values, zero-padded past the last row.
template <int MR>
void pack_x(const float* x, int64_t in, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst) {
  for (int64_t r = 0; r < mc; r += MR) {
    const int64_t rows = std::min<int64_t>(MR, mc - r);
    float* d = dst + r * kc;
    for (int64_t i = 0; i < MR; ++i) {
      if (i < rows) {
        const float* src = x + (i0 + r + i) * in + p0;
        for (int64_t p = 0; p < kc; ++p) d[p * MR + i] = src[p];
      } else {
        for (int64_t p = 0; p < kc; ++p) d[p * MR + i] = 0.0f;
      }
    }
  }
}

// Stores an MR x NR tile `acc` into C (rows x cols valid): the first slice writes acc + bias (or
// acc), later slices add.
template <int NR>
void store_partial(const float* acc, float* c, int64_t ldc, int rows, int cols, const float* bias, bool first) {
  for (int i = 0; i < rows; ++i) {
    float* crow = c + i * ldc;
    for (int j = 0; j < cols; ++j) {
      const float v = acc[i * NR + j];
      crow[j] = first ? v + (bias != nullptr ? bias[j] : 0.0f) : crow[j] + v;
    }
  }
}

// ---- micro-kernels: C[MR x NR] (+)= A panel · B panel ---------------------------------------

using MicroKernel = void (*)(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int rows,
                             int cols, const float* bias, bool first);

void micro_portable(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int rows, int cols,
                    const float* bias, bool first) {
  constexpr int kMr = 4, kNr = 8;
  float acc[kMr * kNr] = {};
  for (int64_t p = 0; p < kc; ++p)
    for (int i = 0; i < kMr; ++i)
      for (int j = 0; j < kNr; ++j) acc[i * kNr + j] += ap[p * kMr + i] * bp[p * kNr + j];
  store_partial<kNr>(acc, c, ldc, rows, cols, bias, first);
}

CT_TARGET_AVX2 void micro_avx2(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int rows,
                               int cols, const float* bias, bool first) {
  constexpr int kMr = 6, kNr = 16;
  __m256 acc[kMr][2];
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      const __m256 a = _mm256_broadcast_ss(ap + i);
      acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
    }
    ap += kMr;
    bp += kNr;
  }
  if (rows == kMr && cols == kNr) {
    const __m256 z = _mm256_setzero_ps();
    const __m256 bias0 = bias != nullptr ? _mm256_loadu_ps(bias) : z;
    const __m256 bias1 = bias != nullptr ? _mm256_loadu_ps(bias + 8) : z;
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      float* ci = c + i * ldc;
      const __m256 base0 = first ? bias0 : _mm256_loadu_ps(ci);
      const __m256 base1 = first ? bias1 : _mm256_loadu_ps(ci + 8);
      _mm256_storeu_ps(ci, _mm256_add_ps(base0, acc[i][0]));
      _mm256_storeu_ps(ci + 8, _mm256_add_ps(base1, acc[i][1]));
    }
    return;
  }
  alignas(64) float tile[kMr * kNr];
  for (int i = 0; i < kMr; ++i) {
    _mm256_store_ps(tile + i * kNr, acc[i][0]);
    _mm256_store_ps(tile + i * kNr + 8, acc[i][1]);
  }
  store_partial<kNr>(tile, c, ldc, rows, cols, bias, first);
}

// The whole 14 x 32 tile of micro_14x32 (see micro_14x32.h).
CT_TARGET_AVX512 void micro_14x32_whole(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc,
                                        const float* bias, bool first) {
  constexpr int kMr = kTileRows, kNr = kTileCols;
  __m512 acc[kMr][2];
#pragma GCC unroll 14
  for (int i = 0; i < kMr; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 14
    for (int i = 0; i < kMr; ++i) {
      const __m512 a = _mm512_set1_ps(ap[i]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
    }
    ap += kMr;
    bp += kNr;
  }
  const __m512 z = _mm512_setzero_ps();
  const __m512 bias0 = bias != nullptr ? _mm512_loadu_ps(bias) : z;
  const __m512 bias1 = bias != nullptr ? _mm512_loadu_ps(bias + 16) : z;
#pragma GCC unroll 14
  for (int i = 0; i < kMr; ++i) {
    float* ci = c + i * ldc;
    const __m512 base0 = first ? bias0 : _mm512_loadu_ps(ci);
    const __m512 base1 = first ? bias1 : _mm512_loadu_ps(ci + 16);
    _mm512_storeu_ps(ci, _mm512_add_ps(base0, acc[i][0]));
    _mm512_storeu_ps(ci + 16, _mm512_add_ps(base1, acc[i][1]));
  }
}

}  // namespace

void micro_14x32(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int rows, int cols,
                 const float* bias, bool first) {
  if (rows == kTileRows && cols == kTileCols) {
    micro_14x32_whole(kc, ap, bp, c, ldc, bias, first);
    return;
  }
  alignas(64) float tile[kTileRows * kTileCols];
  micro_14x32_whole(kc, ap, bp, tile, kTileCols, nullptr, true);
  store_partial<kTileCols>(tile, c, ldc, rows, cols, bias, first);
}

namespace {

// ---- GEMM driver ----------------------------------------------------------------------------

// Block sizes: the KC x NR weight panel stays in L1 across the MR-row sweeps, the MC x KC block of x
// in L2 across the NR-column sweeps, the KC x NC weight block in L2/L3. AVX-512: KC 128 keeps the
// 16 KiB weight panel plus the streaming 7 KiB x panel well inside a 48 KiB L1 (KC 256 filled it and
// ran ~1.5x slower in gemm_bench on the Zen 5 test machine); MC 280 = 20 tiles of 14 rows.
template <int MR, int NR, int64_t KC, int64_t MC, int64_t NC, MicroKernel K, WidenFn Widen>
void gemm_features(const float* x, int64_t n, int64_t in, const WeightView& w, const float* bias, float* y,
                   int64_t j_begin, int64_t j_end) {
  const int64_t out = w.rows;
  const int64_t nc_max = std::min<int64_t>(NC, (j_end - j_begin + NR - 1) / NR * NR);
  const int64_t mc_max = std::min<int64_t>(MC, (n + MR - 1) / MR * MR);
  AlignedArray<float> wpack = aligned_array<float>(KC * nc_max), xpack = aligned_array<float>(KC * mc_max),
                scratch = aligned_array<float>(KC);
  for (int64_t jc = j_begin; jc < j_end; jc += NC) {
    const int64_t nc = std::min<int64_t>(NC, j_end - jc);
    for (int64_t pc = 0; pc < in; pc += KC) {
      const int64_t kc = std::min<int64_t>(KC, in - pc);
      const bool first = pc == 0;
      for (int64_t s = 0; s < nc; s += NR)
        pack_w<NR>(w, Widen, jc + s, std::min<int64_t>(NR, nc - s), pc, kc, scratch.get(), wpack.get() + s * kc);
      for (int64_t ic = 0; ic < n; ic += MC) {
        const int64_t mc = std::min<int64_t>(MC, n - ic);
        pack_x<MR>(x, in, ic, mc, pc, kc, xpack.get());
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int cols = static_cast<int>(std::min<int64_t>(NR, nc - jr));
          const float* bj = bias != nullptr ? bias + jc + jr : nullptr;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int rows = static_cast<int>(std::min<int64_t>(MR, mc - ir));
            K(kc, xpack.get() + ir * kc, wpack.get() + jr * kc, y + (ic + ir) * out + jc + jr, out, rows, cols, bj,
              first);
          }
        }
      }
    }
  }
}

template <int MR, int NR, int64_t KC, int64_t MC, int64_t NC, MicroKernel K, WidenFn Widen>
void gemm_parallel(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
                   const float* bias, float* y) {
  const int64_t out = w.rows;
  const int64_t panels = (out + NR - 1) / NR;
  ctx.parallel_for(panels, [&](int64_t p0, int64_t p1) {
    if (p1 > p0) gemm_features<MR, NR, KC, MC, NC, K, Widen>(x, n, in, w, bias, y, p0 * NR, std::min(out, p1 * NR));
  });
}

// ---- GEMV: one row of x against streamed weight rows (2..8 rows: linear_rows.h) ------------

// One row of x (decode): the thread's weight rows are one contiguous run, read as a single
// sequential stream (4 accumulators per row, a software prefetch kStreamAhead bytes ahead that runs
// on into the following rows), which keeps the memory system busier than Q interleaved row streams.
constexpr int64_t kStreamAhead = 4096;

template <typename T, bool F16>
CT_TARGET_AVX512 void gemv_stream_avx512(const float* x, int64_t in, const WeightView& w, const float* bias, float* y,
                                         int64_t j0, int64_t j1) {
  const int64_t main = in / 64 * 64, main16 = in / 16 * 16;
  for (int64_t j = j0; j < j1; ++j) {
    const T* row = row_ptr<T>(w, j);
    const auto base = reinterpret_cast<uintptr_t>(row) + kStreamAhead;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t p = 0;
    for (; p < main; p += 64) {
      for (int64_t b = 0; b < 64 * static_cast<int64_t>(sizeof(T)); b += 64)
        _mm_prefetch(reinterpret_cast<const char*>(base + static_cast<uintptr_t>(p * static_cast<int64_t>(sizeof(T)) + b)),
                     _MM_HINT_T0);
      a0 = _mm512_fmadd_ps(load_w16<T, F16>(row + p), _mm512_loadu_ps(x + p), a0);
      a1 = _mm512_fmadd_ps(load_w16<T, F16>(row + p + 16), _mm512_loadu_ps(x + p + 16), a1);
      a2 = _mm512_fmadd_ps(load_w16<T, F16>(row + p + 32), _mm512_loadu_ps(x + p + 32), a2);
      a3 = _mm512_fmadd_ps(load_w16<T, F16>(row + p + 48), _mm512_loadu_ps(x + p + 48), a3);
    }
    for (; p < main16; p += 16) a0 = _mm512_fmadd_ps(load_w16<T, F16>(row + p), _mm512_loadu_ps(x + p), a0);
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    dot_tail(w, j, x, 1, in, main16, &sum);
    y[j] = sum + (bias != nullptr ? bias[j] : 0.0f);
  }
}

void check_shapes(int64_t n, int64_t in, const WeightView& w, const WeightView& bias, Isa isa) {
  CT_CHECK(n >= 0 && in > 0 && w.cols == in && w.rows > 0, "linear: weight shape differs from the input width");
  CT_CHECK(bias.empty() || bias.numel() == w.rows, "linear: bias length differs from the output width");
  CT_CHECK(w.dtype == io::DType::kF32 || w.dtype == io::DType::kF16 || w.dtype == io::DType::kBF16,
           "linear: weight dtype is not f32, f16 or bf16");
  CT_CHECK(isa_supported(isa), "linear: instruction set not supported by this CPU");
}

std::vector<float> widen_bias(const WeightView& bias) {
  std::vector<float> b;
  if (!bias.empty()) {
    b.resize(static_cast<std::size_t>(bias.numel()));
    bias.widen(0, bias.numel(), b.data());
  }
  return b;
}

}  // namespace

void linear_gemm(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
                 const WeightView& bias, float* y, Isa isa) {
  check_shapes(n, in, w, bias, isa);
  if (n == 0) return;
  const std::vector<float> b = widen_bias(bias);
  const float* bp = b.empty() ? nullptr : b.data();
  switch (isa) {
    case Isa::kAvx512: gemm_parallel<kTileRows, kTileCols, 128, 280, 512, micro_14x32, widen_avx512>(ctx, x, n, in, w, bp, y); return;
    case Isa::kAvx2: gemm_parallel<6, 16, 256, 144, 1024, micro_avx2, widen_avx2>(ctx, x, n, in, w, bp, y); return;
    case Isa::kPortable: gemm_parallel<4, 8, 256, 128, 512, micro_portable, widen_portable>(ctx, x, n, in, w, bp, y); return;
  }
}

namespace {

using StreamFn = void (*)(const float*, int64_t, const WeightView&, const float*, float*, int64_t, int64_t);
StreamFn stream_fn(io::DType dt) {
  return dt == io::DType::kF32    ? gemv_stream_avx512<float, false>
         : dt == io::DType::kBF16 ? gemv_stream_avx512<uint16_t, false>
                                  : gemv_stream_avx512<uint16_t, true>;
}

}  // namespace

static_assert(kGemvMaxRows == kLinearRowsMax, "the GEMV path hands 2..kGemvMaxRows rows to linear_rows");

void linear_gemv(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
                 const WeightView& bias, float* y, Isa isa) {
  check_shapes(n, in, w, bias, isa);
  CT_CHECK(n <= kGemvMaxRows, "linear_gemv: more rows than the GEMV path takes");
  if (n == 0) return;
  if (n > 1 || isa != Isa::kAvx512) {
    linear_rows(ctx, x, n, in, w, bias, y, isa);
    return;
  }
  const std::vector<float> b = widen_bias(bias);
  const float* bp = b.empty() ? nullptr : b.data();
  const StreamFn fn = stream_fn(w.dtype);
  ctx.parallel_for(w.rows, [&](int64_t j0, int64_t j1) { fn(x, in, w, bp, y, j0, j1); });
}

void linear(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
            const WeightView& bias, float* y, Isa isa) {
  // Up to kGemvMaxRows rows (decode, beam search) streaming the weights once beats packing them for
  // the GEMM, which reads and writes every weight before any arithmetic (bench/mplug_bench).
  if (n <= kGemvMaxRows) linear_gemv(ctx, x, n, in, w, bias, y, isa);
  else linear_gemm(ctx, x, n, in, w, bias, y, isa);
}

void linear_group(const ExecContext& ctx, const float* x, int64_t n, int64_t in,
                  std::span<const GroupedLinear> outs, Isa isa) {
  if (n != 1 || isa != Isa::kAvx512) {
    for (const GroupedLinear& o : outs) linear(ctx, x, n, in, *o.w, *o.bias, o.y, isa);
    return;
  }
  int64_t total = 0;
  std::vector<std::vector<float>> biases;  // widened per part, empty when the part has none
  for (const GroupedLinear& o : outs) {
    check_shapes(n, in, *o.w, *o.bias, isa);
    total += o.w->rows;
    biases.push_back(widen_bias(*o.bias));
  }
  // Rows [j0, j1) of the concatenation [outs[0] rows | outs[1] rows | ...].
  ctx.parallel_for(total, [&](int64_t j0, int64_t j1) {
    int64_t first = 0;
    for (std::size_t i = 0; i < outs.size(); ++i) {
      const GroupedLinear& o = outs[i];
      const int64_t a = std::max(j0, first) - first, b = std::min(j1, first + o.w->rows) - first;
      if (a < b) stream_fn(o.w->dtype)(x, in, *o.w, biases[i].empty() ? nullptr : biases[i].data(), o.y, a, b);
      first += o.w->rows;
    }
  });
}

}  // namespace ct::kernels::cpu
