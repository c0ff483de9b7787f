// Tracing tests: the f32 tiled kernels against their f64 reference twins, and trace_components on
// planted ground truth (a pruned child: kept blocks and units known), independent pairs, and thread
// counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "anatomy/anatomy.h"
#include "io/tensor_store.h"
#include "lineage/blocks.h"
#include "lineage/dense.h"
#include "core/random.h"
#include "lineage/statistics.h"
#include "lineage/trace.h"

namespace ct::lineage {
namespace {

TEST(TraceDense, GemmMatchesReferenceOnOddShapes) {
  Rng rng(11);
  for (auto [n, m, k] : {std::array<int64_t, 3>{1, 1, 1}, {5, 7, 13}, {9, 4, 37}, {12, 17, 64}, {3, 21, 8}}) {
    const Matrix a = random_gaussian(n, k, 1.0, rng), b = random_gaussian(m, k, 1.0, rng);
    const std::vector<float> c = gemm_nt(a, b, ExecContext(2));
    const std::vector<float> c1 = gemm_nt(a, b, ExecContext(1));
    ASSERT_EQ(c, c1) << "thread count changed the bits";
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        double ref = 0.0;
        for (int64_t p = 0; p < k; ++p) ref += static_cast<double>(a.at(i, p)) * b.at(j, p);
        EXPECT_NEAR(c[i * m + j], ref, 1e-5 * (1.0 + std::sqrt(static_cast<double>(k))));
      }
  }
}

TEST(TraceDense, FastMatchAgreesWithReferenceMatch) {
  Rng rng(12);
  const ExecContext ctx(2);
  for (int rep = 0; rep < 5; ++rep) {
    const Matrix a = random_gaussian(20, 16, 1.0, rng), b = random_gaussian(31, 16, 1.0, rng);
    EXPECT_EQ(fast_match_rows(a, b, Similarity::kCosine, ctx), match_rows(a, b, Similarity::kCosine, ctx));
    EXPECT_EQ(fast_match_rows(a, b, Similarity::kAbsCosine, ctx), match_rows(a, b, Similarity::kAbsCosine, ctx));
  }
}

// A LLaMA-shaped store over owned f32 buffers (names as the llama fixture).
struct FakeModel {
  std::vector<std::unique_ptr<std::vector<float>>> buffers;
  io::TensorStore store{"fake"};
  void add(const std::string& name, const Matrix& m) {
    buffers.push_back(std::make_unique<std::vector<float>>(m.data));
    const auto& v = *buffers.back();
    store.add({name, io::DType::kF32, {m.rows, m.cols}, std::as_bytes(std::span<const float>(v)), "fake"});
  }
  void add_vector(const std::string& name, const std::vector<float>& x) {
    buffers.push_back(std::make_unique<std::vector<float>>(x));
    const auto& v = *buffers.back();
    store.add({name, io::DType::kF32, {static_cast<int64_t>(x.size())}, std::as_bytes(std::span<const float>(v)), "fake"});
  }
};

std::unique_ptr<FakeModel> make_llama(const Matrix& embed, const std::vector<Mlp>& blocks) {
  auto m = std::make_unique<FakeModel>();
  m->add("model.embed_tokens.weight", embed);
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    m->add(p + "self_attn.q_proj.weight", Matrix(embed.cols, embed.cols));
    m->add(p + "mlp.gate_proj.weight", blocks[i].gate);
    m->add(p + "mlp.up_proj.weight", blocks[i].up);
    m->add(p + "mlp.down_proj.weight", blocks[i].down);
    m->add_vector(p + "post_attention_layernorm.weight", std::vector<float>(embed.cols, 1.0f));
  }
  return m;
}

std::vector<ComponentBlocks> components_of(const FakeModel& m) {
  const anatomy::Anatomy a = anatomy::describe_model(m.store, "/nonexistent-dir-for-trace-test");
  return extract_components(m.store, a);
}

