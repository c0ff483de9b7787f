// Storage dtypes of checkpoint files: every dtype the safetensors format names, which also covers
// the PyTorch storage types. io/ knows only how wide each one is and how it is spelled; tensor/
// knows how to compute with the floating ones.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace ct::io {

enum class DType {
  kBool, kU8, kI8, kF8E5M2, kF8E4M3, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64,
};

// Bytes per element.
std::size_t dtype_size(DType t);
// The safetensors spelling: "BOOL", "U8", ..., "F8_E4M3", "BF16", "F64".
std::string_view dtype_name(DType t);
// Parses the safetensors spelling; nullopt when unknown.
std::optional<DType> parse_dtype(std::string_view name);
// True for F16, BF16, F32, F64 and the two F8 kinds.
bool dtype_is_float(DType t);

}  // namespace ct::io
