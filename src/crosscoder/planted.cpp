// Planted-dictionary generator (see planted.h).
#include "crosscoder/planted.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "crosscoder/init.h"

namespace ct::crosscoder {
namespace {

void normalize_row(float* v, int64_t d) {
  double s = 0;
  for (int64_t i = 0; i < d; ++i) s += static_cast<double>(v[i]) * v[i];
  const double inv = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
  for (int64_t i = 0; i < d; ++i) v[i] = static_cast<float>(v[i] * inv);
}

}  // namespace

PlantedData make_planted(const PlantedConfig& cfg) {
  const std::string where = "planted config";
  if (cfg.n_concepts <= 0 || cfg.d_a <= 0 || cfg.d_b <= 0 || cfg.rows <= 0)
    throw InputError(where, "sizes must be positive");
  if ((!cfg.cross_arch || cfg.identical) && cfg.d_a != cfg.d_b)
    throw InputError(where, "same-architecture mode needs d_a == d_b");
  PlantedData out;
  out.cfg = cfg;
  const int64_t n = cfg.n_concepts;
  Rng rng(cfg.seed, 7);
  out.dirs_a.resize(n * cfg.d_a);
  for (auto& v : out.dirs_a) v = static_cast<float>(rng.normal());
  for (int64_t i = 0; i < n; ++i) normalize_row(out.dirs_a.data() + i * cfg.d_a, cfg.d_a);
  if (!cfg.cross_arch || cfg.identical) {
    out.dirs_b = out.dirs_a;
  } else {
    std::vector<double> q(cfg.d_b * cfg.d_a), t(cfg.d_b);
    for (auto& v : q) v = 0.5 * rng.normal();
    for (auto& v : t) v = 0.1 * rng.normal();
    out.dirs_b.resize(n * cfg.d_b);
    for (int64_t c = 0; c < n; ++c) {
      for (int64_t i = 0; i < cfg.d_b; ++i) {
        double s = t[i];
        for (int64_t k = 0; k < cfg.d_a; ++k) s += q[i * cfg.d_a + k] * out.dirs_a[c * cfg.d_a + k];
        out.dirs_b[c * cfg.d_b + i] = static_cast<float>(s);
      }
      normalize_row(out.dirs_b.data() + c * cfg.d_b, cfg.d_b);
    }
  }
  // Kinds: a seeded permutation so exclusive concepts span the frequency range.
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[rng.next_u64() % (i + 1)]);
  const int64_t n_a = cfg.identical ? 0 : std::llround(cfg.frac_a_only * n);
  const int64_t n_b = cfg.identical ? 0 : std::llround(cfg.frac_b_only * n);
  out.kind.assign(n, ConceptKind::kShared);
  for (int64_t i = 0; i < n_a; ++i) out.kind[perm[i]] = ConceptKind::kAOnly;
  for (int64_t i = n_a; i < n_a + n_b; ++i) out.kind[perm[i]] = ConceptKind::kBOnly;
  // Frequencies: Zipf-like in concept order, scaled to a mean active count of k_true.
  out.freq.resize(n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += out.freq[i] = 1.0 / std::pow(i + 1.0, cfg.zipf_exponent);
  for (auto& p : out.freq) p = std::min(1.0, p * cfg.k_true / sum);
  return out;
}

void PlantedSource::read(int64_t first, int64_t count, float* out) const {
  const auto& c = data_.cfg;
  const int64_t n = c.n_concepts, da = c.d_a, db = c.d_b, dim = da + db;
  std::vector<float> s(n);
  for (int64_t r = 0; r < count; ++r) {
    const int64_t row = (first + r) % c.rows;
    Rng rng(c.seed, 1000003ull + static_cast<uint64_t>(row));
    bool any = false;
    for (int64_t i = 0; i < n; ++i) {
      const bool fire = rng.uniform() < data_.freq[i];
      const double mag = rng.uniform();
      s[i] = fire ? static_cast<float>(mag) : 0.0f;
      any |= fire;
    }
    if (!any) s[rng.next_u64() % n] = static_cast<float>(rng.uniform());
    float* xa = out + r * dim;
    float* xb = xa + da;
    for (int64_t i = 0; i < da; ++i) xa[i] = static_cast<float>(c.noise * rng.normal());
    if (c.identical) {
      for (int64_t i = 0; i < db; ++i) xb[i] = xa[i];
    } else {
      for (int64_t i = 0; i < db; ++i) xb[i] = static_cast<float>(c.noise * rng.normal());
    }
    for (int64_t i = 0; i < n; ++i) {
      if (s[i] == 0.0f) continue;
      if (data_.kind[i] != ConceptKind::kBOnly)
        for (int64_t k = 0; k < da; ++k) xa[k] += s[i] * data_.dirs_a[i * da + k];
      if (data_.kind[i] != ConceptKind::kAOnly)
        for (int64_t k = 0; k < db; ++k) xb[k] += s[i] * data_.dirs_b[i * db + k];
    }
    if (c.b_scale != 1.0)
      for (int64_t k = 0; k < db; ++k) xb[k] = static_cast<float>(xb[k] * c.b_scale);
  }
}

}  // namespace ct::crosscoder
