// Crosscoder training-step benchmark (issue 6): rows/s and step time of the sparse C++ trainer step
// (compute_loss + adam_update, BatchTopK, no AuxK, clip 1.0) against
//   (a) the floor of its encoder GEMM: 2*B*D*F FLOPs at the f32 FMA peak measured here on all
//       threads with the widest instruction set of this CPU (kernels/cpu/peak.h: AVX-512 where
//       present, best of 3 runs, so the floor is the machine's real one, not the AVX2 half of it);
//   (b) a dense PyTorch implementation of the same step (tools/crosscoder_torch_step.py, Debian's
//       /usr/bin/python3, torch.set_num_threads(threads), same shapes and hyper-parameters), run by
//       this program after the C++ steps;
//   (c) explained variance on a planted set: both implementations train `planted_steps` steps from
//       the same initial parameters on the same planted batches (crosscoder/planted.h, written to a
//       temporary directory for PyTorch) and report the dataset-level FVE on held-out rows.
// Every phase of the C++ step is timed (model.h StepTimes) and printed per step.
//
// Usage: crosscoder_bench [B=4096] [d=1024] [F=16384] [k=64] [steps=3] [threads=2] [torch_steps=2]
//                         [planted_steps=400]      (torch_steps 0 skips PyTorch; planted_steps 0 skips (c))
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "crosscoder/init.h"
#include "crosscoder/model.h"
#include "crosscoder/optim.h"
#include "crosscoder/planted.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_abt.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/peak.h"

using namespace ct;
using namespace ct::crosscoder;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

const std::string kTorchScript = std::string(CROSSTRACE_SOURCE_DIR) + "/tools/crosscoder_torch_step.py";

// Runs the PyTorch script with `args`; returns the numbers after `tag` on its output line.
std::vector<double> run_torch(const std::string& args, const std::string& tag) {
  const std::string cmd = "/usr/bin/python3 " + kTorchScript + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::vector<double> out;
  if (!pipe) return out;
  char line[1024];
  while (std::fgets(line, sizeof line, pipe)) {
    const std::string s(line);
    if (s.rfind(tag + " ", 0) != 0) {
      std::fputs(line, stderr);
      continue;
    }
    const char* p = line + tag.size();
    char* end = nullptr;
    for (double v = std::strtod(p, &end); end != p; v = std::strtod(p, &end)) {
      out.push_back(v);
      p = end;
    }
  }
  pclose(pipe);
  return out;
}

void write_f32(const std::string& path, const float* p, int64_t n) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(p), static_cast<std::streamsize>(n * sizeof(float)));
}

// Dataset-level FVE per source and overall of `p` on `rows` [n, 2d] (n a multiple of batch),
// BatchTopK codes per batch of `batch` rows.
std::vector<double> planted_fve(const CrosscoderSpec& spec, const Params<float>& p, const std::vector<float>& rows,
                                int64_t batch, const ExecContext& ctx) {
  const int64_t dim = spec.total_dim(), d = spec.dims[0];
  const int64_t n = static_cast<int64_t>(rows.size()) / dim;
  std::vector<double> mean(dim, 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < dim; ++i) mean[i] += rows[b * dim + i];
  for (double& m : mean) m /= static_cast<double>(n);
  double sse[2] = {0, 0}, sst[2] = {0, 0};
  BatchResult<float> res;
  for (int64_t b0 = 0; b0 + batch <= n; b0 += batch) {
    encode_decode(spec, p, rows.data() + b0 * dim, batch, CodeMode{}, res, ctx);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < dim; ++i) {
        const double x = rows[(b0 + b) * dim + i];
        const double e = x - res.recon[b * dim + i], c = x - mean[i];
        sse[i >= d] += e * e;
        sst[i >= d] += c * c;
      }
  }
  return {1 - sse[0] / sst[0], 1 - sse[1] / sst[1], 1 - (sse[0] + sse[1]) / (sst[0] + sst[1])};
}

