// Test helpers for the weight-streaming kernels: a weight matrix kept in f32 and narrowed to f16 or
// bf16 storage, viewed in any of the three dtypes, and the instruction sets this CPU runs.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/isa.h"
#include "kernels/weight_view.h"
#include "tensor/convert.h"

namespace ct::testing {

struct StoredWeights {
  std::vector<float> f32;
  std::vector<uint16_t> half;  // f16 or bf16 bits, when narrowed
  kernels::WeightView view(io::DType dt, int64_t rows, int64_t cols) const {
    if (dt == io::DType::kF32) return kernels::WeightView::of_f32(f32.data(), rows, cols);
    return kernels::WeightView{reinterpret_cast<const std::byte*>(half.data()), dt, rows, cols};
  }
};

inline StoredWeights store_weights(const std::vector<float>& v, io::DType dt) {
  StoredWeights s{v, {}};
  if (dt != io::DType::kF32) {
    s.half.resize(v.size());
    for (std::size_t i = 0; i < v.size(); ++i)
      s.half[i] = dt == io::DType::kF16 ? tensor::f32_to_f16(v[i]) : tensor::f32_to_bf16(v[i]);
  }
  return s;
}

inline std::vector<kernels::cpu::Isa> supported_isas() {
  std::vector<kernels::cpu::Isa> out;
  for (kernels::cpu::Isa i : {kernels::cpu::Isa::kPortable, kernels::cpu::Isa::kAvx2, kernels::cpu::Isa::kAvx512})
    if (kernels::cpu::isa_supported(i)) out.push_back(i);
  return out;
}

}  // namespace ct::testing
