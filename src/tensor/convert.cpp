#include "tensor/convert.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"

namespace ct::tensor {

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: value = mant * 2^-24
      const float v = std::ldexp(static_cast<float>(mant), -24);
      return sign ? -v : v;
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

uint16_t f32_to_bf16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if (std::isnan(f)) return static_cast<uint16_t>((bits >> 16) | 0x40);
  const uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

uint16_t f32_to_f16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) return sign | (abs > 0x7F800000u ? 0x7E00 : 0x7C00);  // NaN / Inf
  if (abs >= 0x477FF000u) return sign | 0x7C00;                                  // overflow -> Inf
  if (abs < 0x38800000u) {                                                       // subnormal or zero
    const float a = std::bit_cast<float>(abs);
    return sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f));      // a / 2^-24, ties to even
  }
  const uint32_t rounded = abs + 0xFFFu + ((abs >> 13) & 1u);
  return sign | static_cast<uint16_t>((rounded - 0x38000000u) >> 13);
}

void to_f32(const io::TensorEntry& t, int64_t begin, std::span<float> out) {
  const std::size_t width = io::dtype_size(t.dtype);
  CT_CHECK(begin >= 0 && begin + static_cast<int64_t>(out.size()) <= t.numel(), "range outside the tensor");
  const std::byte* src = t.data.data() + static_cast<std::size_t>(begin) * width;
  switch (t.dtype) {
    case io::DType::kF32:
      std::memcpy(out.data(), src, out.size() * sizeof(float));
      return;
    case io::DType::kF16:
    case io::DType::kBF16:
      for (std::size_t i = 0; i < out.size(); ++i) {
        uint16_t v;
        std::memcpy(&v, src + 2 * i, 2);
        out[i] = t.dtype == io::DType::kF16 ? f16_to_f32(v) : bf16_to_f32(v);
      }
      return;
    case io::DType::kF64:
      for (std::size_t i = 0; i < out.size(); ++i) {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        out[i] = static_cast<float>(v);
      }
      return;
    default:
      throw InputError(t.file, "tensor '" + t.name + "' has dtype " + std::string(io::dtype_name(t.dtype)) +
                                   "; expected F32, F16, BF16 or F64");
  }
}

std::vector<float> to_f32(const io::TensorEntry& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  to_f32(t, 0, out);
  return out;
}

}  // namespace ct::tensor
