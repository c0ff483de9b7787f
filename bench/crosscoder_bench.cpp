// Crosscoder training-step benchmark: rows/s and step time of the sparse C++ trainer step against
// (a) the floor of its encoder GEMM, 2*B*D*F FLOPs at the FMA peak measured here on all threads, and
// (b) a dense PyTorch implementation of the same step (Debian's /usr/bin/python3 with torch,
// torch.set_num_threads(threads), same shapes and hyper-parameters), run by this program.
//
// Usage: crosscoder_bench [B=4096] [d=1024] [F=16384] [k=64] [steps=3] [threads=2] [torch_steps=2]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "crosscoder/init.h"
#include "crosscoder/model.h"
#include "crosscoder/optim.h"
#include "kernels/cpu/gemm.h"

using namespace ct;
using namespace ct::crosscoder;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

const char* kTorchScript = R"PY(
import sys, time, torch
B, d, F, k, steps, threads = map(int, sys.argv[1:7])
torch.set_num_threads(threads)
torch.manual_seed(0)
D = 2 * d
x = torch.randn(B, D)
dec = torch.randn(F, D)
for m in range(2):
    blk = dec[:, m*d:(m+1)*d]
    blk /= blk.norm(dim=1, keepdim=True)
W_dec = torch.nn.Parameter(dec.clone())
W_enc = torch.nn.Parameter(dec.t().clone())
b_enc = torch.nn.Parameter(torch.zeros(F))
b_dec = torch.nn.Parameter(torch.zeros(D))
opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
def step():
    opt.zero_grad(set_to_none=True)
    pre = x @ W_enc + b_enc
    r = torch.relu(pre)
    w = W_dec[:, :d].norm(dim=1) + W_dec[:, d:].norm(dim=1)
    s = (r * w.detach()).flatten()
    idx = s.topk(k * B, sorted=False).indices
    mask = torch.zeros_like(s).scatter_(0, idx, 1.0).view(B, F)
    z = r * mask
    xh = z @ W_dec + b_dec
    loss = ((x - xh) ** 2).sum(dim=1).mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_([W_enc, b_enc, W_dec, b_dec], 1.0)
    opt.step()
    return loss.item()
step()  # warm-up
t0 = time.perf_counter()
for _ in range(steps):
    step()
dt = (time.perf_counter() - t0) / steps
print("TORCH_STEP_MS %.3f" % (dt * 1e3))
)PY";

double run_torch(int64_t b, int64_t d, int64_t f, int64_t k, int64_t steps, int threads) {
  const std::string path = "/tmp/crosstrace_crosscoder_bench_torch.py";
  {
    std::ofstream out(path);
    out << kTorchScript;
  }
  const std::string cmd = "/usr/bin/python3 " + path + " " + std::to_string(b) + " " + std::to_string(d) + " " +
                          std::to_string(f) + " " + std::to_string(k) + " " + std::to_string(steps) + " " +
                          std::to_string(threads) + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  char line[512];
  double ms = -1;
  while (std::fgets(line, sizeof line, pipe)) {
    if (std::sscanf(line, "TORCH_STEP_MS %lf", &ms) != 1) std::fputs(line, stderr);
  }
  pclose(pipe);
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  auto arg = [&](int i, int64_t def) { return argc > i ? std::atoll(argv[i]) : def; };
  const int64_t batch = arg(1, 4096), d = arg(2, 1024), dict = arg(3, 16384), k = arg(4, 64);
  const int64_t steps = arg(5, 3);
  const int threads = static_cast<int>(arg(6, 2));
  const int64_t torch_steps = arg(7, 2);
  ExecContext ctx(threads, 1);

  const double peak = kernels::cpu::measure_fma_peak_flops(ctx, 1.0);
  CrosscoderSpec spec;
  spec.names = {"A", "B"};
  spec.dims = {d, d};
  spec.dict_size = dict;
  spec.k = k;
  const int64_t dim = 2 * d;
  Rng rng(1);
  std::vector<float> x(batch * dim);
  for (auto& v : x) v = static_cast<float>(rng.normal());
  Params<float> p = init_params(spec, 1.0, 1, nullptr, 0);
  Params<float> grads;
  AdamState<float> adam;
  AdamConfig acfg;

  // Encoder GEMM alone.
  std::vector<float> acts(batch * dict);
  double t0 = now_s();
  kernels::cpu::gemm(kernels::Trans::kNo, kernels::Trans::kYes, batch, dict, dim, 1.0f, x.data(), dim, p.enc.data(),
                     dim, 0.0f, acts.data(), dict, ctx);
  const double gemm_s = now_s() - t0;
  acts = {};
  const double flops = 2.0 * batch * dim * dict;

  LossOptions opt;
  BatchResult<float> res;
  compute_loss(spec, p, x.data(), batch, opt, res, &grads, ctx);  // warm-up
  adam_update(acfg, 1e-4, grads, p, adam, ctx);
  t0 = now_s();
  double fwd_bwd = 0;
  for (int64_t s = 0; s < steps; ++s) {
    const double a = now_s();
    compute_loss(spec, p, x.data(), batch, opt, res, &grads, ctx);
    fwd_bwd += now_s() - a;
    adam_update(acfg, 1e-4, grads, p, adam, ctx);
  }
  const double step_s = (now_s() - t0) / steps;
  const double floor_s = flops / peak;
  std::printf("crosscoder step  B=%lld D=2x%lld F=%lld k=%lld threads=%d avx2=%d\n", (long long)batch, (long long)d,
              (long long)dict, (long long)k, threads, kernels::cpu::gemm_uses_avx2() ? 1 : 0);
  std::printf("FMA peak (measured, all threads): %.1f GFLOP/s\n", peak / 1e9);
  std::printf("encoder GEMM alone: %.1f ms, %.1f GFLOP/s (%.0f%% of peak)\n", gemm_s * 1e3, flops / gemm_s / 1e9,
              100 * flops / gemm_s / peak);
  std::printf("encoder-GEMM floor: %.1f ms\n", floor_s * 1e3);
  std::printf("C++ step: %.1f ms (forward+backward %.1f ms, Adam+clip %.1f ms), %.0f rows/s, step/floor %.2fx\n",
              step_s * 1e3, fwd_bwd / steps * 1e3, step_s * 1e3 - fwd_bwd / steps * 1e3, batch / step_s,
              step_s / floor_s);
  std::fflush(stdout);
  if (torch_steps > 0) {
    const double torch_ms = run_torch(batch, d, dict, k, torch_steps, threads);
    if (torch_ms > 0)
      std::printf("PyTorch dense step: %.1f ms, %.0f rows/s; C++ speed-up %.2fx rows/s\n", torch_ms,
                  batch / (torch_ms / 1e3), torch_ms / (step_s * 1e3));
    else
      std::printf("PyTorch dense step: failed to run\n");
  }
  return 0;
}