// (c): the same planted batches, initial parameters and hyper-parameters for both implementations.
void planted_comparison(int64_t steps, int threads, const ExecContext& ctx) {
  const int64_t d = 64, dict = 512, k = 8, batch = 1024, n_eval = 16 * 1024;
  const double lr = 1e-3;
  PlantedConfig pc;
  pc.n_concepts = 512;
  pc.d_a = pc.d_b = d;
  pc.k_true = 8;
  pc.rows = steps * batch + n_eval;
  pc.seed = 7;
  PlantedSource source(make_planted(pc));
  const int64_t dim = 2 * d;
  std::vector<float> train(steps * batch * dim), eval(n_eval * dim);
  source.read(0, steps * batch, train.data());
  source.read(steps * batch, n_eval, eval.data());
  CrosscoderSpec spec;
  spec.names = {"A", "B"};
  spec.dims = {d, d};
  spec.dict_size = dict;
  spec.k = k;
  Params<float> p = init_params(spec, 1.0, 3, nullptr, 0);

  char tmpl[] = "/tmp/crosscoder_bench_XXXXXX";
  const char* dir = mkdtemp(tmpl);
  const std::string root = dir ? dir : "";
  if (dir) {
    write_f32(root + "/train.f32", train.data(), static_cast<int64_t>(train.size()));
    write_f32(root + "/eval.f32", eval.data(), static_cast<int64_t>(eval.size()));
    write_f32(root + "/enc.f32", p.enc.data(), dict * dim);
    write_f32(root + "/b_enc.f32", p.b_enc.data(), dict);
    write_f32(root + "/dec.f32", p.dec.data(), dict * dim);
    write_f32(root + "/b_dec.f32", p.b_dec.data(), dim);
  }
  Params<float> grads;
  AdamState<float> adam;
  AdamConfig acfg;
  LossOptions opt;
  BatchResult<float> res;
  for (int64_t s = 0; s < steps; ++s) {
    compute_loss(spec, p, train.data() + s * batch * dim, batch, opt, res, &grads, ctx);
    adam_update(acfg, lr, grads, p, adam, ctx);
  }
  const std::vector<double> fve = planted_fve(spec, p, eval, batch, ctx);
  std::printf("planted set (d=2x%lld, %lld concepts, k_true=%g, F=%lld, k=%lld, B=%lld, %lld steps, lr %g, "
              "eval %lld rows):\n",
              (long long)d, (long long)pc.n_concepts, pc.k_true, (long long)dict, (long long)k, (long long)batch,
              (long long)steps, lr, (long long)n_eval);
  std::printf("  C++     FVE A %.4f  B %.4f  all %.4f\n", fve[0], fve[1], fve[2]);
  std::fflush(stdout);
  if (!dir) {
    std::printf("  PyTorch FVE: could not create a temporary directory\n");
    return;
  }
  const std::vector<double> tf =
      run_torch("planted " + root + " " + std::to_string(batch) + " " + std::to_string(d) + " " +
                    std::to_string(dict) + " " + std::to_string(k) + " " + std::to_string(steps) + " " +
                    std::to_string(threads) + " " + std::to_string(lr),
                "TORCH_FVE");
  if (tf.size() == 3)
    std::printf("  PyTorch FVE A %.4f  B %.4f  all %.4f   (C++ - PyTorch, all: %+.4f)\n", tf[0], tf[1], tf[2],
                fve[2] - tf[2]);
  else
    std::printf("  PyTorch FVE: failed to run\n");
  for (const char* f : {"train", "eval", "enc", "b_enc", "dec", "b_dec"}) std::remove((root + "/" + f + ".f32").c_str());
  rmdir(root.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  auto arg = [&](int i, int64_t def) { return argc > i ? std::atoll(argv[i]) : def; };
  const int64_t batch = arg(1, 4096), d = arg(2, 1024), dict = arg(3, 16384), k = arg(4, 64);
  const int64_t steps = arg(5, 3);
  const int threads = static_cast<int>(arg(6, 2));
  const int64_t torch_steps = arg(7, 2);
  const int64_t planted_steps = arg(8, 400);
  ExecContext ctx(threads, 1);

  const kernels::cpu::Isa isa = kernels::cpu::best_isa();
  const double peak = kernels::cpu::measure_fma_peak(ctx, 0.5, isa);
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
  const double flops = 2.0 * batch * dim * dict;
  const double floor_s = flops / peak;

  std::printf("crosscoder step  B=%lld D=2x%lld F=%lld k=%lld threads=%d isa=%s\n", (long long)batch, (long long)d,
              (long long)dict, (long long)k, threads, kernels::cpu::isa_name(isa));
  std::printf("FMA peak (measured, %s, all threads, best of 3): %.1f GFLOP/s\n", kernels::cpu::isa_name(isa),
              peak / 1e9);
  std::printf("encoder-GEMM floor (2*B*D*F at that peak): %.1f ms\n", floor_s * 1e3);

  // The encoder GEMM alone on the project's three GEMMs, side by side (best of 2 calls each).
  {
    std::vector<float> acts(batch * dict);
    double old_s = 1e30, lin_s = 1e30, abt_s = 1e30;
    for (int rep = 0; rep < 2; ++rep) {
      double t0 = now_s();
      kernels::cpu::gemm(kernels::Trans::kNo, kernels::Trans::kYes, batch, dict, dim, 1.0f, x.data(), dim,
                         p.enc.data(), dim, 0.0f, acts.data(), dict, ctx);
      old_s = std::min(old_s, now_s() - t0);
      t0 = now_s();
      kernels::cpu::linear_gemm(ctx, x.data(), batch, dim, kernels::WeightView::of_f32(p.enc.data(), dict, dim),
                                kernels::WeightView{}, acts.data(), isa);
      lin_s = std::min(lin_s, now_s() - t0);
      t0 = now_s();
      kernels::cpu::gemm_abt(ctx, x.data(), batch, dim, p.enc.data(), dict, acts.data(), isa);
      abt_s = std::min(abt_s, now_s() - t0);
    }
    std::printf("encoder GEMM alone (best of 2): cpu/gemm (AVX2 6x16) %.1f ms = %.2fx floor; cpu/linear_gemm (%s) "
                "%.1f ms = %.2fx; cpu/gemm_abt (the step's, %s) %.1f ms = %.2fx\n",
                old_s * 1e3, old_s / floor_s, kernels::cpu::isa_name(isa), lin_s * 1e3, lin_s / floor_s,
                kernels::cpu::isa_name(isa), abt_s * 1e3, abt_s / floor_s);
  }

  LossOptions opt;
  BatchResult<float> res;
  compute_loss(spec, p, x.data(), batch, opt, res, &grads, ctx);  // warm-up (allocations, moments)
  adam_update(acfg, 1e-4, grads, p, adam, ctx);
  // Every step is timed by phase; the figures below are those of the fastest step (on a shared
  // machine the fastest is the least disturbed, like the best-of-3 peak it is compared with), with
  // the mean over the steps beside it.
  StepTimes best;
  double best_s = 1e30, sum_s = 0;
  for (int64_t s = 0; s < steps; ++s) {
    StepTimes times;
    opt.times = &times;
    const double a = now_s();
    compute_loss(spec, p, x.data(), batch, opt, res, &grads, ctx);
    adam_update(acfg, 1e-4, grads, p, adam, ctx, &times);
    const double dt = now_s() - a;
    sum_s += dt;
    if (dt < best_s) {
      best_s = dt;
      best = times;
    }
  }
  // The peak again after the steps; the floor uses the higher of the two measurements (stricter).
  const double peak_after = kernels::cpu::measure_fma_peak(ctx, 0.5, isa);
  const double peak_max = std::max(peak, peak_after);
  const double floor_max = flops / peak_max;
  const double step_s = best_s, mean_s = sum_s / static_cast<double>(steps);
  std::printf("FMA peak again after the steps: %.1f GFLOP/s; floor at the higher peak: %.1f ms\n", peak_after / 1e9,
              floor_max * 1e3);
  std::printf("C++ step (fastest of %lld): %.1f ms, %.0f rows/s, step/floor %.2fx; mean %.1f ms = %.2fx floor\n",
              (long long)steps, step_s * 1e3, batch / step_s, step_s / floor_max, mean_s * 1e3, mean_s / floor_max);
  std::printf("encoder GEMM inside that step: %.1f ms = %.2fx floor\n", best.encoder * 1e3, best.encoder / floor_max);
  struct Row {
    const char* name;
    double s;
  };
  const Row rows[] = {{"decoder norms w_j", best.weights},    {"encoder GEMM", best.encoder},
                      {"BatchTopK selection", best.select},   {"sparse decoder forward", best.decode},
                      {"loss + dL/dx_hat", best.loss},        {"AuxK forward", best.aux},
                      {"grad latents (dots)", best.grad_latent}, {"grad W_dec (scatter)", best.grad_dec},
                      {"grad W_enc, b_enc", best.grad_enc},   {"AuxK backward", best.grad_aux},
                      {"grad norm (clip)", best.grad_norm},   {"Adam update", best.adam}};
  const double timed = best.total();
  for (const Row& r : rows)
    std::printf("  %-24s %8.1f ms  %5.1f%%\n", r.name, r.s * 1e3, timed > 0 ? 100 * r.s / timed : 0.0);
  std::printf("  %-24s %8.1f ms  (untimed %.1f ms)\n", "sum of phases", timed * 1e3, (step_s - timed) * 1e3);
  std::fflush(stdout);

  // AuxK cost, outside the compared step (the PyTorch step has no AuxK): one latent in 64 marked
  // dead, k_aux = min(D / 2, dead) as in the trainer; the fastest of 2 steps.
  {
    std::vector<uint8_t> dead(dict, 0);
    int64_t n_dead = 0;
    for (int64_t j = 0; j < dict; j += 64) dead[j] = 1, ++n_dead;
    LossOptions aux_opt;
    aux_opt.dead = dead.data();
    StepTimes aux_best;
    double aux_best_s = 1e30;
    for (int rep = 0; rep < 2; ++rep) {
      StepTimes t;
      aux_opt.times = &t;
      const double a = now_s();
      compute_loss(spec, p, x.data(), batch, aux_opt, res, &grads, ctx);
      const double dt = now_s() - a;
      if (dt < aux_best_s) aux_best_s = dt, aux_best = t;
    }
    std::printf("AuxK (%lld dead latents, k_aux %lld): forward %.1f ms, backward %.1f ms (forward+backward with AuxK "
                "%.1f ms)\n",
                (long long)n_dead, (long long)res.aux_k, aux_best.aux * 1e3, aux_best.grad_aux * 1e3, aux_best_s * 1e3);
    std::fflush(stdout);
  }

  if (torch_steps > 0) {
    const std::vector<double> ms =
        run_torch("time " + std::to_string(batch) + " " + std::to_string(d) + " " + std::to_string(dict) + " " +
                      std::to_string(k) + " " + std::to_string(torch_steps) + " " + std::to_string(threads),
                  "TORCH_STEP_MS");
    if (ms.size() == 2)
      std::printf("PyTorch dense step (fastest of %lld): %.1f ms, %.0f rows/s (mean %.1f ms); C++ speed-up %.2fx "
                  "rows/s (fastest vs fastest), %.2fx (mean vs mean)\n",
                  (long long)torch_steps, ms[0], batch / (ms[0] / 1e3), ms[1], ms[0] / (step_s * 1e3),
                  ms[1] / (mean_s * 1e3));
    else
      std::printf("PyTorch dense step: failed to run\n");
    std::fflush(stdout);
  }
  if (planted_steps > 0) planted_comparison(planted_steps, threads, ctx);
  return 0;
}
