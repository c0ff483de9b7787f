// Optimised row ops and attention (kernels/cpu/vector_ops.h, attention.h) against their reference
// twins on odd sizes (not multiples of the 8/16 lanes), on every instruction set this CPU runs,
// with 1 and 3 threads; causal with a KV cache, bidirectional, grouped-query, decode rows.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/vector_ops.h"
#include "kernels/ref/attention.h"
#include "kernels/ref/norm.h"
#include "kernels/ref/rope.h"

namespace ct::kernels {
namespace {

std::vector<cpu::Isa> isas() {
  std::vector<cpu::Isa> out;
  for (cpu::Isa i : {cpu::Isa::kPortable, cpu::Isa::kAvx2, cpu::Isa::kAvx512})
    if (cpu::isa_supported(i)) out.push_back(i);
  return out;
}

std::vector<float> randn(std::size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(n);
  for (auto& e : v) e = nd(gen) * scale;
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rel, double abs,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], abs + rel * std::fabs(want[i])) << what << " at " << i;
}

TEST(CpuVectorOps, NormsMatchReference) {
  for (int64_t d : {1, 7, 37, 100}) {
    const int64_t n = 5;
    const auto x = randn(n * d, 1, 3.0f), w = randn(d, 2), b = randn(d, 3);
    const WeightView wv = WeightView::of_f32(w.data(), 1, d), bv = WeightView::of_f32(b.data(), 1, d);
    std::vector<float> want_ln(n * d), want_rms(n * d);
    ref::layer_norm(ExecContext(1), x.data(), n, d, wv, bv, 1e-5, want_ln.data());
    ref::rms_norm(ExecContext(1), x.data(), n, d, wv, 1e-6, want_rms.data());
    for (cpu::Isa isa : isas())
      for (int threads : {1, 3}) {
        const std::string what = std::string(cpu::isa_name(isa)) + " d " + std::to_string(d);
        std::vector<float> y(n * d);
        cpu::layer_norm(ExecContext(threads), x.data(), n, d, wv, bv, 1e-5, y.data(), isa);
        expect_close(y, want_ln, 1e-5, 2e-5, "layer_norm " + what);
        std::vector<float> yi = x;  // in place
        cpu::rms_norm(ExecContext(threads), yi.data(), n, d, wv, 1e-6, yi.data(), isa);
        expect_close(yi, want_rms, 1e-5, 1e-6, "rms_norm " + what);
      }
  }
}

TEST(CpuVectorOps, SoftmaxAndActivationsMatchReference) {
  auto x = randn(3 * 37, 4, 4.0f);
  x[5] = -60.0f;  // exp far down the range
  x[40] = 80.0f;
  for (cpu::Isa isa : isas()) {
    std::vector<float> want = x, got = x;
    ref::softmax_rows(want.data(), 3, 37);
    cpu::softmax_rows(got.data(), 3, 37, isa);
    expect_close(got, want, 2e-6, 1e-9, std::string("softmax ") + cpu::isa_name(isa));
    for (ref::Activation a : {ref::Activation::kSilu, ref::Activation::kQuickGelu, ref::Activation::kGeluTanh,
                              ref::Activation::kGeluErf}) {
      std::vector<float> wa = x, ga = x;
      ref::activate(a, wa.data(), static_cast<int64_t>(wa.size()));
      cpu::activate(a, ga.data(), static_cast<int64_t>(ga.size()), isa);
      expect_close(ga, wa, 2e-6, 1e-7, std::string("activation ") + std::to_string(static_cast<int>(a)) + " " +
                                           cpu::isa_name(isa));
    }
  }
}

TEST(CpuVectorOps, RopeMatchesReference) {
  for (int head_dim : {6, 64, 128}) {
    const int heads = 3;
    const int64_t n = 5;
    const auto x = randn(n * heads * head_dim, 5);
    std::vector<float> want = x;
    ref::rope_rotate_half(want.data(), n, heads, head_dim, 17, 10000.0);
    for (cpu::Isa isa : isas()) {
      std::vector<float> got = x;
      cpu::rope_rotate_half(got.data(), n, heads, head_dim, 17, 10000.0, isa);
      expect_close(got, want, 1e-6, 1e-6, std::string("rope ") + cpu::isa_name(isa));
    }
  }
}

TEST(CpuAttention, MatchesReferenceOddShapesCausalBidirectionalGqaDecode) {
  struct Case { int heads, kv_heads, hd; int64_t n_q, n_kv; bool causal; };
  for (const Case c : {Case{3, 3, 12, 29, 29, false}, Case{4, 2, 40, 13, 37, true}, Case{4, 1, 64, 9, 9, true},
                       Case{2, 2, 20, 3, 45, true}, Case{6, 3, 128, 1, 70, true}, Case{2, 2, 7, 33, 19, false},
                       Case{3, 1, 7, 2, 5, false}, Case{8, 8, 33, 4, 4, true}}) {
    const auto q = randn(c.n_q * c.heads * c.hd, 6), k = randn(c.n_kv * c.kv_heads * c.hd, 7),
               v = randn(c.n_kv * c.kv_heads * c.hd, 8);
    ref::AttentionShape s{c.heads, c.kv_heads, c.hd, c.causal, c.causal ? c.n_kv - c.n_q : 0};
    std::vector<float> want(q.size());
    ref::attention(ExecContext(1), q.data(), c.n_q, k.data(), v.data(), c.n_kv, s, want.data());
    for (cpu::Isa isa : isas())
      for (int threads : {1, 3}) {
        std::vector<float> got(q.size(), NAN);
        cpu::attention(ExecContext(threads), q.data(), c.n_q, k.data(), v.data(), c.n_kv, s, got.data(), isa);
        expect_close(got, want, 1e-5, 2e-6,
                     std::string("attention ") + cpu::isa_name(isa) + " hd " + std::to_string(c.hd) + " n_q " +
                         std::to_string(c.n_q) + " threads " + std::to_string(threads));
      }
  }
}

}  // namespace
}  // namespace ct::kernels
