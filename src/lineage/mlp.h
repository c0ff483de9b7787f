// Plain f32 matrices and GLU MLP blocks for the lineage statistics, before the forward engine
// exists: random initialisation, the SwiGLU forward pass f(x) = D (silu(G x) * U x), the gate and
// up activations on shared inputs, and the output-preserving transformations the tests apply
// (hidden-unit and residual permutations, per-unit rescaling, unit selection for pruning).
//
// Permutation convention everywhere: new index k takes old index perm[k].
// Ownership: values (std::vector storage). Thread-safety: pure functions; mlp_activations splits
// rows statically over ctx.threads() and gives identical bits for any thread count.
// Failure: InputError on shape mismatches or a wrong-length permutation / scale vector.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/exec_context.h"
#include "core/random.h"

namespace ct::lineage {

struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<float> data;  // [rows, cols] row-major

  Matrix() = default;
  Matrix(int64_t r, int64_t c) : rows(r), cols(c), data(static_cast<size_t>(r * c), 0.0f) {}
  float* row(int64_t i) { return data.data() + i * cols; }
  const float* row(int64_t i) const { return data.data() + i * cols; }
  float& at(int64_t i, int64_t j) { return data[i * cols + j]; }
  float at(int64_t i, int64_t j) const { return data[i * cols + j]; }
};

struct Mlp {
  Matrix gate;  // [h, d] G
  Matrix up;    // [h, d] U
  Matrix down;  // [d, h] D
  int64_t hidden() const { return gate.rows; }
  int64_t width() const { return gate.cols; }
};

struct Activations {
  Matrix gate;  // [h, N] G x per input (pre-activation), rows = hidden units
  Matrix up;    // [h, N] U x per input
};

Matrix random_gaussian(int64_t rows, int64_t cols, double stddev, Rng& rng);
// G, U ~ N(0, 1/d), D ~ N(0, 1/h).
Mlp random_mlp(int64_t d, int64_t h, Rng& rng);
// Throws InputError unless gate/up are [h, d] and down is [d, h].
void check_mlp(const Mlp& m, const char* what);

Matrix transpose(const Matrix& m);
Matrix permute_rows(const Matrix& m, std::span<const int64_t> perm);
Matrix permute_columns(const Matrix& m, std::span<const int64_t> perm);
// A new matrix holding rows `keep` of m, in that order.
Matrix select_rows(const Matrix& m, std::span<const int64_t> keep);

// Hidden units: rows of G and U, columns of D.
Mlp permute_hidden(const Mlp& m, std::span<const int64_t> perm);
// Residual coordinates: columns of G and U, rows of D (inputs must be permuted the same way).
Mlp permute_residual(const Mlp& m, std::span<const int64_t> perm);
// Up row j times scale[j], down column j divided by scale[j] (any non-zero sign): outputs unchanged.
Mlp rescale_units(const Mlp& m, std::span<const float> scale);
// Keeps hidden units `keep` (pruning).
Mlp select_hidden(const Mlp& m, std::span<const int64_t> keep);
// Adds N(0, (rel_sigma * std of the tensor)^2) noise to every weight.
Mlp add_noise(const Mlp& m, double rel_sigma, Rng& rng);

// x: [N, d] -> [N, d].
Matrix mlp_forward(const Mlp& m, const Matrix& x, const ExecContext& ctx);
// x: [N, d] -> gate and up activations, each [h, N].
Activations mlp_activations(const Mlp& m, const Matrix& x, const ExecContext& ctx);

}  // namespace ct::lineage
