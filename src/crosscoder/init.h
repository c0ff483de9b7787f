// Initialisation and input normalisation of a crosscoder (specs/crosscoders.md sections 4 and 7).
//
// - init_params: decoder rows Gaussian, every (latent, source) block rescaled to `init_norm`, the
//   same block for every source (equal widths; with unequal widths each block is the prefix of one
//   shared draw, renormalised), so every latent starts at relative norm 0.5 (or, on request, an
//   independent draw per source, still at norm init_norm); encoder = decoder
//   transposed; b_enc = 0; b_dec^m = geometric median of the first batch (or zero).
// - geometric_median: Weiszfeld iterations (<= 100, tol 1e-5), robust to a point on the iterate.
// - norm scales: s_m = sqrt(d_m) / mean_rows ||x^m||; folding turns weights trained on s_m x^m into
//   weights for raw x^m (W_enc^m * s_m, W_dec^m / s_m, b_dec^m / s_m; b_enc and latents unchanged).
//
// Rng: splitmix64 streams with Box-Muller normals, identical on every platform.
// Ownership: value types. Thread-safety: re-entrant. Failure: InputError when the first batch has a
// source with zero mean norm (cannot normalise).
#pragma once

#include <cstdint>
#include <vector>

#include "crosscoder/model.h"

namespace ct::crosscoder {

class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t stream = 0) : state_(seed * 0x9E3779B97F4A7C15ull + stream * 0xD1B54A32D192ED03ull + 1) {}
  uint64_t next_u64();
  double uniform();   // [0, 1)
  double normal();    // N(0, 1)

 private:
  uint64_t state_;
  bool has_spare_ = false;
  double spare_ = 0;
};

// points [n, d] row-major; returns the geometric median [d].
std::vector<double> geometric_median(const float* points, int64_t n, int64_t d, int max_iter = 100,
                                     double tol = 1e-5);

// first_batch [B, D] (already normalised) or null for b_dec = 0. same_blocks = false draws every
// source's decoder block independently (the self-diff null test of specs/crosscoders.md 15.2, where
// agreement between the blocks must be learned, not inherited from the initialisation).
Params<float> init_params(const CrosscoderSpec& spec, double init_norm, uint64_t seed,
                          const float* first_batch, int64_t batch, bool same_blocks = true);

// Per-source scale s_m = sqrt(d_m) / mean ||x^m|| over rows [B, D].
std::vector<double> estimate_norm_scales(const CrosscoderSpec& spec, const float* rows, int64_t n);

// Multiplies each source's columns of rows [B, D] by its scale.
void apply_norm_scales(const CrosscoderSpec& spec, const std::vector<double>& scales, float* rows, int64_t n);

// Weights for raw activations from weights trained on scaled ones.
template <typename T>
Params<T> fold_norm_scales(const CrosscoderSpec& spec, const Params<T>& p, const std::vector<double>& scales);

}  // namespace ct::crosscoder
