// PNG and JPEG decoding to RGB8 with PIL's conversions (see image.h).
//
// libpng and libjpeg report errors through longjmp. Every setjmp lives in a small function whose
// locals are trivially destructible and that writes into caller-owned memory, so a longjmp never
// skips a C++ destructor; the C++ side turns the recorded message into an InputError.
#include "models/image.h"

#include <png.h>
#include <stdio.h>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
#include <jerror.h>

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.h"

namespace ct::models {
namespace {

constexpr std::size_t kMessageSize = 200;

void check_dimensions(long long width, long long height, const std::string& name) {
  if (width < 1 || height < 1 || width > kMaxImageSide || height > kMaxImageSide) {
    throw InputError(name, "image is " + std::to_string(width) + "x" + std::to_string(height) +
                               "; expected width and height in 1.." + std::to_string(kMaxImageSide));
  }
}

// ---------------------------------------------------------------------------------------------
// PNG

struct PngState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::size_t pos = 0;
  char message[kMessageSize] = {};
};

void png_on_error(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(st->message, kMessageSize, "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}  // PIL decodes through warnings too

void png_on_read(png_structp png, png_bytep out, png_size_t n) {
  auto* st = static_cast<PngState*>(png_get_io_ptr(png));
  if (st->size - st->pos < n) png_error(png, "unexpected end of file (truncated PNG)");
  std::memcpy(out, st->data + st->pos, n);
  st->pos += n;
}

// Reads the header; on success *channels/*bit_depth/... describe the raw rows.
bool png_read_header(PngState* st, png_uint_32* width, png_uint_32* height, int* bit_depth, int* color_type,
                     int* interlace) {
  if (setjmp(png_jmpbuf(st->png))) return false;
  png_set_read_fn(st->png, st, png_on_read);
  png_set_user_limits(st->png, kMaxImageSide, kMaxImageSide);
  png_read_info(st->png, st->info);
  png_get_IHDR(st->png, st->info, width, height, bit_depth, color_type, interlace, nullptr, nullptr);
  if (*bit_depth < 8) png_set_packing(st->png);  // one sample per byte, values unscaled
  png_set_interlace_handling(st->png);
  png_read_update_info(st->png, st->info);
  return true;
}

bool png_read_rows(PngState* st, png_bytepp rows) {
  if (setjmp(png_jmpbuf(st->png))) return false;
  png_read_image(st->png, rows);
  return true;
}

RgbImage decode_png(std::span<const std::uint8_t> bytes, const std::string& name) {
  PngState st;
  st.data = bytes.data();
  st.size = bytes.size();
  st.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, png_on_error, png_on_warning);
  if (!st.png) throw RuntimeFailure("libpng: cannot create a read struct");
  st.info = png_create_info_struct(st.png);
  struct Cleanup {
    PngState& s;
    ~Cleanup() { png_destroy_read_struct(&s.png, s.info ? &s.info : nullptr, nullptr); }
  } cleanup{st};
  if (!st.info) throw RuntimeFailure("libpng: cannot create an info struct");

  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  if (!png_read_header(&st, &width, &height, &bit_depth, &color_type, &interlace)) {
    throw InputError(name, std::string("bad PNG: ") + st.message);
  }
  check_dimensions(width, height, name);
  const std::size_t row_bytes = png_get_rowbytes(st.png, st.info);
  const int channels = png_get_channels(st.png, st.info);
  const int sample_bytes = bit_depth == 16 ? 2 : 1;
  CT_CHECK(row_bytes == static_cast<std::size_t>(width) * channels * sample_bytes, "unexpected PNG row size");

  std::vector<std::uint8_t> raw(row_bytes * height);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = raw.data() + y * row_bytes;
  if (!png_read_rows(&st, rows.data())) throw InputError(name, std::string("bad PNG: ") + st.message);

  // Palette, fetched after the rows so that libpng has validated it.
  png_colorp palette = nullptr;
  int palette_size = 0;
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    if (png_get_PLTE(st.png, st.info, &palette, &palette_size) != PNG_INFO_PLTE) {
      throw InputError(name, "bad PNG: palette image without a PLTE chunk");
    }
  }

  RgbImage img{static_cast<int>(width), static_cast<int>(height), {}};
  img.pixels.resize(static_cast<std::size_t>(width) * height * 3);
  const int grey_max = (1 << std::min(bit_depth, 8)) - 1;
  for (std::size_t i = 0, n = static_cast<std::size_t>(width) * height; i < n; ++i) {
    const std::uint8_t* s = raw.data() + i * channels * sample_bytes;
    std::uint8_t* d = img.pixels.data() + i * 3;
    // A sample as PIL keeps it: the high byte of 16-bit samples.
    auto sample = [&](int c) { return s[c * sample_bytes]; };
    switch (color_type) {
      case PNG_COLOR_TYPE_GRAY:
      case PNG_COLOR_TYPE_GRAY_ALPHA: {
        std::uint8_t v;
        if (bit_depth == 16 && color_type == PNG_COLOR_TYPE_GRAY) {
          // PIL: mode "I", and convert("RGB") clamps the 16-bit value to 255.
          v = static_cast<std::uint8_t>(std::min(255, (s[0] << 8) | s[1]));
        } else if (bit_depth < 8) {
          v = static_cast<std::uint8_t>(s[0] * 255 / grey_max);
        } else {
          v = sample(0);
        }
        d[0] = d[1] = d[2] = v;
        break;
      }
      case PNG_COLOR_TYPE_PALETTE: {
        const int idx = s[0];
        if (idx < palette_size) {
          d[0] = palette[idx].red;
          d[1] = palette[idx].green;
          d[2] = palette[idx].blue;
        } else {
          d[0] = d[1] = d[2] = 0;
        }
        break;
      }
      default:  // RGB, RGB_ALPHA: alpha dropped
        d[0] = sample(0);
        d[1] = sample(1);
        d[2] = sample(2);
    }
  }
  return img;
}

// ---------------------------------------------------------------------------------------------
// JPEG

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings are ignored as PIL ignores them, except running out of data: PIL refuses truncated
// files ("image file is truncated") where libjpeg would pad them with grey.
void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    auto* err = reinterpret_cast<JpegError*>(cinfo->err);
    std::snprintf(err->message, sizeof(err->message), "unexpected end of file (truncated JPEG)");
    std::longjmp(err->jump, 1);
  }
}

