// Optimiser and schedules for crosscoder training: Adam (bias-corrected, no weight decay) with
// global gradient-norm clipping fused into the update, and the schedules of specs/crosscoders.md
// section 6 (LR warm-up and linear decay, L1 warm-up, k annealing).
//
// Steps are counted from 1: `t` is the index of the step being taken (the first update uses t = 1).
// Ownership: AdamState owns its moments. Thread-safety: one caller at a time.
// Failure: none (shapes are invariants).
#pragma once

#include <cstdint>

#include "core/exec_context.h"
#include "crosscoder/model.h"

namespace ct::crosscoder {

struct AdamConfig {
  double lr = 1e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double clip_norm = 1.0;  // <= 0: no clipping
};

template <typename T>
struct AdamState {
  Params<T> m, v;
  int64_t t = 0;  // updates done
};

// Global L2 norm of all gradients (double accumulation, fixed order).
template <typename T>
double grad_norm(const Params<T>& grads, const ExecContext& ctx);

// One Adam update with learning rate `lr` (already scheduled). Gradients are multiplied by
// min(1, clip / ||g||) first. Returns the gradient norm before clipping. With `times`, adds the
// seconds of the norm and of the update to times->grad_norm and times->adam.
template <typename T>
double adam_update(const AdamConfig& cfg, double lr, const Params<T>& grads, Params<T>& params,
                   AdamState<T>& state, const ExecContext& ctx, StepTimes* times = nullptr);

// LR multiplier at step t of `total`: t / warmup during warm-up, (total - t) / (total - decay_start)
// after decay_start = round(decay_frac * total) (decay_frac >= 1: no decay), 1 otherwise.
double lr_multiplier(int64_t t, int64_t total, int64_t warmup, double decay_frac);
// L1 coefficient multiplier: min(t / warmup, 1) (warmup <= 0: 1).
double l1_multiplier(int64_t t, int64_t warmup);
// k(t) = round(k_init - (k_init - k) * t / anneal) for t < anneal, then k (k_init <= k: k).
int64_t k_at(int64_t t, int64_t k_init, int64_t k, int64_t anneal);

}  // namespace ct::crosscoder
