// Safetensors: reading (validated, zero-copy over a memory map) and writing (atomic).
//
// Layout: u64 little-endian header length n, n bytes of UTF-8 JSON
//   { name: {"dtype": "F32"|..., "shape": [...], "data_offsets": [begin, end)}, "__metadata__": {str: str} }
// then the data area; offsets are relative to its first byte.
//
// Validation (every failure is an InputError naming the file and the problem):
// header length within the file, JSON well formed and valid UTF-8, no duplicate keys, every entry
// an object with exactly a known dtype, a shape of non-negative integers and two offsets,
// end - begin == numel * dtype size with no overflow in that arithmetic, offsets inside the data
// area, no two tensors overlapping, __metadata__ a map of strings. Also: nesting deeper than 16
// levels and headers over kSafetensorsMaxHeaderBytes are refused. Gaps between tensors are allowed
// (our own writer leaves them for alignment); trailing spaces after the JSON are allowed.
//
// Thread-safety: the functions are re-entrant.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "io/tensor_store.h"

namespace ct::io {

// The largest header accepted (the reference implementation uses the same 100 MB bound).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100u << 20;

struct SafetensorsTensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to the data area
};

struct SafetensorsHeader {
  std::vector<SafetensorsTensorInfo> tensors;  // in header (JSON) order
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;                     // 8 + header length
};

// Parses and validates the header of a whole file image `file` (the bytes of the file).
// `file_name` is used in messages only. This is the fuzzing entry point.
SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file, const std::string& file_name);

// Maps `path`, validates it and adds its tensors (views into the mapping) to `into`.
void read_safetensors(const std::filesystem::path& path, TensorStore& into);

// One tensor to write: its bytes are copied as they are (little-endian, row-major).
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;
};

// Writes a safetensors file atomically (temp file in the same directory, fsync, rename): a
// reader never sees a half-written file, and an existing file is replaced only on success.
// The header is padded with spaces so that the data area starts at a multiple of 64 bytes in the file
// (so the header length is a multiple of 8). By default tensors are written back to back, as the
// Hugging Face reader requires (see SafetensorsWriteOptions); our own readers and kernels accept
// unaligned tensors.
// Throws InputError on a duplicate name or a size mismatch, RuntimeFailure when writing fails.
void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Interoperability: the Hugging Face reader (Rust/Python `safetensors`) requires the tensors to
// cover the data area contiguously, without gaps ("InvalidOffset" otherwise), so the default
// tensor_alignment = 1 writes them back to back. A larger power of two (e.g. 64) pads every tensor
// to that boundary for files only crosstrace reads. InputError when it is not a power of two.
struct SafetensorsWriteOptions {
  uint64_t tensor_alignment = 1;
};
void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata, const SafetensorsWriteOptions& options);

}  // namespace ct::io
