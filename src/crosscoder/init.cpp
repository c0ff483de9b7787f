// Initialisation, geometric median and normalisation (see init.h).
#include "crosscoder/init.h"

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace ct::crosscoder {

uint64_t Rng::next_u64() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform();
  while (u1 <= 0) u1 = uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * std::numbers::pi * u2;
  spare_ = r * std::sin(a);
  has_spare_ = true;
  return r * std::cos(a);
}

std::vector<double> geometric_median(const float* points, int64_t n, int64_t d, int max_iter, double tol) {
  std::vector<double> y(d, 0.0), next(d);
  if (n == 0) return y;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d; ++c) y[c] += points[i * d + c];
  for (double& v : y) v /= static_cast<double>(n);
  for (int it = 0; it < max_iter; ++it) {
    std::fill(next.begin(), next.end(), 0.0);
    double wsum = 0;
    int64_t coincide = 0;
    for (int64_t i = 0; i < n; ++i) {
      double dist2 = 0;
      for (int64_t c = 0; c < d; ++c) {
        const double diff = points[i * d + c] - y[c];
        dist2 += diff * diff;
      }
      const double dist = std::sqrt(dist2);
      if (dist < 1e-12) {  // a point on the iterate: skip it (Vardi-Zhang would refine; rare)
        ++coincide;
        continue;
      }
      const double wi = 1.0 / dist;
      wsum += wi;
      for (int64_t c = 0; c < d; ++c) next[c] += wi * points[i * d + c];
    }
    if (wsum == 0) break;  // every point coincides with y
    double move2 = 0, norm2 = 0;
    for (int64_t c = 0; c < d; ++c) {
      next[c] /= wsum;
      move2 += (next[c] - y[c]) * (next[c] - y[c]);
      norm2 += y[c] * y[c];
    }
    y.swap(next);
    if (std::sqrt(move2) <= tol * std::max(1.0, std::sqrt(norm2))) break;
  }
  return y;
}

Params<float> init_params(const CrosscoderSpec& spec, double init_norm, uint64_t seed,
                          const float* first_batch, int64_t batch, bool same_blocks) {
  spec.validate();
  const int64_t dict = spec.dict_size, dim = spec.total_dim();
  const auto off = spec.offsets();
  int64_t widest = 0;
  for (int64_t d : spec.dims) widest = std::max(widest, d);
  Params<float> p;
  p.resize(dict, dim);
  Rng rng(seed, 1);
  std::vector<double> draw(widest);
  for (int64_t j = 0; j < dict; ++j) {
    for (double& v : draw) v = rng.normal();
    for (int64_t m = 0; m < spec.sources(); ++m) {
      const int64_t dm = spec.dims[m];
      if (!same_blocks && m > 0)
        for (double& v : draw) v = rng.normal();
      double s = 0;
      for (int64_t i = 0; i < dm; ++i) s += draw[i] * draw[i];
      const double scale = s > 0 ? init_norm / std::sqrt(s) : 0.0;
      for (int64_t i = 0; i < dm; ++i) p.dec[j * dim + off[m] + i] = static_cast<float>(draw[i] * scale);
    }
  }
  p.enc = p.dec;  // enc is stored as [F, D], so "encoder = decoder transposed" is a copy
  if (first_batch && batch > 0) {
    for (int64_t m = 0; m < spec.sources(); ++m) {
      const int64_t dm = spec.dims[m];
      std::vector<float> pts(batch * dm);
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t i = 0; i < dm; ++i) pts[b * dm + i] = first_batch[b * dim + off[m] + i];
      const auto med = geometric_median(pts.data(), batch, dm);
      for (int64_t i = 0; i < dm; ++i) p.b_dec[off[m] + i] = static_cast<float>(med[i]);
    }
  }
  return p;
}

std::vector<double> estimate_norm_scales(const CrosscoderSpec& spec, const float* rows, int64_t n) {
  const auto off = spec.offsets();
  const int64_t dim = spec.total_dim();
  std::vector<double> scales(spec.sources());
  for (int64_t m = 0; m < spec.sources(); ++m) {
    double sum = 0;
    for (int64_t b = 0; b < n; ++b) {
      double s = 0;
      for (int64_t i = off[m]; i < off[m + 1]; ++i) s += static_cast<double>(rows[b * dim + i]) * rows[b * dim + i];
      sum += std::sqrt(s);
    }
    const double mean = n > 0 ? sum / n : 0.0;
    if (!(mean > 0))
      throw InputError(spec.names[m], "cannot normalise: mean activation norm is " + std::to_string(mean));
    scales[m] = std::sqrt(static_cast<double>(spec.dims[m])) / mean;
  }
  return scales;
}

void apply_norm_scales(const CrosscoderSpec& spec, const std::vector<double>& scales, float* rows, int64_t n) {
  const auto off = spec.offsets();
  const int64_t dim = spec.total_dim();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t m = 0; m < spec.sources(); ++m) {
      const float s = static_cast<float>(scales[m]);
      for (int64_t i = off[m]; i < off[m + 1]; ++i) rows[b * dim + i] *= s;
    }
}

template <typename T>
Params<T> fold_norm_scales(const CrosscoderSpec& spec, const Params<T>& p, const std::vector<double>& scales) {
  Params<T> out = p;
  const auto off = spec.offsets();
  for (int64_t m = 0; m < spec.sources(); ++m) {
    const double s = scales[m];
    for (int64_t j = 0; j < p.dict; ++j)
      for (int64_t i = off[m]; i < off[m + 1]; ++i) {
        out.enc[j * p.dim + i] = static_cast<T>(p.enc[j * p.dim + i] * s);
        out.dec[j * p.dim + i] = static_cast<T>(p.dec[j * p.dim + i] / s);
      }
    for (int64_t i = off[m]; i < off[m + 1]; ++i) out.b_dec[i] = static_cast<T>(p.b_dec[i] / s);
  }
  return out;
}

template Params<float> fold_norm_scales<float>(const CrosscoderSpec&, const Params<float>&, const std::vector<double>&);
template Params<double> fold_norm_scales<double>(const CrosscoderSpec&, const Params<double>&, const std::vector<double>&);

}  // namespace ct::crosscoder
