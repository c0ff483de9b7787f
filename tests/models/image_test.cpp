// Image decoding and preprocessing against PIL 9.4 + numpy (tools/image_reference.py, run once
// per test binary): decoded pixels and resized uint8 images bit-exact, preprocessed float tensors
// bit-exact too (max abs difference 0, stricter than the 1e-6 asked for), and malformed files
// rejected with the file named.
#include "models/image.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "core/error.h"
#include "io/json_file.h"
#include "io/npy.h"

namespace ct::models {
namespace {
namespace fs = std::filesystem;

class ImageParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(CROSSTRACE_TEST_TMP) / ("image_reference_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    const std::string cmd = "/usr/bin/python3 " + std::string(CROSSTRACE_SOURCE_DIR) +
                            "/tools/image_reference.py --out " + dir_->string() + " 2> /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    manifest_ = new nlohmann::json(io::read_json_file(*dir_ / "manifest.json"));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete manifest_;
  }
  static const fs::path& dir() { return *dir_; }
  static const nlohmann::json& manifest() { return *manifest_; }

 private:
  static inline fs::path* dir_ = nullptr;
  static inline nlohmann::json* manifest_ = nullptr;
};

// Compares an RGB8 image with an [h, w, 3] uint8 npy; returns the max abs difference.
int max_diff_u8(const RgbImage& got, const fs::path& npy) {
  const io::NpyArray a = io::read_npy(npy);
  EXPECT_EQ(a.dtype, io::DType::kU8);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{got.height, got.width, 3})) << npy;
  if (a.shape != std::vector<int64_t>{got.height, got.width, 3}) return 256;
  const auto* want = reinterpret_cast<const std::uint8_t*>(a.data.data());
  int worst = 0;
  for (std::size_t i = 0; i < got.pixels.size(); ++i) worst = std::max(worst, std::abs(int(got.pixels[i]) - int(want[i])));
  return worst;
}

// Same for a [3, h, w] float32 tensor; returns the max abs difference.
double max_diff_f32(const ImageTensor& got, const fs::path& npy) {
  const io::NpyArray a = io::read_npy(npy);
  EXPECT_EQ(a.dtype, io::DType::kF32);
  const std::vector<int64_t> shape{3, got.height, got.width};
  EXPECT_EQ(a.shape, shape) << npy;
  if (a.shape != shape) return 1e9;
  std::vector<float> want(got.data.size());
  std::memcpy(want.data(), a.data.data(), want.size() * sizeof(float));
  double worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, double(std::fabs(got.data[i] - want[i])));
  return worst;
}

TEST_F(ImageParity, DecodedPixelsEqualPilConvertRgb) {
  ASSERT_GE(manifest()["decode"].size(), 20u);
  for (const auto& c : manifest()["decode"]) {
    const RgbImage img = decode_image_file(dir() / c["file"].get<std::string>());
    EXPECT_EQ(max_diff_u8(img, dir() / c["expected"].get<std::string>()), 0) << c["file"];
  }
}

TEST_F(ImageParity, BicubicResizeIsBitExactWithPil) {
  for (const auto& c : manifest()["resize"]) {
    const RgbImage src = decode_image_file(dir() / c["file"].get<std::string>());
    const RgbImage out = resize_bicubic(src, c["width"].get<int>(), c["height"].get<int>());
    EXPECT_EQ(max_diff_u8(out, dir() / c["expected"].get<std::string>()), 0)
        << c["file"] << " -> " << c["width"] << "x" << c["height"];
  }
}

TEST_F(ImageParity, ClipProcessorMatchesHfStepsByHand) {
  for (const char* mode : {"clip", "llava_pad"}) {
    for (const auto& c : manifest()[mode]) {
      const RgbImage src = decode_image_file(dir() / c["file"].get<std::string>());
      ClipProcessorConfig cfg;
      cfg.shortest_edge = c["shortest_edge"].get<int>();
      cfg.crop_size = c["crop"].get<int>();
      const ImageTensor t = std::string(mode) == "clip" ? preprocess_clip(src, cfg) : preprocess_llava_pad(src, cfg);
      EXPECT_EQ(t.height, cfg.crop_size);
      EXPECT_EQ(t.width, cfg.crop_size);
      EXPECT_LE(max_diff_f32(t, dir() / c["expected"].get<std::string>()), 0.0) << mode << " " << c["expected"];
    }
  }
}

