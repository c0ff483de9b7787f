// WeightView widening. The per-dtype switch sits outside the element loop so each loop is a plain
// conversion the compiler can vectorise.
#include "kernels/weight_view.h"

#include <cstring>

#include "core/error.h"
#include "tensor/convert.h"

namespace ct::kernels {

void WeightView::widen(int64_t begin, int64_t n, float* out) const {
  CT_CHECK(data != nullptr && begin >= 0 && n >= 0 && begin + n <= numel(), "widen outside the weight");
  const std::byte* src = data + static_cast<std::size_t>(begin) * io::dtype_size(dtype);
  switch (dtype) {
    case io::DType::kF32:
      std::memcpy(out, src, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case io::DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = tensor::f16_to_f32(h);
      }
      return;
    case io::DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = tensor::bf16_to_f32(h);
      }
      return;
    default:
      CT_CHECK(false, "WeightView with a dtype from_entry() refuses");
  }
}

void WeightView::widen_row(int64_t r, float* out) const {
  CT_CHECK(r >= 0 && r < rows, "row outside the weight");
  widen(r * cols, cols, out);
}

WeightView WeightView::row_block(int64_t first, int64_t count) const {
  CT_CHECK(first >= 0 && count >= 0 && first + count <= rows, "row block outside the weight");
  WeightView v = *this;
  v.data = data + static_cast<std::size_t>(first * cols) * io::dtype_size(dtype);
  v.rows = count;
  return v;
}

WeightView WeightView::of_f32(const float* p, int64_t rows, int64_t cols) {
  return WeightView{reinterpret_cast<const std::byte*>(p), io::DType::kF32, rows, cols};
}

WeightView WeightView::from_entry(const io::TensorEntry& e) {
  if (e.dtype != io::DType::kF32 && e.dtype != io::DType::kF16 && e.dtype != io::DType::kBF16) {
    throw InputError(e.file, "tensor " + e.name + " has dtype " + std::string(io::dtype_name(e.dtype)) +
                                 ", expected F32, F16 or BF16");
  }
  WeightView v;
  v.data = e.data.data();
  v.dtype = e.dtype;
  if (e.shape.empty()) {
    v.rows = 1;
    v.cols = 1;
  } else if (e.shape.size() == 1) {
    v.rows = 1;
    v.cols = e.shape[0];
  } else {
    v.rows = e.shape[0];
    v.cols = e.numel() / (e.shape[0] == 0 ? 1 : e.shape[0]);
  }
  return v;
}

}  // namespace ct::kernels
