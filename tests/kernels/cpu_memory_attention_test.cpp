// Attention over a pre-transposed memory (kernels/cpu/memory_attention.h) against its reference
// twin, ref::attention (bidirectional, n_kv_heads = n_heads), on odd shapes: query counts around the
// 8-row block, memory lengths that are not multiples of the 32-column score block, head widths that
// take the exact-rows AVX-512 path (multiples of 32) and widths that do not; every instruction set this CPU runs; 1 and 3 threads give
// identical results; and the transposed layout itself checked element by element.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/memory_attention.h"
#include "kernels/ref/attention.h"

namespace ct::kernels {
namespace {

std::vector<cpu::Isa> isas() {
  std::vector<cpu::Isa> out;
  for (cpu::Isa i : {cpu::Isa::kPortable, cpu::Isa::kAvx2, cpu::Isa::kAvx512})
    if (cpu::isa_supported(i)) out.push_back(i);
  return out;
}

TEST(CpuMemoryAttention, KeysTransposedAndPadded) {
  const int heads = 2, hd = 3;
  const int64_t n_kv = 5, width = heads * hd, ld = cpu::memory_keys_stride(n_kv);
  EXPECT_EQ(ld, 32);
  EXPECT_EQ(cpu::memory_keys_stride(32), 32);
  EXPECT_EQ(cpu::memory_keys_stride(33), 64);
  std::vector<float> k(n_kv * width);
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<float>(i) + 1;
  std::vector<float> kt(heads * hd * ld, -1.0f);
  cpu::memory_keys_transposed(ExecContext(2), k.data(), n_kv, heads, hd, kt.data());
  for (int h = 0; h < heads; ++h)
    for (int c = 0; c < hd; ++c)
      for (int64_t j = 0; j < ld; ++j)
        EXPECT_EQ(kt[(h * hd + c) * ld + j], j < n_kv ? k[j * width + h * hd + c] : 0.0f) << h << " " << c << " " << j;
}

TEST(CpuMemoryAttention, MatchesReferenceOnOddShapesEveryIsaAndThreads) {
  std::mt19937 gen(23);
  std::normal_distribution<float> nd;
  struct Shape { int64_t n_q, n_kv; int heads, hd; };
  for (const Shape s : {Shape{1, 1, 1, 16}, Shape{5, 7, 3, 16}, Shape{5, 585, 12, 64}, Shape{8, 33, 2, 40},
                        Shape{9, 100, 3, 64}, Shape{13, 31, 2, 8}, Shape{3, 45, 2, 32}, Shape{20, 70, 2, 96}}) {
    const int64_t width = static_cast<int64_t>(s.heads) * s.hd;
    std::vector<float> q(s.n_q * width), k(s.n_kv * width), v(s.n_kv * width);
    for (auto* x : {&q, &k, &v})
      for (auto& e : *x) e = nd(gen);
    std::vector<float> want(q.size());
    ref::attention(ExecContext(1), q.data(), s.n_q, k.data(), v.data(), s.n_kv,
                   ref::AttentionShape{s.heads, s.heads, s.hd, false, 0}, want.data());
    std::vector<float> kt(static_cast<std::size_t>(width * cpu::memory_keys_stride(s.n_kv)));
    cpu::memory_keys_transposed(ExecContext(3), k.data(), s.n_kv, s.heads, s.hd, kt.data());
    for (cpu::Isa isa : isas()) {
      const std::string what = std::string(cpu::isa_name(isa)) + " n_q=" + std::to_string(s.n_q) +
                                " n_kv=" + std::to_string(s.n_kv) + " hd=" + std::to_string(s.hd);
      std::vector<float> y1(q.size(), NAN), y3(q.size(), NAN);
      cpu::memory_attention(ExecContext(1), q.data(), s.n_q, kt.data(), v.data(), s.n_kv, s.heads, s.hd, y1.data(), isa);
      cpu::memory_attention(ExecContext(3), q.data(), s.n_q, kt.data(), v.data(), s.n_kv, s.heads, s.hd, y3.data(), isa);
      EXPECT_EQ(y1, y3) << what << ": thread count changed the result";
      double worst = 0;
      for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(double(y1[i]) - want[i]));
      EXPECT_LE(worst, 2e-5) << what;
    }
  }
}

}  // namespace
}  // namespace ct::kernels