TEST_F(ImageParity, MplugSquashMatchesTorchvisionStepsByHand) {
  for (const auto& c : manifest()["mplug"]) {
    const RgbImage src = decode_image_file(dir() / c["file"].get<std::string>());
    const ImageTensor t = preprocess_mplug(src, c["resolution"].get<int>());
    EXPECT_LE(max_diff_f32(t, dir() / c["expected"].get<std::string>()), 0.0) << c["expected"];
  }
}

TEST_F(ImageParity, BadFilesAreInputErrorsNamingTheFile) {
  for (const char* name : {"truncated_rgb8.png", "truncated_baseline420.jpg", "truncated_progressive.jpg",
                           "text.png", "empty.jpg", "huge.png", "zero.png"}) {
    const fs::path p = dir() / "bad" / name;
    try {
      decode_image_file(p);
      ADD_FAILURE() << name << " decoded";
    } catch (const InputError& e) {
      EXPECT_EQ(e.where(), p.string()) << name;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
  EXPECT_THROW(decode_image_file(dir() / "bad" / "missing.png"), InputError);
}

TEST(ImagePreprocess, ShortestEdgeAndCropArithmetic) {
  EXPECT_EQ(shortest_edge_size(640, 480, 336), (std::array<int, 2>{448, 336}));
  EXPECT_EQ(shortest_edge_size(480, 640, 336), (std::array<int, 2>{336, 448}));
  EXPECT_EQ(shortest_edge_size(333, 1000, 336), (std::array<int, 2>{336, 1009}));  // int(1009.009...)
  RgbImage img{3, 2, {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6}};
  const RgbImage c = center_crop(img, 1, 1);  // top = 0, left = 1
  EXPECT_EQ(c.pixels, (std::vector<std::uint8_t>{2, 2, 2}));
  const RgbImage p = center_crop(img, 4, 2);  // left = (3-4)//2 = -1: one zero column on the left
  EXPECT_EQ(p.pixels[0], 0);
  EXPECT_EQ(p.pixels[3], 1);
  const RgbImage sq = expand_to_square(img, {122, 116, 104});
  EXPECT_EQ(sq.width, 3);
  EXPECT_EQ(sq.height, 3);
  EXPECT_EQ(sq.pixels[0], 1);  // pasted at y0 = (3-2)//2 = 0
  EXPECT_EQ(sq.pixels[2 * 9], 122);
  EXPECT_THROW(resize_bicubic(img, 0, 4), InputError);
}

TEST(ImagePreprocess, ReadsPreprocessorConfig) {
  const fs::path dir = fs::path(CROSSTRACE_TEST_TMP) / "ImagePreprocess.ReadsPreprocessorConfig";
  fs::create_directories(dir);
  std::ofstream(dir / "preprocessor_config.json")
      << R"({"size": {"shortest_edge": 30}, "crop_size": {"height": 30, "width": 30}, "image_mean": [0.5, 0.5, 0.5]})";
  const auto cfg = read_clip_processor_config(dir / "preprocessor_config.json");
  EXPECT_EQ(cfg.shortest_edge, 30);
  EXPECT_EQ(cfg.crop_size, 30);
  EXPECT_EQ(cfg.mean[0], 0.5f);
  EXPECT_EQ(cfg.std[0], kClipStd[0]);
  std::ofstream(dir / "bad.json") << R"({"crop_size": {"height": 30, "width": 20}})";
  EXPECT_THROW(read_clip_processor_config(dir / "bad.json"), InputError);
}

}  // namespace
}  // namespace ct::models
