// CLIP ViT-L/14-336 forward benchmark: one image, 24 layers, post-LN on every token, f32 random
// weights with the real shapes (303 M parameters). Prints, in one run: our seconds; the floor
// (the forward's FLOPs at the f32 FMA peak measured here); and PyTorch (Debian /usr/bin/python3,
// torch.set_num_threads(threads)) running the same forward on the same weights, read from the raw
// file this bench writes, with the largest difference between the two outputs as a sanity check.
//
// Usage: clip_forward_bench [--threads N] [--reps R] [--no-torch] [--layers L]
// The machine is shared with other work: figures are best-of-R and noisy. Writes ~1.2 GB to /tmp
// (deleted at exit).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "kernels/cpu/peak.h"
#include "models/clip_vision.h"

namespace {

using namespace ct;
using kernels::WeightView;
using Clock = std::chrono::steady_clock;

// The torch twin of clip_vision_forward over the raw weight file (tensors in the order `offsets`
// were taken below). Prints the best forward seconds and writes the output [N, W] as raw f32.
const char* kTorchScript = R"PY(
import sys, time, numpy as np, torch, torch.nn.functional as F
path, out_path, threads, reps, L, W, FF, H, P, S = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:11])
torch.set_num_threads(threads)
g = S // P; N = 1 + g * g
buf = torch.from_numpy(np.fromfile(path, dtype=np.float32))
off = 0
def take(*shape):
    global off
    n = int(np.prod(shape)); t = buf[off:off + n].view(*shape); off += n; return t
pix = take(3, S, S); cls = take(W); patch = take(W, 3, P, P); pos = take(N, W); pre = (take(W), take(W))
layers = []
for _ in range(L):
    layers.append(dict(ln1=(take(W), take(W)), q=(take(W, W), take(W)), k=(take(W, W), take(W)),
                       v=(take(W, W), take(W)), o=(take(W, W), take(W)), ln2=(take(W), take(W)),
                       fc1=(take(FF, W), take(FF)), fc2=(take(W, FF), take(W))))
post = (take(W), take(W))
hd = W // H
def forward():
    x = F.conv2d(pix[None], patch, stride=P).flatten(2).transpose(1, 2)[0]
    h = torch.cat([cls[None], x], 0) + pos
    h = F.layer_norm(h, (W,), *pre, eps=1e-5)
    for l in layers:
        x = F.layer_norm(h, (W,), *l['ln1'], eps=1e-5)
        q = F.linear(x, *l['q']).view(N, H, hd).transpose(0, 1)
        k = F.linear(x, *l['k']).view(N, H, hd).transpose(0, 1)
        v = F.linear(x, *l['v']).view(N, H, hd).transpose(0, 1)
        a = torch.softmax(torch.bmm(q, k.transpose(1, 2)) * hd ** -0.5, dim=-1)
        a = torch.bmm(a, v).transpose(0, 1).reshape(N, W)
        h = h + F.linear(a, *l['o'])
        x = F.layer_norm(h, (W,), *l['ln2'], eps=1e-5)
        x = F.linear(x, *l['fc1'])
        x = x * torch.sigmoid(1.702 * x)
        h = h + F.linear(x, *l['fc2'])
    return F.layer_norm(h, (W,), *post, eps=1e-5)
with torch.no_grad():
    out = forward()
    best = 1e30
    for _ in range(reps):
        t0 = time.perf_counter(); out = forward(); best = min(best, time.perf_counter() - t0)
out.numpy().astype(np.float32).tofile(out_path)
print(best, flush=True)
)PY";

