// Row ops (see vector_ops.h) and the per-ISA instantiation of simd_body.inc behind simd_table().
#include "kernels/cpu/vector_ops.h"

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/simd_table.h"

namespace ct::kernels::cpu {
namespace {

namespace portable {
using V = simd::V1;
#include "kernels/cpu/simd_body.inc"
}  // namespace portable

#if defined(__clang__)  // clang ignores GCC's target pragma
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
namespace avx2 {
using V = simd::V256;
#include "kernels/cpu/simd_body.inc"
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)  // clang ignores GCC's target pragma
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma,f16c")
#endif
namespace avx512 {
using V = simd::V512;
#include "kernels/cpu/simd_body.inc"
}  // namespace avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#define CT_SIMD_TABLE(ns)                                                                                    \
  SimdTable {                                                                                                \
    ns::layer_norm_row, ns::rms_norm_row, ns::softmax_row, ns::x_sigmoid, ns::gelu_tanh, ns::rope_row, ns::dot, \
        ns::axpy, ns::dot4, ns::axpy4, ns::scores_block, ns::pv_block, 2 * ns::kW                                                 \
  }

std::vector<float> widen_all(const WeightView& w) {
  std::vector<float> out(static_cast<std::size_t>(w.numel()));
  if (w.numel() > 0) w.widen(0, w.numel(), out.data());
  return out;
}

}  // namespace

const SimdTable& simd_table(Isa isa) {
  static const SimdTable kPortable = CT_SIMD_TABLE(portable);
  static const SimdTable kAvx2 = CT_SIMD_TABLE(avx2);
  static const SimdTable kAvx512 = CT_SIMD_TABLE(avx512);
  CT_CHECK(isa_supported(isa), "kernels: instruction set not supported by this CPU");
  return isa == Isa::kAvx512 ? kAvx512 : isa == Isa::kAvx2 ? kAvx2 : kPortable;
}

void layer_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w,
                const WeightView& b, double eps, float* y, Isa isa) {
  CT_CHECK(w.numel() == d && b.numel() == d, "layer_norm: weight or bias length differs from d");
  const SimdTable& t = simd_table(isa);
  const std::vector<float> wf = widen_all(w), bf = widen_all(b);
  ctx.parallel_for(n, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) t.layer_norm_row(x + r * d, d, wf.data(), bf.data(), eps, y + r * d);
  });
}

void rms_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w, double eps, float* y,
              Isa isa) {
  CT_CHECK(w.numel() == d, "rms_norm: weight length differs from d");
  const SimdTable& t = simd_table(isa);
  const std::vector<float> wf = widen_all(w);
  ctx.parallel_for(n, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) t.rms_norm_row(x + r * d, d, wf.data(), eps, y + r * d);
  });
}

void activate(ref::Activation a, float* x, int64_t n, Isa isa) {
  const SimdTable& t = simd_table(isa);
  switch (a) {
    case ref::Activation::kSilu: t.x_sigmoid(x, n, 1.0f); return;
    case ref::Activation::kQuickGelu: t.x_sigmoid(x, n, 1.702f); return;
    case ref::Activation::kGeluTanh: t.gelu_tanh(x, n); return;
    case ref::Activation::kGeluErf:
      for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
      return;
  }
}

void softmax_rows(float* x, int64_t n, int64_t d, Isa isa) {
  const SimdTable& t = simd_table(isa);
  if (d <= 0) return;
  for (int64_t r = 0; r < n; ++r) t.softmax_row(x + r * d, d);
}

void rope_rotate_half(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, double theta, Isa isa) {
  CT_CHECK(head_dim % 2 == 0, "rope: head_dim must be even");
  const SimdTable& t = simd_table(isa);
  const int half = head_dim / 2;
  // inv_freq, the angle, cos and sin in f32 exactly as the reference (and PyTorch) compute them.
  std::vector<float> inv_freq(static_cast<std::size_t>(half)), cs(inv_freq.size()), sn(inv_freq.size());
  const float base = static_cast<float>(theta);
  for (int j = 0; j < half; ++j) {
    const float e = static_cast<float>(2 * j) / static_cast<float>(head_dim);
    inv_freq[static_cast<std::size_t>(j)] = 1.0f / std::pow(base, e);
  }
  for (int64_t r = 0; r < n; ++r) {
    const float p = static_cast<float>(pos0 + r);
    for (int j = 0; j < half; ++j) {
      const float angle = p * inv_freq[static_cast<std::size_t>(j)];
      cs[static_cast<std::size_t>(j)] = std::cos(angle);
      sn[static_cast<std::size_t>(j)] = std::sin(angle);
    }
    t.rope_row(x + r * static_cast<int64_t>(n_heads) * head_dim, n_heads, head_dim, cs.data(), sn.data());
  }
}

}  // namespace ct::kernels::cpu
