// GEMM benchmark of the linear layers the models run: y[m, n] = x[m, k] · W[n, k]ᵀ for the shapes of
// CLIP ViT-L/14-336 (577 tokens) and LLaMA-7B prefill (600 tokens), with W in f32 and in bf16
// (widened inside the packing). Prints, in one run: our GFLOP/s, the f32 FMA peak measured here
// (the floor), OpenBLAS sgemm on the same f32 operands (the alternative GEMM, when the bench was
// linked with it), and PyTorch's F.linear on the same shapes with torch.set_num_threads(threads)
// (the baseline; Debian's /usr/bin/python3, skipped with --no-torch).
//
// Usage: gemm_bench [--threads N] [--reps R] [--no-torch] [--quick]
// The machine is shared: figures are the best of R repetitions and still noisy.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/peak.h"
#include "tensor/convert.h"

#ifdef CROSSTRACE_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

using namespace ct;
using kernels::WeightView;
using Clock = std::chrono::steady_clock;

struct Shape {
  const char* what;
  int64_t m, n, k;
};

double best_seconds(int reps, const std::function<void()>& fn) {
  fn();  // warm-up: page-in, caches
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

// PyTorch timings keyed "m,n,k,dtype" (seconds), from one python run.
std::map<std::string, double> torch_times(const std::vector<Shape>& shapes, int threads, int reps) {
  std::string script =
      "import torch, time\n"
      "torch.set_num_threads(" + std::to_string(threads) + ")\n"
      "torch.manual_seed(0)\n"
      "for (m, n, k) in [";
  for (const Shape& s : shapes) script += "(" + std::to_string(s.m) + "," + std::to_string(s.n) + "," + std::to_string(s.k) + "),";
  script +=
      "]:\n"
      "  x = torch.randn(m, k)\n"
      "  for name, dt in (('f32', torch.float32), ('bf16', torch.bfloat16)):\n"
      "    w = torch.randn(n, k).to(dt); xx = x.to(dt)\n"
      "    torch.nn.functional.linear(xx, w)\n"
      "    best = 1e30\n"
      "    for _ in range(" + std::to_string(reps) + "):\n"
      "      t0 = time.perf_counter(); torch.nn.functional.linear(xx, w); best = min(best, time.perf_counter() - t0)\n"
      "    print(f'{m},{n},{k},{name} {best}', flush=True)\n";
  const std::string path = "/tmp/ct_gemm_bench_" + std::to_string(::getpid()) + ".py";
  FILE* f = std::fopen(path.c_str(), "w");
  std::map<std::string, double> out;
  if (f == nullptr) return out;
  std::fputs(script.c_str(), f);
  std::fclose(f);
  FILE* p = ::popen(("/usr/bin/python3 " + path + " 2>/dev/null").c_str(), "r");
  if (p != nullptr) {
    char key[128];
    double t;
    while (std::fscanf(p, "%127s %lf", key, &t) == 2) out[key] = t;
    ::pclose(p);
  }
  std::remove(path.c_str());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 3;
  bool torch = true, quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-torch")) torch = false;
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
  }
  const ExecContext ctx(threads);
  std::vector<Shape> shapes = {{"CLIP-L attn q/k/v/o", 577, 1024, 1024}, {"CLIP-L fc1", 577, 4096, 1024},
                               {"CLIP-L fc2", 577, 1024, 4096},          {"LLaMA-7B q/k/v/o", 600, 4096, 4096},
                               {"LLaMA-7B gate/up", 600, 11008, 4096},   {"LLaMA-7B down", 600, 4096, 11008}};
  if (quick) shapes.resize(3);
  const kernels::cpu::Isa isa = kernels::cpu::best_isa();
  const double peak = kernels::cpu::measure_fma_peak(ctx, 0.5, isa);
  const double peak_avx2 = kernels::cpu::measure_fma_peak(ctx, 0.5, kernels::cpu::Isa::kAvx2);
  std::printf("gemm_bench: %d threads, kernels %s; shared noisy machine, best of %d\n", threads,
              kernels::cpu::isa_name(isa), reps);
  std::printf("floor: f32 FMA peak %.1f GFLOP/s (%s), %.1f GFLOP/s with AVX2 only\n", peak * 1e-9,
              kernels::cpu::isa_name(isa), peak_avx2 * 1e-9);
  const std::map<std::string, double> tt = torch ? torch_times(shapes, threads, reps) : std::map<std::string, double>{};
  std::printf("%-20s %5s %6s %6s %5s | %8s %6s | %9s | %9s\n", "shape", "m", "n", "k", "W", "ours", "%peak",
              "openblas", "torch");
  std::mt19937 gen(1);
  std::normal_distribution<float> nd;
  for (const Shape& s : shapes) {
    std::vector<float> x(static_cast<std::size_t>(s.m * s.k)), w(static_cast<std::size_t>(s.n * s.k)),
        y(static_cast<std::size_t>(s.m * s.n));
    for (auto& e : x) e = nd(gen);
    for (auto& e : w) e = nd(gen) * 0.02f;
    std::vector<uint16_t> wb(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) wb[i] = tensor::f32_to_bf16(w[i]);
    const double flops = 2.0 * s.m * s.n * s.k;
    for (const char* dt : {"f32", "bf16"}) {
      const bool is_f32 = !std::strcmp(dt, "f32");
      const WeightView wv = is_f32 ? WeightView::of_f32(w.data(), s.n, s.k)
                                   : WeightView{reinterpret_cast<const std::byte*>(wb.data()), io::DType::kBF16, s.n, s.k};
      const double t = best_seconds(reps, [&] {
        kernels::cpu::linear_gemm(ctx, x.data(), s.m, s.k, wv, WeightView{}, y.data(), isa);
      });
      std::string blas = "-";
#ifdef CROSSTRACE_HAVE_OPENBLAS
      if (is_f32) {
        openblas_set_num_threads(threads);
        const double tb = best_seconds(reps, [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(s.m), static_cast<int>(s.n),
                      static_cast<int>(s.k), 1.0f, x.data(), static_cast<int>(s.k), w.data(), static_cast<int>(s.k),
                      0.0f, y.data(), static_cast<int>(s.n));
        });
        blas = std::to_string(static_cast<int>(std::lround(flops / tb * 1e-9)));
      }
#endif
      const std::string key = std::to_string(s.m) + "," + std::to_string(s.n) + "," + std::to_string(s.k) + "," + dt;
      const auto it = tt.find(key);
      const std::string torch_s = it == tt.end() ? "-" : std::to_string(static_cast<int>(std::lround(flops / it->second * 1e-9)));
      std::printf("%-20s %5lld %6lld %6lld %5s | %8.1f %5.0f%% | %9s | %9s\n", s.what, static_cast<long long>(s.m),
                  static_cast<long long>(s.n), static_cast<long long>(s.k), dt, flops / t * 1e-9, 100.0 * flops / t / peak,
                  blas.c_str(), torch_s.c_str());
    }
  }
  std::printf("GFLOP/s; openblas: cblas_sgemm on f32 W (n/a for bf16 W); torch: F.linear, bf16 row = bf16 x and W\n");
  return 0;
}
