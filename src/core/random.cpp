#include "core/random.h"

#include <cmath>
#include <numbers>

namespace ct {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(uint64_t seed) {
  uint64_t st = seed;
  for (auto& s : s_) s = splitmix64(st);
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Rng::uniform_below(uint64_t bound) {
  // Lemire: the high word of x * bound is uniform once the low word clears the rejection zone.
  unsigned __int128 prod = static_cast<unsigned __int128>(next_u64()) * bound;
  uint64_t low = static_cast<uint64_t>(prod);
  if (low < bound) {
    const uint64_t threshold = (0 - bound) % bound;
    while (low < threshold) {
      prod = static_cast<unsigned __int128>(next_u64()) * bound;
      low = static_cast<uint64_t>(prod);
    }
  }
  return static_cast<uint64_t>(prod >> 64);
}

double Rng::uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  if (has_cached_) {
    has_cached_ = false;
    return cached_normal_;
  }
  double u1 = uniform01();
  while (u1 <= 0.0) u1 = uniform01();
  const double u2 = uniform01();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double a = 2.0 * std::numbers::pi * u2;
  cached_normal_ = r * std::sin(a);
  has_cached_ = true;
  return r * std::cos(a);
}

uint64_t derive_seed(uint64_t base, uint64_t stream) {
  uint64_t st = base ^ (stream * 0xD1B54A32D192ED03ull);
  splitmix64(st);
  return splitmix64(st);
}

void fisher_yates(std::span<int64_t> values, Rng& rng) {
  for (int64_t i = static_cast<int64_t>(values.size()) - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng.uniform_below(static_cast<uint64_t>(i) + 1));
    std::swap(values[i], values[j]);
  }
}

std::vector<int64_t> random_permutation(int64_t n, Rng& rng) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  fisher_yates(p, rng);
  return p;
}

}  // namespace ct
