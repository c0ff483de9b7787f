// Dense crosscoder loss kernels (see recon.h). The inner loops are simple enough for the compiler
// to vectorise in Release builds (no target attribute needed: they are memory-bound).
#include "kernels/cpu/recon.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/vec.h"

namespace ct::kernels::cpu {
namespace {

// fn(chunk, row_begin, row_end) for one contiguous chunk per thread; returns the chunk count.
template <typename Fn>
int64_t for_chunks(const ExecContext& ctx, int64_t rows, Fn&& fn) {
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(ctx.threads(), rows));
  ctx.parallel_for(chunks, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) fn(c, rows * c / chunks, rows * (c + 1) / chunks);
  });
  return chunks;
}

double sum_sq_diff(const float* a, const float* b, int64_t n) {
  // Two f32 streams, differences and squares in double for accuracy; 4 independent accumulators.
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const double d0 = static_cast<double>(a[i]) - b[i], d1 = static_cast<double>(a[i + 1]) - b[i + 1];
    const double d2 = static_cast<double>(a[i + 2]) - b[i + 2], d3 = static_cast<double>(a[i + 3]) - b[i + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s0 += d * d;
  }
  return (s0 + s1) + (s2 + s3);
}
double sum_sq_diff(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

double norm_of(const float* x, int64_t n) { return std::sqrt(vec_ops().sum_squares(x, n)); }
double norm_of(const double* x, int64_t n) { return std::sqrt(dot(x, x, n)); }

}  // namespace

template <typename T>
void recon_loss_grad(const T* x, const T* recon, int64_t batch, const std::vector<int64_t>& off, bool squared,
                     T* g, double* row_sq, double* row_loss, T* g_colsum, const ExecContext& ctx) {
  const int64_t msrc = static_cast<int64_t>(off.size()) - 1, dim = off.back();
  const double inv_b = 1.0 / static_cast<double>(batch);
  const int64_t max_chunks = std::max<int64_t>(1, std::min<int64_t>(ctx.threads(), batch));
  std::vector<std::vector<double>> colsum(max_chunks);
  const int64_t chunks = for_chunks(ctx, batch, [&](int64_t c, int64_t r0, int64_t r1) {
    std::vector<double>& cs = colsum[c];
    cs.assign(dim, 0.0);
    for (int64_t b = r0; b < r1; ++b) {
      const T* xb = x + b * dim;
      const T* rb = recon + b * dim;
      T* gb = g + b * dim;
      double lb = 0;
      for (int64_t m = 0; m < msrc; ++m) {
        const int64_t lo = off[m], n = off[m + 1] - off[m];
        const double s = sum_sq_diff(xb + lo, rb + lo, n);
        row_sq[b * msrc + m] = s;
        const double nrm = std::sqrt(s);
        double scale;  // g = scale * (x - recon)
        if (squared) {
          lb += s * inv_b;
          scale = -2.0 * inv_b;
        } else {
          lb += nrm * inv_b / msrc;
          scale = nrm > 0 ? -inv_b / msrc / nrm : 0.0;
        }
        const T sc = static_cast<T>(scale);
        for (int64_t i = lo; i < lo + n; ++i) {
          const T gi = sc * (xb[i] - rb[i]);
          gb[i] = gi;
          cs[i] += gi;
        }
      }
      row_loss[b] = lb;
    }
  });
  for (int64_t i = 0; i < dim; ++i) {
    double s = 0;
    for (int64_t c = 0; c < chunks; ++c) s += colsum[c][i];
    g_colsum[i] = static_cast<T>(s);
  }
}

template <typename T>
AuxStats aux_residual_stats(const T* x, const T* recon, const T* ehat, int64_t batch, int64_t dim,
                            const ExecContext& ctx) {
  const int64_t max_chunks = std::max<int64_t>(1, std::min<int64_t>(ctx.threads(), batch));
  std::vector<std::vector<double>> colsum(max_chunks);
  std::vector<double> num(max_chunks, 0.0), sq(max_chunks, 0.0);
  const int64_t chunks = for_chunks(ctx, batch, [&](int64_t c, int64_t r0, int64_t r1) {
    std::vector<double>& cs = colsum[c];
    cs.assign(dim, 0.0);
    double nm = 0, s2 = 0;
    for (int64_t b = r0; b < r1; ++b)
      for (int64_t i = 0; i < dim; ++i) {
        const double e = static_cast<double>(x[b * dim + i]) - recon[b * dim + i];
        const double d = e - ehat[b * dim + i];
        nm += d * d;
        s2 += e * e;
        cs[i] += e;
      }
    num[c] = nm;
    sq[c] = s2;
  });
  AuxStats st;
  double total_sq = 0, mean_sq = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    st.num += num[c];
    total_sq += sq[c];
  }
  for (int64_t i = 0; i < dim; ++i) {
    double s = 0;
    for (int64_t c = 0; c < chunks; ++c) s += colsum[c][i];
    mean_sq += s * s;
  }
  // sum_b ||e_b - mean||^2 = sum ||e_b||^2 - ||sum_b e_b||^2 / B.
  st.den = std::max(0.0, total_sq - mean_sq / static_cast<double>(batch));
  return st;
}

template <typename T>
void aux_residual_grad(const T* x, const T* recon, const T* ehat, int64_t batch, int64_t dim, double coef,
                       T* g_aux, const ExecContext& ctx) {
  for_chunks(ctx, batch, [&](int64_t, int64_t r0, int64_t r1) {
    for (int64_t i = r0 * dim; i < r1 * dim; ++i)
      g_aux[i] = static_cast<T>(coef * ((static_cast<double>(x[i]) - recon[i]) - ehat[i]));
  });
}

template <typename T>
void block_norm_sums(const T* dec, int64_t dict, const std::vector<int64_t>& off, T* out, const ExecContext& ctx) {
  const int64_t dim = off.back();
  ctx.parallel_for(dict, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      double w = 0;
      for (size_t m = 0; m + 1 < off.size(); ++m) w += norm_of(dec + j * dim + off[m], off[m + 1] - off[m]);
      out[j] = static_cast<T>(w);
    }
  });
}

#define CT_RECON_INSTANTIATE(T)                                                                              \
  template void recon_loss_grad<T>(const T*, const T*, int64_t, const std::vector<int64_t>&, bool, T*,        \
                                   double*, double*, T*, const ExecContext&);                                \
  template AuxStats aux_residual_stats<T>(const T*, const T*, const T*, int64_t, int64_t, const ExecContext&); \
  template void aux_residual_grad<T>(const T*, const T*, const T*, int64_t, int64_t, double, T*,              \
                                     const ExecContext&);                                                    \
  template void block_norm_sums<T>(const T*, int64_t, const std::vector<int64_t>&, T*, const ExecContext&);

CT_RECON_INSTANTIATE(float)
CT_RECON_INSTANTIATE(double)
#undef CT_RECON_INSTANTIATE

}  // namespace ct::kernels::cpu
