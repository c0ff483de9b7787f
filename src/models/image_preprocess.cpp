// Resampling and normalisation with PIL 9.4's arithmetic (declared in image.h).
//
// resize_bicubic follows the semantics of Pillow's ImagingResample for 8-bit images: per output
// pixel a window of input pixels and double weights filter((x - center + 0.5) / filterscale)
// normalised to sum 1, then turned into fixed-point integers with 22 fractional bits
// (PRECISION_BITS = 32 - 8 - 2), accumulated from a rounding bias of 2^21 and clamped to 0..255
// after each pass; horizontal pass first, vertical second, a pass skipped when its size is kept.
#include "models/image.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "io/json_file.h"

namespace ct::models {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kBicubicA = -0.5;  // PIL's; torch's tensor bicubic uses -0.75 (spec trap 8)
constexpr double kBicubicSupport = 2.0;

double bicubic(double x) {
  x = std::fabs(x);
  if (x < 1.0) return ((kBicubicA + 2.0) * x - (kBicubicA + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * kBicubicA;
  return 0.0;
}

// Per output index: first input index, count, and `ksize` fixed-point weights.
struct Coefficients {
  int ksize = 0;
  std::vector<int> first;           // [out]
  std::vector<int> count;           // [out]
  std::vector<std::int32_t> weights;  // [out, ksize]
};

Coefficients precompute(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = kBicubicSupport * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<std::size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation toward zero, as in C
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      c.weights[static_cast<std::size_t>(xx) * c.ksize + x] =
          w < 0 ? static_cast<std::int32_t>(-0.5 + w * (1 << kPrecisionBits))
                : static_cast<std::int32_t>(0.5 + w * (1 << kPrecisionBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

std::uint8_t clip8(std::int64_t acc) {
  return static_cast<std::uint8_t>(std::clamp<std::int64_t>(acc >> kPrecisionBits, 0, 255));
}

// [h, w_in, 3] -> [h, w_out, 3]
RgbImage resample_horizontal(const RgbImage& in, int out_w) {
  const Coefficients c = precompute(in.width, out_w);
  RgbImage out{out_w, in.height, std::vector<std::uint8_t>(static_cast<std::size_t>(out_w) * in.height * 3)};
  for (int y = 0; y < in.height; ++y) {
    const std::uint8_t* row = in.pixels.data() + static_cast<std::size_t>(y) * in.width * 3;
    std::uint8_t* dst = out.pixels.data() + static_cast<std::size_t>(y) * out_w * 3;
    for (int xx = 0; xx < out_w; ++xx) {
      const std::int32_t* k = c.weights.data() + static_cast<std::size_t>(xx) * c.ksize;
      std::int64_t acc[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
      for (int x = 0; x < c.count[xx]; ++x) {
        const std::uint8_t* p = row + static_cast<std::size_t>(x + c.first[xx]) * 3;
        for (int ch = 0; ch < 3; ++ch) acc[ch] += static_cast<std::int64_t>(p[ch]) * k[x];
      }
      for (int ch = 0; ch < 3; ++ch) dst[xx * 3 + ch] = clip8(acc[ch]);
    }
  }
  return out;
}

// [h_in, w, 3] -> [h_out, w, 3]
RgbImage resample_vertical(const RgbImage& in, int out_h) {
  const Coefficients c = precompute(in.height, out_h);
  const std::size_t stride = static_cast<std::size_t>(in.width) * 3;
  RgbImage out{in.width, out_h, std::vector<std::uint8_t>(stride * out_h)};
  std::vector<std::int64_t> acc(stride);
  for (int yy = 0; yy < out_h; ++yy) {
    const std::int32_t* k = c.weights.data() + static_cast<std::size_t>(yy) * c.ksize;
    std::fill(acc.begin(), acc.end(), std::int64_t{1} << (kPrecisionBits - 1));
    for (int y = 0; y < c.count[yy]; ++y) {
      const std::uint8_t* row = in.pixels.data() + static_cast<std::size_t>(y + c.first[yy]) * stride;
      for (std::size_t i = 0; i < stride; ++i) acc[i] += static_cast<std::int64_t>(row[i]) * k[y];
    }
    std::uint8_t* dst = out.pixels.data() + static_cast<std::size_t>(yy) * stride;
    for (std::size_t i = 0; i < stride; ++i) dst[i] = clip8(acc[i]);
  }
  return out;
}

void check_size(int w, int h, const char* what) {
  if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide) {
    throw InputError("size", std::string(what) + " must be in 1.." + std::to_string(kMaxImageSide) + ", got " +
                                 std::to_string(w) + "x" + std::to_string(h));
  }
}

template <typename ToFloat>
ImageTensor to_chw(const RgbImage& image, const std::array<float, 3>& mean, const std::array<float, 3>& std,
                   ToFloat to_float) {
  ImageTensor t{3, image.height, image.width, {}};
  const std::size_t plane = static_cast<std::size_t>(image.width) * image.height;
  t.data.resize(plane * 3);
  for (std::size_t i = 0; i < plane; ++i) {
    for (int c = 0; c < 3; ++c) {
      const float x = to_float(image.pixels[i * 3 + c]);
      t.data[c * plane + i] = (x - mean[c]) / std[c];  // float32, as numpy/torch on float32 arrays
    }
  }
  return t;
}

std::array<float, 3> float3(const nlohmann::json& j, const std::filesystem::path& file, const char* key) {
  if (!j.is_array() || j.size() != 3 || !j[0].is_number() || !j[1].is_number() || !j[2].is_number()) {
    throw InputError(file.string(), std::string(key) + " must be a list of 3 numbers");
  }
  return {j[0].get<float>(), j[1].get<float>(), j[2].get<float>()};
}

}  // namespace

RgbImage resize_bicubic(const RgbImage& image, int width, int height) {
  check_size(width, height, "resize target");
  CT_CHECK(image.pixels.size() == static_cast<std::size_t>(image.width) * image.height * 3, "RgbImage size");
  RgbImage out = image;
  if (width != image.width) out = resample_horizontal(out, width);
  if (height != image.height) out = resample_vertical(out, height);
  return out;
}

RgbImage center_crop(const RgbImage& image, int crop_width, int crop_height) {
  check_size(crop_width, crop_height, "crop");
  // transformers: top = (h - ch) // 2 (floor division, negative when padding), likewise left.
  auto floor_half = [](int v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); };
  const int top = floor_half(image.height - crop_height), left = floor_half(image.width - crop_width);
  RgbImage out{crop_width, crop_height, std::vector<std::uint8_t>(static_cast<std::size_t>(crop_width) * crop_height * 3, 0)};
  for (int y = 0; y < crop_height; ++y) {
    const int sy = y + top;
    if (sy < 0 || sy >= image.height) continue;
    for (int x = 0; x < crop_width; ++x) {
      const int sx = x + left;
      if (sx < 0 || sx >= image.width) continue;
      std::copy_n(image.pixels.data() + (static_cast<std::size_t>(sy) * image.width + sx) * 3, 3,
                  out.pixels.data() + (static_cast<std::size_t>(y) * crop_width + x) * 3);
    }
  }
  return out;
}

RgbImage expand_to_square(const RgbImage& image, std::array<std::uint8_t, 3> fill) {
  if (image.width == image.height) return image;
  const int side = std::max(image.width, image.height);
  RgbImage out{side, side, std::vector<std::uint8_t>(static_cast<std::size_t>(side) * side * 3)};
  for (std::size_t i = 0; i < static_cast<std::size_t>(side) * side; ++i) std::copy_n(fill.data(), 3, &out.pixels[i * 3]);
  const int x0 = (side - image.width) / 2, y0 = (side - image.height) / 2;
  for (int y = 0; y < image.height; ++y) {
    std::copy_n(image.pixels.data() + static_cast<std::size_t>(y) * image.width * 3, image.width * 3,
                out.pixels.data() + (static_cast<std::size_t>(y + y0) * side + x0) * 3);
  }
  return out;
}

std::array<int, 2> shortest_edge_size(int width, int height, int size) {
  check_size(size, size, "shortest edge");
  const int short_side = std::min(width, height), long_side = std::max(width, height);
  // Python: int(size * long / short), a true division of exact integers, then truncation.
  const int new_long = static_cast<int>(static_cast<double>(static_cast<long long>(size) * long_side) / short_side);
  return width <= height ? std::array<int, 2>{size, new_long} : std::array<int, 2>{new_long, size};
}

ImageTensor normalize_hf(const RgbImage& image, double rescale_factor, const std::array<float, 3>& mean,
                         const std::array<float, 3>& std) {
  // transformers rescale(): image.astype(float64) * scale, then astype(float32).
  return to_chw(image, mean, std, [rescale_factor](std::uint8_t v) { return static_cast<float>(v * rescale_factor); });
}

ImageTensor normalize_torchvision(const RgbImage& image, const std::array<float, 3>& mean,
                                  const std::array<float, 3>& std) {
  // ToTensor: uint8 -> float32, then .div(255) in float32.
  return to_chw(image, mean, std, [](std::uint8_t v) { return static_cast<float>(v) / 255.0f; });
}

ImageTensor preprocess_clip(const RgbImage& image, const ClipProcessorConfig& config) {
  const auto [w, h] = shortest_edge_size(image.width, image.height, config.shortest_edge);
  const RgbImage cropped = center_crop(resize_bicubic(image, w, h), config.crop_size, config.crop_size);
  return normalize_hf(cropped, config.rescale_factor, config.mean, config.std);
}

ImageTensor preprocess_llava_pad(const RgbImage& image, const ClipProcessorConfig& config) {
  std::array<std::uint8_t, 3> fill{};
  // LLaVA: tuple(int(x * 255) for x in image_mean), in double as Python computes it.
  for (int c = 0; c < 3; ++c) fill[c] = static_cast<std::uint8_t>(static_cast<int>(static_cast<double>(config.mean[c]) * 255));
  return preprocess_clip(expand_to_square(image, fill), config);
}

ImageTensor preprocess_mplug(const RgbImage& image, int resolution, const std::array<float, 3>& mean,
                             const std::array<float, 3>& std) {
  return normalize_torchvision(resize_bicubic(image, resolution, resolution), mean, std);
}

ClipProcessorConfig read_clip_processor_config(const std::filesystem::path& path) {
  const nlohmann::json j = io::read_json_file(path);
  ClipProcessorConfig c;
  auto positive = [&](const nlohmann::json& v, const char* key) {
    if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > kMaxImageSide) {
      throw InputError(path.string(), std::string(key) + " must be an integer in 1.." + std::to_string(kMaxImageSide));
    }
    return v.get<int>();
  };
  if (const auto it = j.find("size"); it != j.end()) {
    if (it->is_object() && it->contains("shortest_edge")) c.shortest_edge = positive((*it)["shortest_edge"], "size.shortest_edge");
    else if (it->is_number()) c.shortest_edge = positive(*it, "size");
    else throw InputError(path.string(), "size must be an integer or {\"shortest_edge\": n}");
  }
  if (const auto it = j.find("crop_size"); it != j.end()) {
    if (it->is_object()) {
      const int h = positive(it->value("height", nlohmann::json()), "crop_size.height");
      const int w = positive(it->value("width", nlohmann::json()), "crop_size.width");
      if (h != w) throw InputError(path.string(), "crop_size must be square, got " + std::to_string(w) + "x" + std::to_string(h));
      c.crop_size = h;
    } else {
      c.crop_size = positive(*it, "crop_size");
    }
  }
  if (const auto it = j.find("rescale_factor"); it != j.end()) {
    if (!it->is_number()) throw InputError(path.string(), "rescale_factor must be a number");
    c.rescale_factor = it->get<double>();
  }
  if (const auto it = j.find("image_mean"); it != j.end()) c.mean = float3(*it, path, "image_mean");
  if (const auto it = j.find("image_std"); it != j.end()) c.std = float3(*it, path, "image_std");
  return c;
}

}  // namespace ct::models
