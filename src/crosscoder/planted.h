// Planted-dictionary data (specs/crosscoders.md section 15.2): ground-truth concepts split into
// shared, A-only and B-only; model A sees shared + A-only, model B shared + B-only. Rows are
// generated on the fly from (seed, row number), so any row range is reproducible and a source of
// any length costs no memory.
//
// Per row: concept i fires with probability p_i (Zipf-like, scaled so the mean active count is
// k_true, capped at 1), at least one concept fires, magnitude s_i ~ U(0, 1);
// x^A = sum s_i c_i^A + eps, x^B = b_scale * (sum s_i c_i^B + eps), eps ~ N(0, noise^2 I).
// Same-architecture mode: c^B = c^A (d_b must equal d_a). Cross-architecture mode: c^B = Q c + t
// with Q_ij ~ N(0, 0.25), t_i ~ N(0, 0.01), rescaled to unit norm.
//
// Ownership: value types; PlantedSource copies its data. Thread-safety: read() is const and
// re-entrant. Failure: InputError on inconsistent configs.
#pragma once

#include <cstdint>
#include <vector>

#include "crosscoder/trainer.h"

namespace ct::crosscoder {

enum class ConceptKind : uint8_t { kShared = 0, kAOnly = 1, kBOnly = 2 };

struct PlantedConfig {
  int64_t n_concepts = 128;
  int64_t d_a = 32, d_b = 32;
  double frac_a_only = 0.05, frac_b_only = 0.05;
  double k_true = 4;           // mean number of active concepts per row
  double zipf_exponent = 0.5;  // p_i proportional to 1 / (rank + 1)^exponent
  double noise = 0.01;
  double b_scale = 1.0;        // multiplies every B row (scale-mismatch test)
  bool cross_arch = false;
  bool identical = false;      // x^B = x^A exactly (self-diff null test; needs d_b == d_a)
  int64_t rows = 1'000'000;    // rows() of the source (wraps after)
  uint64_t seed = 1;
};

struct PlantedData {
  PlantedConfig cfg;
  std::vector<float> dirs_a;         // [n, d_a] unit rows
  std::vector<float> dirs_b;         // [n, d_b] unit rows
  std::vector<ConceptKind> kind;     // [n]
  std::vector<double> freq;          // [n] firing probability
};

PlantedData make_planted(const PlantedConfig& cfg);

class PlantedSource : public RowSource {
 public:
  explicit PlantedSource(PlantedData data) : data_(std::move(data)) {}
  std::vector<int64_t> dims() const override { return {data_.cfg.d_a, data_.cfg.d_b}; }
  int64_t rows() const override { return data_.cfg.rows; }
  void read(int64_t first, int64_t count, float* out) const override;
  const PlantedData& data() const { return data_; }

 private:
  PlantedData data_;
};

}  // namespace ct::crosscoder
