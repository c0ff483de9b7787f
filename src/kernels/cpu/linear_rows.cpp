// Few-row linear (see linear_rows.h): one pass over W, Q weight rows x n rows of x per block.
#include "kernels/cpu/linear_rows.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/weight_rows.h"

namespace ct::kernels::cpu {

using weight_rows::dot_tail;
using weight_rows::load_w16;
using weight_rows::load_w8;
using weight_rows::row_ptr;

namespace {

// Each weight row stream is prefetched this many bytes ahead (into L1), once per cache line; the
// prefetches run on into the following rows, which are the next block's.
constexpr int64_t kPrefetchBytes = 4096;

// Weight rows j..j+Q−1 against the R rows of x: y[r, j + q].
template <int Q, int R, typename T, bool F16>
CT_TARGET_AVX512 void block_avx512(const float* x, int64_t in, const WeightView& w, const float* bias, float* y,
                                   int64_t j) {
  __m512 acc[Q][R];
  for (int q = 0; q < Q; ++q)
    for (int r = 0; r < R; ++r) acc[q][r] = _mm512_setzero_ps();
  const T* rows[Q];
  for (int q = 0; q < Q; ++q) rows[q] = row_ptr<T>(w, j + q);
  const int64_t main = in / 16 * 16;
  for (int64_t p = 0; p < main; p += 16) {
    if (p % (64 / static_cast<int64_t>(sizeof(T))) == 0)
      for (int q = 0; q < Q; ++q)
        _mm_prefetch(reinterpret_cast<const char*>(rows[q] + p) + kPrefetchBytes, _MM_HINT_T0);
    __m512 wv[Q];
    for (int q = 0; q < Q; ++q) wv[q] = load_w16<T, F16>(rows[q] + p);
    for (int r = 0; r < R; ++r) {
      const __m512 xv = _mm512_loadu_ps(x + r * in + p);
      for (int q = 0; q < Q; ++q) acc[q][r] = _mm512_fmadd_ps(wv[q], xv, acc[q][r]);
    }
  }
  for (int q = 0; q < Q; ++q) {
    float sums[R];
    for (int r = 0; r < R; ++r) sums[r] = _mm512_reduce_add_ps(acc[q][r]);
    if (main < in) dot_tail(w, j + q, x, R, in, main, sums);
    for (int r = 0; r < R; ++r) y[r * w.rows + j + q] = sums[r] + (bias != nullptr ? bias[j + q] : 0.0f);
  }
}

template <int Q, int R, typename T, bool F16>
CT_TARGET_AVX2 void block_avx2(const float* x, int64_t in, const WeightView& w, const float* bias, float* y,
                               int64_t j) {
  __m256 acc[Q][R];
  for (int q = 0; q < Q; ++q)
    for (int r = 0; r < R; ++r) acc[q][r] = _mm256_setzero_ps();
  const T* rows[Q];
  for (int q = 0; q < Q; ++q) rows[q] = row_ptr<T>(w, j + q);
  const int64_t main = in / 8 * 8;
  for (int64_t p = 0; p < main; p += 8) {
    if (p % (64 / static_cast<int64_t>(sizeof(T))) == 0)
      for (int q = 0; q < Q; ++q)
        _mm_prefetch(reinterpret_cast<const char*>(rows[q] + p) + kPrefetchBytes, _MM_HINT_T0);
    __m256 wv[Q];
    for (int q = 0; q < Q; ++q) wv[q] = load_w8<T, F16>(rows[q] + p);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + r * in + p);
      for (int q = 0; q < Q; ++q) acc[q][r] = _mm256_fmadd_ps(wv[q], xv, acc[q][r]);
    }
  }
  for (int q = 0; q < Q; ++q) {
    float sums[R];
    for (int r = 0; r < R; ++r) sums[r] = simd::hsum8(acc[q][r]);
    if (main < in) dot_tail(w, j + q, x, R, in, main, sums);
    for (int r = 0; r < R; ++r) y[r * w.rows + j + q] = sums[r] + (bias != nullptr ? bias[j + q] : 0.0f);
  }
}

using BlockFn = void (*)(const float*, int64_t, const WeightView&, const float*, float*, int64_t);

// The Q-row block and its single-row remainder for R rows of x.
struct Blocks {
  int q = 1;
  BlockFn block = nullptr, single = nullptr;
};

// AVX-512 (32 vector registers): Q = 4 weight rows for every R. Measured on the project machine
// (Zen 4, 5 rows of x, 12 distinct [3072, 768] f32 weights, interleaved runs): Q = 4 streams at
// the read bandwidth, while Q = 1..3 are 1.5-2x slower (fewer FMAs per x load); at R = 7..8 the
// 28..32 accumulators spill a little and Q = 4 is still the fastest. AVX2 (16 registers): Q = 2
// up to 4 rows, else 1, so the Q·R accumulators fit.
template <int R, typename T, bool F16>
Blocks blocks_for(Isa isa) {
  if (isa == Isa::kAvx512) return {4, block_avx512<4, R, T, F16>, block_avx512<1, R, T, F16>};
  constexpr int Q = R <= 4 ? 2 : 1;
  return {Q, block_avx2<Q, R, T, F16>, block_avx2<1, R, T, F16>};
}