bool jpeg_read_header_phase(jpeg_decompress_struct* cinfo, JpegError* err, const std::uint8_t* data,
                            std::size_t size) {
  if (setjmp(err->jump)) return false;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo->out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo->out_color_space = JCS_CMYK; break;
    default: cinfo->out_color_space = JCS_RGB;
  }
  cinfo->dct_method = JDCT_ISLOW;  // PIL's setting (and libjpeg's default)
  cinfo->do_fancy_upsampling = TRUE;
  return true;
}

bool jpeg_start_phase(jpeg_decompress_struct* cinfo, JpegError* err) {
  if (setjmp(err->jump)) return false;
  jpeg_start_decompress(cinfo);
  return true;
}

bool jpeg_rows_phase(jpeg_decompress_struct* cinfo, JpegError* err, std::uint8_t* out, std::size_t row_bytes) {
  if (setjmp(err->jump)) return false;
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = out + static_cast<std::size_t>(cinfo->output_scanline) * row_bytes;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

// PIL's cmyk2rgb on Adobe-inverted samples: MULDIV255(a, b) = ((t >> 8) + t) >> 8, t = a*b + 128.
std::uint8_t cmyk_channel(int c, int nk) {
  const int t = c * nk + 128;
  return static_cast<std::uint8_t>(std::clamp(nk - (((t >> 8) + t) >> 8), 0, 255));
}

RgbImage decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& name) {
  jpeg_decompress_struct cinfo{};
  JpegError err{};
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_on_error;
  err.mgr.emit_message = jpeg_on_message;
  struct Cleanup {
    jpeg_decompress_struct& c;
    ~Cleanup() { jpeg_destroy_decompress(&c); }
  } cleanup{cinfo};
  if (!jpeg_read_header_phase(&cinfo, &err, bytes.data(), bytes.size())) {
    throw InputError(name, std::string("bad JPEG: ") + err.message);
  }
  check_dimensions(cinfo.image_width, cinfo.image_height, name);
  if (!jpeg_start_phase(&cinfo, &err)) throw InputError(name, std::string("bad JPEG: ") + err.message);
  const int comps = cinfo.output_components;
  CT_CHECK(comps == 1 || comps == 3 || comps == 4, "unexpected JPEG output components");
  const std::size_t w = cinfo.output_width, h = cinfo.output_height;
  std::vector<std::uint8_t> raw(w * h * comps);
  if (!jpeg_rows_phase(&cinfo, &err, raw.data(), w * comps)) {
    throw InputError(name, std::string("bad JPEG: ") + err.message);
  }
  RgbImage img{static_cast<int>(w), static_cast<int>(h), {}};
  img.pixels.resize(w * h * 3);
  for (std::size_t i = 0; i < w * h; ++i) {
    const std::uint8_t* s = raw.data() + i * comps;
    std::uint8_t* d = img.pixels.data() + i * 3;
    if (comps == 1) {
      d[0] = d[1] = d[2] = s[0];
    } else if (comps == 3) {
      d[0] = s[0];
      d[1] = s[1];
      d[2] = s[2];
    } else {
      const int nk = s[3];  // inverted: 255 - k
      for (int c = 0; c < 3; ++c) d[c] = cmyk_channel(255 - s[c], nk);
    }
  }
  return img;
}

}  // namespace

RgbImage decode_image_bytes(std::span<const std::uint8_t> bytes, const std::string& name) {
  static constexpr std::uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() >= 8 && std::equal(kPngMagic, kPngMagic + 8, bytes.begin())) return decode_png(bytes, name);
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) return decode_jpeg(bytes, name);
  if (bytes.empty()) throw InputError(name, "image file is empty");
  throw InputError(name, "not a PNG or JPEG image (unrecognised magic bytes)");
}

RgbImage decode_image_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "cannot open the image file");
  const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return decode_image_bytes(bytes, path.string());
}

}  // namespace ct::models
