// Conversions of stored tensors to f32 for computation. Weights stay in their stored dtype in the
// mapped file; code that needs f32 rows widens them here (kernels widen inside their loops).
//
// f16 and bf16 follow IEEE rounding-free widening (exact); f64 narrows with round-to-nearest.
// Source bytes may be unaligned (safetensors data is only byte-aligned), so reads use memcpy.
//
// Failure: InputError naming the tensor's file when its dtype is not a float type.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "io/tensor_store.h"

namespace ct::tensor {

float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);
// Round-to-nearest-even narrowing (NaN stays NaN).
uint16_t f32_to_bf16(float f);
uint16_t f32_to_f16(float f);

// Widens elements [begin, begin + out.size()) of `t` (flattened row-major) into `out`.
void to_f32(const io::TensorEntry& t, int64_t begin, std::span<float> out);
// The whole tensor as f32.
std::vector<float> to_f32(const io::TensorEntry& t);

}  // namespace ct::tensor
