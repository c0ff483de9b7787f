// Reference selection for the sparse kernels: whole sorts, easy to read, slow.
// Each returns a dense keep mask [B, F] (1 = kept) with scores s = max(0, acts + b_enc) * w and
// ties broken by the lower flat index (BatchTopK) or the lower latent index (per row).
// Ownership: returns a new vector. Thread-safety: re-entrant. Failure: none.
#pragma once

#include <cstdint>
#include <vector>

namespace ct::kernels::ref {

template <typename T>
std::vector<uint8_t> batch_topk_mask(const T* acts, const T* b_enc, const T* w, int64_t batch,
                                     int64_t dict, int64_t k_total);

template <typename T>
std::vector<uint8_t> row_topk_mask(const T* acts, const T* b_enc, const T* w, int64_t batch,
                                   int64_t dict, int64_t k);

}  // namespace ct::kernels::ref
