// Half-precision conversions against exhaustive round trips and hand-computed values.
#include "tensor/convert.h"

#include <gtest/gtest.h>

#include "core/error.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace ct::tensor {
namespace {

TEST(Convert, F16RoundTripsEveryValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    EXPECT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xC000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie rounds to even
  EXPECT_EQ(f32_to_f16(70000.0f), 0x7C00);
}

TEST(Convert, Bf16RoundTripsAndRoundsToNearestEven) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = bf16_to_f32(static_cast<uint16_t>(b));
    if (!std::isnan(f)) {
      EXPECT_EQ(f32_to_bf16(f), b);
    }
  }
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie -> even
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie -> even (up)
}

TEST(Convert, WidensUnalignedStoredTensors) {
  std::vector<std::byte> buf(1 + 3 * 2);
  const uint16_t vals[3] = {0x3F80, 0xC000, 0x4040};  // bf16 1, -2, 3
  std::memcpy(buf.data() + 1, vals, sizeof vals);
  io::TensorEntry t;
  t.name = "w";
  t.dtype = io::DType::kBF16;
  t.shape = {3};
  t.data = {buf.data() + 1, 6};
  const auto out = to_f32(t);
  EXPECT_EQ(out, (std::vector<float>{1.0f, -2.0f, 3.0f}));
  t.dtype = io::DType::kI16;
  EXPECT_THROW(to_f32(t), InputError);
}

}  // namespace
}  // namespace ct::tensor
