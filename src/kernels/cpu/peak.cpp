// FMA-peak and bandwidth probes (see peak.h). The FMA loops keep 12 independent accumulator chains
// so the FMA latency is hidden on two pipes; the read probe sums 64-byte lines with vector loads.
#include "kernels/cpu/peak.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "kernels/cpu/simd.h"

namespace ct::kernels::cpu {
namespace {

constexpr int kChains = 12;

CT_TARGET_AVX512 float fma_avx512(int64_t iters) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-7f);
  for (int64_t t = 0; t < iters; ++t)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], mul, add);
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

CT_TARGET_AVX2 float fma_avx2(int64_t iters) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
  for (int64_t t = 0; t < iters; ++t)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], mul, add);
  __m256 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, acc[i]);
  return simd::hsum8(s);
}

float fma_portable(int64_t iters) {
  float acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = 0.001f * static_cast<float>(i);
  for (int64_t t = 0; t < iters; ++t)
    for (float& v : acc) v = v * 0.999999f + 1e-7f;
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

// Sums with independent accumulators (enough to cover the add latency at the load rate). The AVX-512
// probe is the strongest reader here (it measured 5-50 % above the AVX2 one with a software
// prefetch, depending on the host's load), which keeps the bandwidth floor conservative.
CT_TARGET_AVX512 float sum_avx512(const float* p, int64_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i + 64 <= n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

CT_TARGET_AVX2 float sum_avx2(const float* p, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
  }
  return simd::hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

float sum_portable(const float* p, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

double measure_fma_peak(const ExecContext& ctx, double seconds, Isa isa) {
  const int lanes = isa == Isa::kAvx512 ? 16 : isa == Isa::kAvx2 ? 8 : 1;
  auto run = [isa](int64_t iters) {
    return isa == Isa::kAvx512 ? fma_avx512(iters) : isa == Isa::kAvx2 ? fma_avx2(iters) : fma_portable(iters);
  };
  int64_t iters = 1 << 16;
  float sink = 0;
  for (;;) {  // calibrate on one thread
    const auto t0 = std::chrono::steady_clock::now();
    sink += run(iters);
    const double dt = seconds_since(t0);
    if (dt > 0.05) {
      iters = static_cast<int64_t>(static_cast<double>(iters) * seconds / dt) + 1;
      break;
    }
    iters *= 2;
  }
  std::vector<float> sinks(static_cast<std::size_t>(ctx.threads()), 0.0f);
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    ctx.parallel_for(ctx.threads(), [&](int64_t a, int64_t b) {
      for (int64_t t = a; t < b; ++t) sinks[static_cast<std::size_t>(t)] += run(iters);
    });
    best = std::min(best, seconds_since(t0));
  }
  for (float s : sinks) sink += s;
  volatile float keep = sink;
  (void)keep;
  return 2.0 * lanes * kChains * static_cast<double>(iters) * ctx.threads() / best;
}

ReadBandwidthProbe::ReadBandwidthProbe(const ExecContext& ctx, int64_t bytes)
    : ctx_(ctx), chunk_(std::max<int64_t>(64, bytes / 4 / ctx.threads() / 64 * 64)) {
  buf_.resize(static_cast<std::size_t>(chunk_ * ctx.threads()));
  ctx.parallel_for(ctx.threads(), [&](int64_t a, int64_t b) {  // first touch on the thread that reads it
    std::fill(buf_.begin() + a * chunk_, buf_.begin() + b * chunk_, 1.0f);
  });
}

double ReadBandwidthProbe::measure(int repeats) const {
  const Isa isa = best_isa();
  double best = 0;
  std::vector<float> sinks(static_cast<std::size_t>(ctx_.threads()), 0.0f);
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    ctx_.parallel_for(ctx_.threads(), [&](int64_t a, int64_t b) {
      for (int64_t t = a; t < b; ++t) {
        const float* p = buf_.data() + t * chunk_;
        sinks[static_cast<std::size_t>(t)] += isa == Isa::kAvx512 ? sum_avx512(p, chunk_)
                                              : isa == Isa::kAvx2  ? sum_avx2(p, chunk_)
                                                                   : sum_portable(p, chunk_);
      }
    });
    best = std::max(best, static_cast<double>(buf_.size()) * 4.0 / seconds_since(t0));
  }
  float sink = 0;
  for (float s : sinks) sink += s;
  volatile float keep = sink;
  (void)keep;
  return best;
}

double measure_read_bandwidth(const ExecContext& ctx, int64_t bytes, int repeats) {
  return ReadBandwidthProbe(ctx, bytes).measure(repeats);
}

}  // namespace ct::kernels::cpu