template <int R>
Blocks pick_dtype(Isa isa, io::DType dt) {
  switch (dt) {
    case io::DType::kF32: return blocks_for<R, float, false>(isa);
    case io::DType::kBF16: return blocks_for<R, uint16_t, false>(isa);
    case io::DType::kF16: return blocks_for<R, uint16_t, true>(isa);
    default: CT_CHECK(false, "linear_rows: weight dtype is not f32, f16 or bf16");
  }
  return {};
}

Blocks pick(Isa isa, io::DType dt, int64_t n) {
  switch (n) {
    case 1: return pick_dtype<1>(isa, dt);
    case 2: return pick_dtype<2>(isa, dt);
    case 3: return pick_dtype<3>(isa, dt);
    case 4: return pick_dtype<4>(isa, dt);
    case 5: return pick_dtype<5>(isa, dt);
    case 6: return pick_dtype<6>(isa, dt);
    case 7: return pick_dtype<7>(isa, dt);
    default: return pick_dtype<8>(isa, dt);
  }
}

}  // namespace

namespace {

void check_part(int64_t n, int64_t in, const WeightView& w, const WeightView& bias, Isa isa) {
  CT_CHECK(n >= 1 && n <= kLinearRowsMax, "linear_rows: row count outside 1..kLinearRowsMax");
  CT_CHECK(in > 0 && w.cols == in && w.rows > 0, "linear_rows: weight shape differs from the input width");
  CT_CHECK(bias.empty() || bias.numel() == w.rows, "linear_rows: bias length differs from the output width");
  CT_CHECK(w.dtype == io::DType::kF32 || w.dtype == io::DType::kF16 || w.dtype == io::DType::kBF16,
           "linear_rows: weight dtype is not f32, f16 or bf16");
  CT_CHECK(isa_supported(isa), "linear_rows: instruction set not supported by this CPU");
}

// The bias as f32: in place when stored as f32, else widened into `storage`; null when empty.
const float* bias_f32(const WeightView& bias, std::vector<float>& storage) {
  if (bias.empty()) return nullptr;
  if (bias.dtype == io::DType::kF32) return reinterpret_cast<const float*>(bias.data);
  storage.resize(static_cast<std::size_t>(bias.numel()));
  bias.widen(0, bias.numel(), storage.data());
  return storage.data();
}

}  // namespace

void linear_rows(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
                 const WeightView& bias, float* y, Isa isa) {
  float* ys[1] = {y};
  linear_rows_multi(ctx, x, n, in, std::span<const WeightView>(&w, 1), std::span<const WeightView>(&bias, 1), ys, isa);
}

void linear_rows_multi(const ExecContext& ctx, const float* x, int64_t n, int64_t in, std::span<const WeightView> ws,
                       std::span<const WeightView> biases, std::span<float* const> ys, Isa isa) {
  CT_CHECK(ws.size() == biases.size() && ws.size() == ys.size(), "linear_rows_multi: parts of different counts");
  const std::size_t parts = ws.size();
  std::vector<std::vector<float>> widened(parts);
  std::vector<const float*> b(parts);
  std::vector<Blocks> f(parts);
  std::vector<int64_t> first(parts + 1, 0);  // first[i]: index of part i's first block among all parts
  for (std::size_t i = 0; i < parts; ++i) {
    check_part(n, in, ws[i], biases[i], isa);
    b[i] = bias_f32(biases[i], widened[i]);
    // Portable: one weight row per block, through the plain loop.
    f[i] = isa == Isa::kPortable ? Blocks{1, nullptr, nullptr} : pick(isa, ws[i].dtype, n);
    first[i + 1] = first[i] + (ws[i].rows + f[i].q - 1) / f[i].q;
  }
  ctx.parallel_for(first[parts], [&](int64_t b0, int64_t b1) {
    for (std::size_t i = 0; i < parts; ++i) {
      const int64_t lo = std::max(b0, first[i]), hi = std::min(b1, first[i + 1]);
      if (lo >= hi) continue;
      const WeightView& w = ws[i];
      const int q = f[i].q;
      const int64_t j0 = (lo - first[i]) * q, j1 = std::min(w.rows, (hi - first[i]) * q);
      if (f[i].block == nullptr) {
        weight_rows::rows_portable<kLinearRowsMax>(x, n, in, w, b[i], ys[i], j0, j1);
        continue;
      }
      int64_t j = j0;
      for (; j + q <= j1; j += q) f[i].block(x, in, w, b[i], ys[i], j);
      for (; j < j1; ++j) f[i].single(x, in, w, b[i], ys[i], j);
    }
  });
}

}  // namespace ct::kernels::cpu
