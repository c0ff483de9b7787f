// Encoding 8-bit RGB images as PNG bytes (truecolour, no interlace, one IDAT compressed with zlib),
// for the report's embedded thumbnails and the demo's bundled images. Decoding is models/image.h.
//
// Ownership: returns an owned byte vector. Thread-safety: pure functions.
// Failure: InputError("png", ...) for a zero or oversized side or a pixel buffer of the wrong size;
// RuntimeFailure when zlib fails (out of memory).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ct::io {

// rgb [height, width, 3] row-major -> PNG file bytes.
std::vector<std::uint8_t> encode_png_rgb(std::span<const std::uint8_t> rgb, int width, int height);

// RFC 4648 base64 with padding (for data: URIs).
std::string base64_encode(std::span<const std::uint8_t> bytes);

}  // namespace ct::io
