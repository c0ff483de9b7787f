// Reference selection (see topk.h): sort everything by (score desc, index asc), keep a prefix.
#include "kernels/ref/topk.h"

#include <algorithm>
#include <numeric>

namespace ct::kernels::ref {
namespace {

template <typename T>
T score(const T* acts, const T* b_enc, const T* w, int64_t dict, int64_t flat) {
  const int64_t j = flat % dict;
  const T r = std::max(T(0), acts[flat] + b_enc[j]);
  return r * w[j];
}

}  // namespace

template <typename T>
std::vector<uint8_t> batch_topk_mask(const T* acts, const T* b_enc, const T* w, int64_t batch,
                                     int64_t dict, int64_t k_total) {
  const int64_t n = batch * dict;
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return score(acts, b_enc, w, dict, a) > score(acts, b_enc, w, dict, b);
  });
  std::vector<uint8_t> mask(n, 0);
  for (int64_t i = 0; i < std::min(k_total, n); ++i) mask[order[i]] = 1;
  return mask;
}

template <typename T>
std::vector<uint8_t> row_topk_mask(const T* acts, const T* b_enc, const T* w, int64_t batch,
                                   int64_t dict, int64_t k) {
  std::vector<uint8_t> mask(batch * dict, 0);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> order(dict);
    std::iota(order.begin(), order.end(), b * dict);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
      return score(acts, b_enc, w, dict, x) > score(acts, b_enc, w, dict, y);
    });
    for (int64_t i = 0; i < std::min(k, dict); ++i) mask[order[i]] = 1;
  }
  return mask;
}

template std::vector<uint8_t> batch_topk_mask<float>(const float*, const float*, const float*,
                                                     int64_t, int64_t, int64_t);
template std::vector<uint8_t> batch_topk_mask<double>(const double*, const double*, const double*,
                                                      int64_t, int64_t, int64_t);
template std::vector<uint8_t> row_topk_mask<float>(const float*, const float*, const float*,
                                                   int64_t, int64_t, int64_t);
template std::vector<uint8_t> row_topk_mask<double>(const double*, const double*, const double*,
                                                    int64_t, int64_t, int64_t);

}  // namespace ct::kernels::ref
