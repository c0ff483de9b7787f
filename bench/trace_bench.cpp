// Bench: `trace` on two LLaMA-7B-shaped bf16 checkpoints (hidden 4096, FFN 11008, vocab 32000),
// the second a residual-permuted, unit-permuted, noise-perturbed copy of the first.
//
// Usage: trace_bench [--layers L] [--dir DIR] [--threads N] [--keep]
//   L defaults to 4 (real width, reduced depth; 32 is the real depth: ~9 GB per model without
//   attention). Only what tracing reads is written: embed_tokens, per layer gate/up/down and
//   post_attention_layernorm, plus a zero q_proj per layer so the layout is detected as LLaMA
//   (attention weights are never read by trace). Files go to DIR (default /tmp) and are deleted
//   unless --keep.
// Prints: generation time, open + anatomy time, trace time split into fixed per-block work and the
// all-pairs localisation, the result, and the extrapolation to 32 layers: per-block terms scale
// with L, the all-pairs term with L^2.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "anatomy/anatomy.h"
#include "core/exec_context.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "lineage/blocks.h"
#include "lineage/random.h"
#include "lineage/trace.h"
#include "tensor/convert.h"

namespace fs = std::filesystem;
using namespace ct;

namespace {

constexpr int64_t kD = 4096, kH = 11008, kV = 32000;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Gaussian values, generated in parallel chunks with their own seed streams.
std::vector<float> gaussian(int64_t n, double stddev, uint64_t seed, const ExecContext& ctx) {
  std::vector<float> v(n);
  ctx.parallel_for(n, [&](int64_t b, int64_t e) {
    lineage::Rng rng(lineage::derive_seed(seed, static_cast<uint64_t>(b)));
    for (int64_t i = b; i < e; ++i) v[i] = static_cast<float>(stddev * rng.normal());
  });
  return v;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = tensor::f32_to_bf16(v[i]);
  return out;
}

struct Writer {
  std::vector<std::vector<uint16_t>> buffers;
  std::vector<io::TensorToWrite> tensors;
  void add(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
    buffers.push_back(to_bf16(v));
    tensors.push_back({name, io::DType::kBF16, std::move(shape), std::as_bytes(std::span<const uint16_t>(buffers.back()))});
  }
};

// b[i, j] = a[rows[i], cols[j]] + noise.
std::vector<float> permute_noisy(const std::vector<float>& a, int64_t r, int64_t c, const std::vector<int64_t>& rows,
                                 const std::vector<int64_t>& cols, double sigma, uint64_t seed, const ExecContext& ctx) {
  std::vector<float> noise = gaussian(r * c, sigma, seed, ctx);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) noise[i * c + j] += a[rows[i] * c + cols[j]];
  return noise;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t layers = 4;
  fs::path dir = "/tmp";
  int threads = 0;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--layers") && i + 1 < argc) layers = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--keep")) keep = true;
    else {
      std::fprintf(stderr, "usage: trace_bench [--layers L] [--dir DIR] [--threads N] [--keep]\n");
      return 2;
    }
  }
  const ExecContext ctx(threads, 0);
  const fs::path pa = dir / "crosstrace_bench_a.safetensors", pb = dir / "crosstrace_bench_b.safetensors";
  std::printf("trace_bench: %lld layers of LLaMA-7B width (d %lld, h %lld, vocab %lld), bf16, %d threads\n",
              static_cast<long long>(layers), static_cast<long long>(kD), static_cast<long long>(kH),
              static_cast<long long>(kV), ctx.threads());

  auto t0 = std::chrono::steady_clock::now();
  {
    lineage::Rng prng(99);
    const std::vector<int64_t> res = lineage::random_permutation(kD, prng);
    std::vector<int64_t> vocab(kV);
    for (int64_t i = 0; i < kV; ++i) vocab[i] = i;
    Writer wa, wb;
    const double rel = 0.1;  // perturbation, relative to the weight std
    const std::vector<float> ea = gaussian(kV * kD, 1.0, 1, ctx);
    wa.add("model.embed_tokens.weight", {kV, kD}, ea);
    wb.add("model.embed_tokens.weight", {kV, kD}, permute_noisy(ea, kV, kD, vocab, res, rel, 2, ctx));
    const std::vector<float> ones(kD, 1.0f), zeros_q(16 * kD, 0.0f);
    for (int64_t l = 0; l < layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      const std::vector<int64_t> hid = lineage::random_permutation(kH, prng);
      const double sg = 1.0 / std::sqrt(static_cast<double>(kD)), sd = 1.0 / std::sqrt(static_cast<double>(kH));
      const std::vector<float> g = gaussian(kH * kD, sg, 10 + 10 * l, ctx), u = gaussian(kH * kD, sg, 11 + 10 * l, ctx),
                               dn = gaussian(kD * kH, sd, 12 + 10 * l, ctx);
      wa.add(p + "mlp.gate_proj.weight", {kH, kD}, g);
      wa.add(p + "mlp.up_proj.weight", {kH, kD}, u);
      wa.add(p + "mlp.down_proj.weight", {kD, kH}, dn);
      wb.add(p + "mlp.gate_proj.weight", {kH, kD}, permute_noisy(g, kH, kD, hid, res, rel * sg, 13 + 10 * l, ctx));
      wb.add(p + "mlp.up_proj.weight", {kH, kD}, permute_noisy(u, kH, kD, hid, res, rel * sg, 14 + 10 * l, ctx));
      wb.add(p + "mlp.down_proj.weight", {kD, kH}, permute_noisy(dn, kD, kH, res, hid, rel * sd, 15 + 10 * l, ctx));
      for (Writer* w : {&wa, &wb}) {
        w->add(p + "post_attention_layernorm.weight", {kD}, ones);
        w->add(p + "self_attn.q_proj.weight", {16, kD}, zeros_q);  // layout marker only
      }
    }
    io::write_safetensors(pa, wa.tensors);
    io::write_safetensors(pb, wb.tensors);
  }
  const double gen_s = seconds_since(t0);
  std::printf("generate + write: %.1f s (%.2f GB per file)\n", gen_s, static_cast<double>(fs::file_size(pa)) / 1e9);

  t0 = std::chrono::steady_clock::now();
  const io::TensorStore sa = io::open_checkpoint(pa), sb = io::open_checkpoint(pb);
  const auto ca = lineage::extract_components(sa, anatomy::describe_model(sa, dir / "no-config"));
  const auto cb = lineage::extract_components(sb, anatomy::describe_model(sb, dir / "no-config"));
  const double open_s = seconds_since(t0);
  std::printf("open + anatomy + block lookup: %.2f s\n", open_s);

  lineage::TraceOptions o;
  t0 = std::chrono::steady_clock::now();
  const lineage::PairTrace p = lineage::trace_pair(ca, cb, o, ctx);
  const double trace_s = seconds_since(t0);
  // The all-pairs term alone: the same localisation tier with one block per side, timed apart.
  double pair_s = 0.0;
  if (!p.components.empty()) {
    const auto& c = p.components[0];
    std::printf("trace: %.1f s  verdict %s  log10 p %.1f  alignment %s  phi_match %.1f  phi_u %.1f\n", trace_s,
                lineage::verdict_name(p.verdict), p.log10_p, c.residual_alignment.c_str(), c.tests[0].log10_p, c.tests[1].log10_p);
    std::printf("block map:");
    for (const auto& l : c.block_map) std::printf(" %lld->%lld", static_cast<long long>(l.a), static_cast<long long>(l.b));
    std::printf("\n");
    lineage::ComponentBlocks one_a = ca[0], one_b = cb[0];
    one_a.blocks.resize(1);
    one_b.blocks.resize(1);
    t0 = std::chrono::steady_clock::now();
    lineage::trace_components(one_a, one_b, o, ctx);
    const double one_s = seconds_since(t0);
    one_a.blocks = ca[0].blocks;
    one_a.blocks.resize(2);
    one_b.blocks = cb[0].blocks;
    one_b.blocks.resize(2);
    t0 = std::chrono::steady_clock::now();
    lineage::trace_components(one_a, one_b, o, ctx);
    const double two_s = seconds_since(t0);
    // t(L) ~ fixed + per_block L + pair L^2: solve from t(1), t(2), t(layers).
    const double L = static_cast<double>(layers);
    pair_s = (trace_s - one_s - (L - 1) * (two_s - one_s)) / (L * L - 1 - 3 * (L - 1));
    if (layers <= 2 || !std::isfinite(pair_s) || pair_s < 0) pair_s = 0;
    const double per_block = two_s - one_s - 3 * pair_s;
    const double fixed = one_s - per_block - pair_s;
    const double t32 = fixed + 32 * per_block + 1024 * pair_s;
    std::printf("fit: fixed %.1f s (anchor alignment), per block %.2f s, per block pair %.3f s\n", fixed, per_block, pair_s);
    std::printf("extrapolated to 32 layers: %.0f s trace + %.1f s open (target 600 s)\n", t32, open_s);
  }
  if (!keep) {
    fs::remove(pa);
    fs::remove(pb);
  }
  return 0;
}
