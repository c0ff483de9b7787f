// Seeded random numbers for every layer (lineage permutation tests, sampling in generation, the
// demo models): a xoshiro256** generator (seeded through SplitMix64), unbiased bounded integers
// (Lemire's multiply-and-reject), Box-Muller Gaussians and the Fisher-Yates shuffle. Portable:
// no std::*_distribution, whose outputs differ between standard libraries.
//
// Streams are explicit: callers derive a seed from ExecContext::seed() (or a test constant) and a
// stream id with derive_seed(), so no generator is shared between threads and results never
// depend on scheduling. Thread-safety: an Rng is used by one thread at a time. Nothing here fails.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace ct {

class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next_u64();
  // Uniform in [0, bound) without modulo bias; bound > 0.
  uint64_t uniform_below(uint64_t bound);
  // Uniform in [0, 1) with 53 random bits.
  double uniform01();
  // Standard normal (Box-Muller; the second value of each pair is cached).
  double normal();

 private:
  uint64_t s_[4];
  double cached_normal_ = 0.0;
  bool has_cached_ = false;
};

// Mixes a base seed and a stream index into an independent seed (SplitMix64 finaliser).
uint64_t derive_seed(uint64_t base, uint64_t stream);

// Shuffles `values` in place: every permutation equally likely given a uniform generator.
void fisher_yates(std::span<int64_t> values, Rng& rng);
// A uniformly random permutation of 0..n-1.
std::vector<int64_t> random_permutation(int64_t n, Rng& rng);

}  // namespace ct
