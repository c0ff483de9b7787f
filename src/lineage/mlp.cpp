#include "lineage/mlp.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace ct::lineage {
namespace {

void check_perm(std::span<const int64_t> perm, int64_t n, const char* what) {
  if (static_cast<int64_t>(perm.size()) != n) {
    throw InputError(what, "expected a permutation of length " + std::to_string(n) + ", found " +
                               std::to_string(perm.size()));
  }
  std::vector<bool> seen(n, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= n || seen[p]) throw InputError(what, "not a permutation of 0..n-1");
    seen[p] = true;
  }
}

double dot_f32(const float* a, const float* b, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;  // fixed order: same bits on any thread
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += static_cast<double>(a[k]) * b[k];
    s1 += static_cast<double>(a[k + 1]) * b[k + 1];
    s2 += static_cast<double>(a[k + 2]) * b[k + 2];
    s3 += static_cast<double>(a[k + 3]) * b[k + 3];
  }
  for (; k < n; ++k) s0 += static_cast<double>(a[k]) * b[k];
  return (s0 + s1) + (s2 + s3);
}

double tensor_std(const Matrix& m) {
  double s = 0.0, s2 = 0.0;
  for (float v : m.data) {
    s += v;
    s2 += static_cast<double>(v) * v;
  }
  const double n = static_cast<double>(m.data.size());
  return n > 0 ? std::sqrt(std::max(0.0, s2 / n - (s / n) * (s / n))) : 0.0;
}

}  // namespace

Matrix random_gaussian(int64_t rows, int64_t cols, double stddev, Rng& rng) {
  Matrix m(rows, cols);
  for (float& v : m.data) v = static_cast<float>(stddev * rng.normal());
  return m;
}

Mlp random_mlp(int64_t d, int64_t h, Rng& rng) {
  Mlp m;
  m.gate = random_gaussian(h, d, 1.0 / std::sqrt(static_cast<double>(d)), rng);
  m.up = random_gaussian(h, d, 1.0 / std::sqrt(static_cast<double>(d)), rng);
  m.down = random_gaussian(d, h, 1.0 / std::sqrt(static_cast<double>(h)), rng);
  return m;
}

void check_mlp(const Mlp& m, const char* what) {
  const int64_t h = m.gate.rows, d = m.gate.cols;
  if (m.up.rows != h || m.up.cols != d || m.down.rows != d || m.down.cols != h) {
    throw InputError(what, "expected gate/up [h, d] and down [d, h], found gate [" +
                               std::to_string(h) + ", " + std::to_string(d) + "], up [" +
                               std::to_string(m.up.rows) + ", " + std::to_string(m.up.cols) +
                               "], down [" + std::to_string(m.down.rows) + ", " +
                               std::to_string(m.down.cols) + "]");
  }
}

Matrix transpose(const Matrix& m) {
  Matrix t(m.cols, m.rows);
  for (int64_t i = 0; i < m.rows; ++i)
    for (int64_t j = 0; j < m.cols; ++j) t.at(j, i) = m.at(i, j);
  return t;
}

Matrix permute_rows(const Matrix& m, std::span<const int64_t> perm) {
  check_perm(perm, m.rows, "permute_rows");
  return select_rows(m, perm);
}

Matrix permute_columns(const Matrix& m, std::span<const int64_t> perm) {
  check_perm(perm, m.cols, "permute_columns");
  Matrix out(m.rows, m.cols);
  for (int64_t i = 0; i < m.rows; ++i)
    for (int64_t k = 0; k < m.cols; ++k) out.at(i, k) = m.at(i, perm[k]);
  return out;
}

Matrix select_rows(const Matrix& m, std::span<const int64_t> keep) {
  Matrix out(static_cast<int64_t>(keep.size()), m.cols);
  for (int64_t k = 0; k < out.rows; ++k) {
    if (keep[k] < 0 || keep[k] >= m.rows) throw InputError("select_rows", "row index out of range");
    std::copy(m.row(keep[k]), m.row(keep[k]) + m.cols, out.row(k));
  }
  return out;
}

Mlp permute_hidden(const Mlp& m, std::span<const int64_t> perm) {
  check_mlp(m, "permute_hidden");
  check_perm(perm, m.hidden(), "permute_hidden");
  return select_hidden(m, perm);
}

Mlp permute_residual(const Mlp& m, std::span<const int64_t> perm) {
  check_mlp(m, "permute_residual");
  return Mlp{permute_columns(m.gate, perm), permute_columns(m.up, perm), permute_rows(m.down, perm)};
}

Mlp rescale_units(const Mlp& m, std::span<const float> scale) {
  check_mlp(m, "rescale_units");
  if (static_cast<int64_t>(scale.size()) != m.hidden()) {
    throw InputError("rescale_units", "expected one scale per hidden unit");
  }
  Mlp out = m;
  for (int64_t j = 0; j < m.hidden(); ++j) {
    if (scale[j] == 0.0f) throw InputError("rescale_units", "a scale is zero");
    for (int64_t k = 0; k < m.width(); ++k) out.up.at(j, k) *= scale[j];
    for (int64_t k = 0; k < m.width(); ++k) out.down.at(k, j) /= scale[j];
  }
  return out;
}

Mlp select_hidden(const Mlp& m, std::span<const int64_t> keep) {
  check_mlp(m, "select_hidden");
  Mlp out{select_rows(m.gate, keep), select_rows(m.up, keep), Matrix(m.width(), static_cast<int64_t>(keep.size()))};
  for (int64_t k = 0; k < m.width(); ++k)
    for (int64_t j = 0; j < out.down.cols; ++j) out.down.at(k, j) = m.down.at(k, keep[j]);
  return out;
}

Mlp add_noise(const Mlp& m, double rel_sigma, Rng& rng) {
  Mlp out = m;
  for (Matrix* t : {&out.gate, &out.up, &out.down}) {
    const double s = rel_sigma * tensor_std(*t);
    for (float& v : t->data) v += static_cast<float>(s * rng.normal());
  }
  return out;
}

Activations mlp_activations(const Mlp& m, const Matrix& x, const ExecContext& ctx) {
  check_mlp(m, "mlp_activations");
  if (x.cols != m.width()) throw InputError("mlp_activations", "input width differs from the MLP's d");
  Activations a{Matrix(m.hidden(), x.rows), Matrix(m.hidden(), x.rows)};
  ctx.parallel_for(m.hidden(), [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      for (int64_t t = 0; t < x.rows; ++t) {
        a.gate.at(j, t) = static_cast<float>(dot_f32(m.gate.row(j), x.row(t), x.cols));
        a.up.at(j, t) = static_cast<float>(dot_f32(m.up.row(j), x.row(t), x.cols));
      }
    }
  });
  return a;
}

Matrix mlp_forward(const Mlp& m, const Matrix& x, const ExecContext& ctx) {
  const Activations a = mlp_activations(m, x, ctx);
  Matrix y(x.rows, m.width());
  ctx.parallel_for(x.rows, [&](int64_t begin, int64_t end) {
    std::vector<double> hidden(m.hidden());
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t j = 0; j < m.hidden(); ++j) {
        const double g = a.gate.at(j, t);
        hidden[j] = g / (1.0 + std::exp(-g)) * a.up.at(j, t);
      }
      for (int64_t k = 0; k < m.width(); ++k) {
        double s = 0.0;
        for (int64_t j = 0; j < m.hidden(); ++j) s += m.down.at(k, j) * hidden[j];
        y.at(t, k) = static_cast<float>(s);
      }
    }
  });
  return y;
}

}  // namespace ct::lineage
