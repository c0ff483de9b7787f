// Images for the vision towers: decoding PNG/JPEG to RGB8 and the preprocessing of the two model
// families (vlm-architectures.md 2.7, 3.5), matching PIL 9.4 (Debian 12's python3-pil) pixel for
// pixel so that our tensors equal what the Python pipelines feed the models.
//
// Decoding (format sniffed from the magic bytes, never the extension):
// - PNG via libpng: every colour type and bit depth, interlaced or not, as PIL's
//   Image.open(f).convert("RGB"): alpha and tRNS transparency are discarded (not composited);
//   16-bit channels keep their high byte, except 16-bit greyscale, which PIL opens as mode "I" and
//   convert("RGB") clamps to 255 (so 16-bit grey above 255 is white, exactly as in PIL);
//   1/2/4-bit grey is scaled to 0..255; gamma and colour chunks are ignored, as PIL does.
// - JPEG via libjpeg-turbo with PIL's settings (ISLOW DCT, fancy upsampling): baseline and
//   progressive; greyscale is replicated; CMYK/YCCK are read as Adobe-inverted CMYK and converted
//   with PIL's cmyk2rgb (r = 255-k - (c*(255-k))/255, PIL's rounding).
// Limits: width and height in 1..kMaxImageSide.
//
// Preprocessing (all on RGB8, HWC):
// - resize_bicubic: PIL's Image.resize(size, BICUBIC): separable, antialiased (support scales
//   with the downscale factor), a = -0.5, horizontal pass then vertical, coefficients in 22-bit
//   fixed point, results rounded and clamped to uint8 after each pass.
// - CLIPImageProcessor (llava-hf): shortest edge to S (long edge int(S*long/short)), centre crop
//   C x C at ((h-C)//2, (w-C)//2), x * rescale_factor in double then float32, (x-mean)/std in
//   float32, CHW.
// - mPLUG: squash to (res, res), torchvision ToTensor (float32 x/255) and Normalize (float32).
// - LLaVA original ("pad"): expand2square with int(255*mean) = (122,116,104), then CLIP.
//
// Ownership: images and tensors are plain values. Thread-safety: pure functions.
// Failure: decoding throws InputError(file name, problem) for unreadable, truncated, corrupt,
// unsupported or oversized files; preprocessing throws InputError("size", ...) for sizes < 1.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace ct::models {

inline constexpr int kMaxImageSide = 16384;

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // [height, width, 3] row-major RGB
};

struct ImageTensor {
  int channels = 3;
  int height = 0;
  int width = 0;
  std::vector<float> data;  // [channels, height, width]
};

// CLIP's normalisation constants (OpenAI), used by both LLaVA and mPLUG.
inline constexpr std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};
inline constexpr double kHfRescaleFactor = 0.00392156862745098;  // 1/255 as preprocessor_config.json has it

RgbImage decode_image_file(const std::filesystem::path& path);
// `name` is used in messages only.
RgbImage decode_image_bytes(std::span<const std::uint8_t> bytes, const std::string& name);

// PIL Image.resize((width, height), Image.BICUBIC) on an RGB image.
RgbImage resize_bicubic(const RgbImage& image, int width, int height);
// HF center_crop: offsets ((h-ch)//2, (w-cw)//2); a crop larger than the image pads with zeros
// around it, as transformers does.
RgbImage center_crop(const RgbImage& image, int crop_width, int crop_height);
// LLaVA's expand2square: the image pasted at ((side-w)//2, (side-h)//2) on a `fill` canvas.
RgbImage expand_to_square(const RgbImage& image, std::array<std::uint8_t, 3> fill);
// (w, h) after "shortest edge = size": the short side becomes size, the long int(size*long/short).
std::array<int, 2> shortest_edge_size(int width, int height, int size);

struct ClipProcessorConfig {
  int shortest_edge = 336;
  int crop_size = 336;
  double rescale_factor = kHfRescaleFactor;
  std::array<float, 3> mean = kClipMean;
  std::array<float, 3> std = kClipStd;
};
// Reads size.shortest_edge (or an int size), crop_size (int or {height,width}), rescale_factor,
// image_mean, image_std from a preprocessor_config.json; absent fields keep the defaults.
// Throws InputError naming the file for malformed values or non-square crops.
ClipProcessorConfig read_clip_processor_config(const std::filesystem::path& path);

// llava-hf: [3, crop, crop].
ImageTensor preprocess_clip(const RgbImage& image, const ClipProcessorConfig& config);
// Original LLaVA-1.5 (image_aspect_ratio "pad"): expand2square with int(255*mean), then CLIP.
ImageTensor preprocess_llava_pad(const RgbImage& image, const ClipProcessorConfig& config);
// mPLUG test transform: [3, res, res].
ImageTensor preprocess_mplug(const RgbImage& image, int resolution, const std::array<float, 3>& mean = kClipMean,
                             const std::array<float, 3>& std = kClipStd);

// The two pixel-to-float paths, exposed for tests: HF (double multiply, then float32) and
// torchvision (float32 divide). Both then (x - mean) / std in float32. [h, w, 3] -> [3, h, w].
ImageTensor normalize_hf(const RgbImage& image, double rescale_factor, const std::array<float, 3>& mean,
                         const std::array<float, 3>& std);
ImageTensor normalize_torchvision(const RgbImage& image, const std::array<float, 3>& mean,
                                  const std::array<float, 3>& std);

}  // namespace ct::models
