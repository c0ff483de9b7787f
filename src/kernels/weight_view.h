// WeightView: a non-owning 2-D (or 1-D) view of a stored weight tensor, in the dtype it has in the
// mapped checkpoint (f32, f16 or bf16), widened to f32 by the kernels inside their loops
// (ARCHITECTURE.md: weights stay in their dtype). A packed tensor (OpenAI CLIP's in_proj_weight
// [3W, W]) is split into row blocks with rows(), so no weight is ever copied.
//
// Ownership: the bytes belong to the TensorStore (or buffer) the view was made from; the view is
// valid while that lives. Thread-safety: immutable value; reads are safe from any thread.
// Failure: from_entry() throws InputError naming the file when the dtype is not f32/f16/bf16;
// misuse (a row out of range) is a CT_CHECK.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "io/dtype.h"
#include "io/tensor_store.h"

namespace ct::kernels {

struct WeightView {
  const std::byte* data = nullptr;  // row-major, maybe unaligned
  io::DType dtype = io::DType::kF32;
  int64_t rows = 0;                 // 1-D tensors: rows = 1, cols = length
  int64_t cols = 0;

  bool empty() const { return data == nullptr; }
  int64_t numel() const { return rows * cols; }

  // Widens row r into out[0, cols).
  void widen_row(int64_t r, float* out) const;
  // Widens elements [begin, begin + n) of the flattened tensor into out.
  void widen(int64_t begin, int64_t n, float* out) const;
  // Rows [first, first + count) as a view (a block of a packed tensor).
  WeightView row_block(int64_t first, int64_t count) const;

  // A view of f32 data in memory (tests, weights computed at load).
  static WeightView of_f32(const float* p, int64_t rows, int64_t cols);
  // A view of a stored tensor: 1-D [n] becomes rows 1 x cols n; N-D [a, b, ...] becomes
  // rows a x cols (b * ...). Throws InputError (file, name) for a non-f32/f16/bf16 dtype.
  static WeightView from_entry(const io::TensorEntry& e);
};

}  // namespace ct::kernels