TEST(TraceComponents, PrunedChildBlocksAndWidthAreLocalised) {
  const int64_t d = 16, h = 48, v = 64;
  Rng rng(21);
  const Matrix embed = random_gaussian(v, d, 1.0, rng);
  std::vector<Mlp> parent;
  for (int i = 0; i < 6; ++i) parent.push_back(random_mlp(d, h, rng));
  // Child: parent blocks {0, 2, 3, 5}, a random half of the units each, light noise.
  std::vector<Mlp> child;
  for (int i : {0, 2, 3, 5}) {
    std::vector<int64_t> keep = random_permutation(h, rng);
    keep.resize(h / 2);
    child.push_back(add_noise(select_hidden(parent[i], keep), 0.05, rng));
  }
  auto pm = make_llama(embed, parent), cm = make_llama(embed, child);
  const auto pc = components_of(*pm), cc = components_of(*cm);
  ASSERT_EQ(pc.size(), 1u);
  ASSERT_EQ(pc[0].blocks.size(), 6u);
  ASSERT_TRUE(pc[0].is_glu);
  TraceOptions o;
  o.samples = 128;
  const ComponentTrace r = trace_components(cc[0], pc[0], o, ExecContext(2));
  std::vector<std::pair<int64_t, int64_t>> map;
  for (const auto& l : r.block_map) map.emplace_back(l.a, l.b);
  EXPECT_EQ(map, (std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {1, 2}, {2, 3}, {3, 5}}));
  EXPECT_EQ(r.verdict, Verdict::kDependent);
  EXPECT_LT(r.log10_p, -10.0);
  ASSERT_EQ(r.tests[0].name, "phi_match");
  ASSERT_EQ(r.tests[0].blocks.size(), 4u);
  EXPECT_EQ(r.tests[0].blocks[1].b, 2);
  EXPECT_EQ(r.residual_alignment, "identity");

  // Same seed, other thread count: identical numbers.
  const ComponentTrace r1 = trace_components(cc[0], pc[0], o, ExecContext(1));
  EXPECT_EQ(r1.block_log10_p, r.block_log10_p);
  EXPECT_EQ(r1.log10_p, r.log10_p);
}

TEST(TraceComponents, IndependentModelsAreNotFlagged) {
  const int64_t d = 16, h = 40, v = 64;
  int flagged = 0;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    Rng rng(100 + seed);
    const Matrix e1 = random_gaussian(v, d, 1.0, rng), e2 = random_gaussian(v, d, 1.0, rng);
    std::vector<Mlp> b1, b2;
    for (int i = 0; i < 3; ++i) b1.push_back(random_mlp(d, h, rng)), b2.push_back(random_mlp(d, h, rng));
    auto m1 = make_llama(e1, b1), m2 = make_llama(e2, b2);
    const auto c1 = components_of(*m1), c2 = components_of(*m2);
    const ComponentTrace r = trace_components(c1[0], c2[0], TraceOptions{}, ExecContext(1, seed));
    EXPECT_EQ(r.residual_alignment, "unrelated-anchors");
    flagged += r.verdict == Verdict::kDependent;
    EXPECT_GT(r.log10_p, -4.0) << "seed " << seed;
  }
  EXPECT_EQ(flagged, 0);
}

TEST(TraceComponents, ResidualPermutationAndSignedRescalingAreUndone) {
  const int64_t d = 16, h = 40, v = 64;
  Rng rng(31);
  const Matrix embed = random_gaussian(v, d, 1.0, rng);
  std::vector<Mlp> base, cam;
  const std::vector<int64_t> res = random_permutation(d, rng);
  for (int i = 0; i < 2; ++i) {
    base.push_back(random_mlp(d, h, rng));
    std::vector<float> scale(h);
    for (auto& s : scale) s = static_cast<float>((rng.uniform01() < 0.5 ? -1 : 1) * (0.5 + 1.5 * rng.uniform01()));
    cam.push_back(rescale_units(permute_hidden(permute_residual(base.back(), res), random_permutation(h, rng)), scale));
  }
  auto m1 = make_llama(embed, base), m2 = make_llama(permute_columns(embed, res), cam);
  const ComponentTrace r = trace_components(components_of(*m1)[0], components_of(*m2)[0], TraceOptions{}, ExecContext(2));
  EXPECT_EQ(r.residual_alignment, "permuted");
  EXPECT_EQ(r.verdict, Verdict::kDependent);
  EXPECT_LT(r.tests[0].log10_p, -20.0);
}

TEST(TracePair, NoComparableComponentIsInconclusiveWithANote) {
  const PairTrace p = trace_pair({}, {}, TraceOptions{}, ExecContext(1));
  EXPECT_EQ(p.verdict, Verdict::kInconclusive);
  EXPECT_TRUE(std::isnan(p.log10_p));
  EXPECT_FALSE(p.notes.empty());
}

}  // namespace
}  // namespace ct::lineage