double run_torch(const std::string& weights, const std::string& out, int threads, int reps, int L, int W, int FF, int H,
                 int P, int S) {
  const std::string script = "/tmp/ct_clip_bench_" + std::to_string(::getpid()) + ".py";
  std::ofstream(script) << kTorchScript;
  const std::string cmd = "/usr/bin/python3 " + script + " " + weights + " " + out + " " + std::to_string(threads) + " " +
                          std::to_string(reps) + " " + std::to_string(L) + " " + std::to_string(W) + " " +
                          std::to_string(FF) + " " + std::to_string(H) + " " + std::to_string(P) + " " + std::to_string(S);
  double t = -1;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    if (std::fscanf(p, "%lf", &t) != 1) t = -1;
    ::pclose(p);
  }
  std::remove(script.c_str());
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 2, layers = 24;
  bool torch = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--layers") && i + 1 < argc) layers = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-torch")) torch = false;
  }
  io::ClipVisionConfig c;  // ViT-L/14-336
  c.hidden_size = 1024;
  c.intermediate_size = 4096;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 16;
  c.image_size = 336;
  c.patch_size = 14;
  const int64_t W = c.hidden_size, FF = c.intermediate_size, P = c.patch_size, S = c.image_size, g = S / P,
                N = 1 + g * g;

  // Every tensor in one f32 buffer, in the order the torch script takes them.
  std::vector<std::pair<int64_t, int64_t>> shapes;  // rows, cols
  auto add = [&](int64_t r, int64_t cols) { shapes.emplace_back(r, cols); };
  add(1, 3 * S * S);  // pixels
  add(1, W);
  add(W, 3 * P * P);
  add(N, W);
  add(1, W), add(1, W);
  for (int l = 0; l < layers; ++l) {
    add(1, W), add(1, W);
    for (int m = 0; m < 4; ++m) add(W, W), add(1, W);
    add(1, W), add(1, W);
    add(FF, W), add(1, FF), add(W, FF), add(1, W);
  }
  add(1, W), add(1, W);
  int64_t total = 0;
  for (auto& s : shapes) total += s.first * s.second;
  std::vector<float> all(static_cast<std::size_t>(total));
  {
    std::mt19937 gen(3);
    std::normal_distribution<float> nd;
    for (auto& e : all) e = nd(gen) * 0.02f;
  }
  std::vector<WeightView> views;
  int64_t off = 0;
  for (auto& s : shapes) {
    views.push_back(WeightView::of_f32(all.data() + off, s.first, s.second));
    off += s.first * s.second;
  }
  // LayerNorm weights around 1, pixels unit-scale.
  auto fill = [&](const WeightView& v, float base, float scale) {
    float* p = const_cast<float*>(reinterpret_cast<const float*>(v.data));
    for (int64_t i = 0; i < v.numel(); ++i) p[i] = base + p[i] * scale;
  };
  fill(views[0], 0.0f, 50.0f);
  std::size_t vi = 1;
  models::ClipVisionWeights w;
  w.class_embedding = views[vi++];
  w.patch_embedding = views[vi++];
  w.position_embedding = views[vi++];
  fill(views[vi], 1.0f, 1.0f);
  w.pre_ln_w = views[vi++];
  w.pre_ln_b = views[vi++];
  for (int l = 0; l < layers; ++l) {
    models::ClipLayerWeights L;
    fill(views[vi], 1.0f, 1.0f);
    L.ln1_w = views[vi++], L.ln1_b = views[vi++];
    L.q_w = views[vi++], L.q_b = views[vi++], L.k_w = views[vi++], L.k_b = views[vi++];
    L.v_w = views[vi++], L.v_b = views[vi++], L.o_w = views[vi++], L.o_b = views[vi++];
    fill(views[vi], 1.0f, 1.0f);
    L.ln2_w = views[vi++], L.ln2_b = views[vi++];
    L.fc1_w = views[vi++], L.fc1_b = views[vi++], L.fc2_w = views[vi++], L.fc2_b = views[vi++];
    w.layers.push_back(L);
  }
  fill(views[vi], 1.0f, 1.0f);
  w.post_ln_w = views[vi++];
  w.post_ln_b = views[vi++];

  const ExecContext ctx(threads);
  const double peak = kernels::cpu::measure_fma_peak(ctx, 0.5);
  const double flops = static_cast<double>(layers) * (2.0 * N * 12 * W * W + 4.0 * N * N * W) + 2.0 * g * g * W * 3 * P * P;
  const std::span<const float> pixels(all.data(), static_cast<std::size_t>(3 * S * S));
  std::vector<float> out;
  double best = 1e30;
  for (int r = 0; r <= reps; ++r) {  // r == 0 warms up
    const auto t0 = Clock::now();
    out = models::clip_vision_forward(c, w, pixels, models::ClipRunOptions{}, ctx, models::Hooks{});
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r > 0) best = std::min(best, dt);
  }
  std::printf("clip_forward_bench: CLIP ViT-L/14-336, %d layers, %lld tokens, f32, %d threads; shared noisy machine, best of %d\n",
              layers, static_cast<long long>(N), threads, reps);
  std::printf("ours:  %.3f s  (%.1f GFLOP/s, %.1f GFLOP)\n", best, flops / best * 1e-9, flops * 1e-9);
  std::printf("floor: %.3f s  (FLOPs at the measured f32 FMA peak %.1f GFLOP/s); ours / floor = %.2fx\n", flops / peak,
              peak * 1e-9, best / (flops / peak));
  if (torch) {
    const std::string wpath = "/tmp/ct_clip_bench_" + std::to_string(::getpid()) + ".bin";
    const std::string opath = wpath + ".out";
    std::ofstream(wpath, std::ios::binary).write(reinterpret_cast<const char*>(all.data()),
                                                 static_cast<std::streamsize>(all.size() * sizeof(float)));
    const double tt = run_torch(wpath, opath, threads, reps, layers, static_cast<int>(W), static_cast<int>(FF),
                                c.num_attention_heads, static_cast<int>(P), static_cast<int>(S));
    std::vector<float> ref(out.size());
    std::ifstream(opath, std::ios::binary).read(reinterpret_cast<char*>(ref.data()),
                                                static_cast<std::streamsize>(ref.size() * sizeof(float)));
    std::remove(wpath.c_str());
    std::remove(opath.c_str());
    double maxdiff = 0, maxabs = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      maxdiff = std::max(maxdiff, static_cast<double>(std::fabs(out[i] - ref[i])));
      maxabs = std::max(maxabs, static_cast<double>(std::fabs(ref[i])));
    }
    if (tt > 0) {
      std::printf("torch: %.3f s  (same weights, torch.set_num_threads(%d)); torch / ours = %.2fx; max |diff| %.2e of max |out| %.2e\n",
                  tt, threads, tt / best, maxdiff, maxabs);
    } else {
      std::printf("torch: not run (no /usr/bin/python3 with torch)\n");
    }
  }
  return 0;
}
