// Adam, clipping and schedules (see optim.h).
#include "crosscoder/optim.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "kernels/cpu/vec.h"

namespace ct::crosscoder {
namespace {

// Splits a tensor into fixed 64K-element blocks so partial sums do not depend on the thread count.
constexpr int64_t kBlock = 1 << 16;

double sum_squares(const float* x, int64_t n) { return kernels::cpu::vec_ops().sum_squares(x, n); }
double sum_squares(const double* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
  return s;
}

// One step's constants in double; the f32 kernel takes them rounded.
struct StepConsts {
  double lr, beta1, beta2, eps, bias1, bias2, scale;
};

void adam_block(const StepConsts& c, const float* g, float* p, float* m, float* v, int64_t n) {
  kernels::cpu::AdamStep s;
  s.lr = static_cast<float>(c.lr);
  s.beta1 = static_cast<float>(c.beta1);
  s.beta2 = static_cast<float>(c.beta2);
  s.eps = static_cast<float>(c.eps);
  s.one_minus_beta1 = static_cast<float>(1.0 - c.beta1);
  s.one_minus_beta2 = static_cast<float>(1.0 - c.beta2);
  s.bias1 = static_cast<float>(c.bias1);
  s.bias2 = static_cast<float>(c.bias2);
  s.grad_scale = static_cast<float>(c.scale);
  kernels::cpu::vec_ops().adam(s, g, p, m, v, n);
}
void adam_block(const StepConsts& c, const double* g, double* p, double* m, double* v, int64_t n) {
  // Textbook form in double (tests).
  for (int64_t i = 0; i < n; ++i) {
    const double gi = g[i] * c.scale;
    m[i] = c.beta1 * m[i] + (1 - c.beta1) * gi;
    v[i] = c.beta2 * v[i] + (1 - c.beta2) * gi * gi;
    p[i] -= c.lr * (m[i] / c.bias1) / (std::sqrt(v[i] / c.bias2) + c.eps);
  }
}

}  // namespace

template <typename T>
double grad_norm(const Params<T>& grads, const ExecContext& ctx) {
  double total = 0;
  grads.for_each([&](const char*, const AlignedVector<T>& g) {
    const int64_t n = static_cast<int64_t>(g.size()), blocks = (n + kBlock - 1) / kBlock;
    std::vector<double> part(blocks, 0.0);
    ctx.parallel_for(blocks, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t s = b * kBlock;
        part[b] = sum_squares(g.data() + s, std::min(kBlock, n - s));
      }
    });
    for (double v : part) total += v;
  });
  return std::sqrt(total);
}

template <typename T>
double adam_update(const AdamConfig& cfg, double lr, const Params<T>& grads, Params<T>& params,
                   AdamState<T>& state, const ExecContext& ctx, StepTimes* times) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  if (state.m.dict != params.dict || state.m.dim != params.dim) {
    state.m.resize(params.dict, params.dim);
    state.v.resize(params.dict, params.dim);
  }
  const double norm = grad_norm(grads, ctx);
  const auto t1 = Clock::now();
  ++state.t;
  const StepConsts s{lr, cfg.beta1, cfg.beta2, cfg.eps,
                     1.0 - std::pow(cfg.beta1, static_cast<double>(state.t)),
                     1.0 - std::pow(cfg.beta2, static_cast<double>(state.t)),
                     (cfg.clip_norm > 0 && norm > cfg.clip_norm) ? cfg.clip_norm / norm : 1.0};
  // The tensors in for_each order; grads, moments and params share it.
  std::vector<const AlignedVector<T>*> gs;
  std::vector<AlignedVector<T>*> ps, ms, vs;
  grads.for_each([&](const char*, const AlignedVector<T>& t) { gs.push_back(&t); });
  params.for_each([&](const char*, AlignedVector<T>& t) { ps.push_back(&t); });
  state.m.for_each([&](const char*, AlignedVector<T>& t) { ms.push_back(&t); });
  state.v.for_each([&](const char*, AlignedVector<T>& t) { vs.push_back(&t); });
  for (size_t i = 0; i < ps.size(); ++i) {
    const int64_t n = static_cast<int64_t>(ps[i]->size());
    ctx.parallel_for((n + kBlock - 1) / kBlock, [&](int64_t b0, int64_t b1) {
      const int64_t s0 = b0 * kBlock, s1 = std::min(n, b1 * kBlock);
      adam_block(s, gs[i]->data() + s0, ps[i]->data() + s0, ms[i]->data() + s0, vs[i]->data() + s0, s1 - s0);
    });
  }
  if (times) {
    times->grad_norm += std::chrono::duration<double>(t1 - t0).count();
    times->adam += std::chrono::duration<double>(Clock::now() - t1).count();
  }
  return norm;
}

double lr_multiplier(int64_t t, int64_t total, int64_t warmup, double decay_frac) {
  if (warmup > 0 && t < warmup) return static_cast<double>(t) / warmup;
  if (decay_frac < 1.0) {
    const int64_t decay_start = static_cast<int64_t>(std::llround(decay_frac * total));
    if (t > decay_start && total > decay_start)
      return std::max(0.0, static_cast<double>(total - t) / static_cast<double>(total - decay_start));
  }
  return 1.0;
}

double l1_multiplier(int64_t t, int64_t warmup) {
  if (warmup <= 0) return 1.0;
  return std::min(1.0, static_cast<double>(t) / warmup);
}

int64_t k_at(int64_t t, int64_t k_init, int64_t k, int64_t anneal) {
  if (k_init <= k || anneal <= 0 || t >= anneal) return k;
  return std::llround(static_cast<double>(k_init) -
                      static_cast<double>(k_init - k) * static_cast<double>(t) / anneal);
}

template double grad_norm<float>(const Params<float>&, const ExecContext&);
template double grad_norm<double>(const Params<double>&, const ExecContext&);
template double adam_update<float>(const AdamConfig&, double, const Params<float>&, Params<float>&,
                                   AdamState<float>&, const ExecContext&, StepTimes*);
template double adam_update<double>(const AdamConfig&, double, const Params<double>&, Params<double>&,
                                    AdamState<double>&, const ExecContext&, StepTimes*);

}  // namespace ct::crosscoder
