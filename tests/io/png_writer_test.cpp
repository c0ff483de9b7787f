// PNG writer and base64: round trip through the libpng decoder of models/image.h (an independent
// implementation), and the RFC 4648 section 10 test vectors.
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/png_writer.h"
#include "models/image.h"

namespace ct::io {
namespace {

TEST(PngWriter, RoundTripsThroughLibpng) {
  for (auto [w, h] : {std::pair{1, 1}, {7, 3}, {33, 17}}) {
    std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3);
    for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
    const auto png = encode_png_rgb(rgb, w, h);
    const models::RgbImage back = models::decode_image_bytes(png, "roundtrip.png");
    EXPECT_EQ(back.width, w);
    EXPECT_EQ(back.height, h);
    EXPECT_EQ(back.pixels, rgb);
  }
}

TEST(PngWriter, RejectsWrongSizes) {
  std::vector<std::uint8_t> rgb(11);
  EXPECT_THROW(encode_png_rgb(rgb, 2, 2), InputError);
  EXPECT_THROW(encode_png_rgb({}, 0, 5), InputError);
}

TEST(Base64, Rfc4648Vectors) {
  auto enc = [](const std::string& s) {
    return base64_encode({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
  };
  EXPECT_EQ(enc(""), "");
  EXPECT_EQ(enc("f"), "Zg==");
  EXPECT_EQ(enc("fo"), "Zm8=");
  EXPECT_EQ(enc("foo"), "Zm9v");
  EXPECT_EQ(enc("foob"), "Zm9vYg==");
  EXPECT_EQ(enc("fooba"), "Zm9vYmE=");
  EXPECT_EQ(enc("foobar"), "Zm9vYmFy");
}

}  // namespace
}  // namespace ct::io
