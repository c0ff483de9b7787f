// Plain loops of the sparse-row products (see sparse_rows.h).
#include "kernels/ref/sparse_rows.h"

namespace ct::kernels::ref {

void axpy_rows(const float* piece, int64_t len, const float* coef, const int64_t* pos, const int32_t* row, int64_t n,
               float* rows, int64_t ld) {
  for (int64_t a = 0; a < n; ++a) {
    float* o = rows + static_cast<int64_t>(row[a]) * ld;
    for (int64_t i = 0; i < len; ++i) o[i] += coef[pos[a]] * piece[i];
  }
}

void dot_rows(const float* piece, int64_t len, const int64_t* pos, const int32_t* row, int64_t n, const float* rows,
              int64_t ld, float* out, bool first) {
  for (int64_t a = 0; a < n; ++a) {
    const float* r = rows + static_cast<int64_t>(row[a]) * ld;
    double s = 0;
    for (int64_t i = 0; i < len; ++i) s += static_cast<double>(piece[i]) * r[i];
    out[pos[a]] = (first ? 0.0f : out[pos[a]]) + static_cast<float>(s);
  }
}

void gather_sum(const float* coef, const int64_t* pos, const int32_t* row, int64_t n, const float* rows, int64_t ld,
                int64_t len, float* piece, bool overwrite) {
  if (overwrite)
    for (int64_t i = 0; i < len; ++i) piece[i] = 0.0f;
  for (int64_t a = 0; a < n; ++a) {
    const float* r = rows + static_cast<int64_t>(row[a]) * ld;
    for (int64_t i = 0; i < len; ++i) piece[i] += coef[pos[a]] * r[i];
  }
}

}  // namespace ct::kernels::ref
