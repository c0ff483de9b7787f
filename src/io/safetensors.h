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

// Streaming writer, for files too large to hold in memory: every tensor (name, dtype, shape) is
// declared up front, the constructor lays the file out and writes the header, then the tensors'
// bytes are streamed in declaration order through write() (any number of chunks per tensor; a
// chunk never spans two tensors), and finish() renames the complete file over `path` atomically
// (AtomicFileWriter: temp file in the same directory, fsync, rename). Destroying the writer before
// finish() (an exception, an abandoned job) removes the temporary file and leaves `path` as it was.
// Layout and validation are exactly write_safetensors' (which is built on this class).
// Ownership: owns its temporary file; copies nothing from the chunks. Thread-safety: one thread.
// Failure: InputError on a bad declaration (as write_safetensors), a chunk longer than what is left
// of the current tensor or given after the last one, or finish() before every byte was written;
// RuntimeFailure on I/O errors. After an exception the writer can only be destroyed.
struct SafetensorsTensorDecl {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
};

class SafetensorsStreamWriter {
 public:
  SafetensorsStreamWriter(const std::filesystem::path& path, std::vector<SafetensorsTensorDecl> tensors,
                          const std::map<std::string, std::string>& metadata = {},
                          const SafetensorsWriteOptions& options = {});
  ~SafetensorsStreamWriter();
  SafetensorsStreamWriter(const SafetensorsStreamWriter&) = delete;
  SafetensorsStreamWriter& operator=(const SafetensorsStreamWriter&) = delete;

  // The next bytes of the current tensor (moves on to the next tensor when this one is complete).
  void write(std::span<const std::byte> chunk);
  template <typename T>
  void write(std::span<const T> values) { write(std::as_bytes(values)); }
  // Index of the tensor the next write() goes to (== number of tensors when all are written).
  std::size_t current() const { return current_; }
  // Byte size of declared tensor i (numel x dtype size).
  uint64_t tensor_bytes(std::size_t i) const { return sizes_.at(i); }
  // Bytes still expected for the current tensor.
  uint64_t remaining_in_current() const;
  void finish();

 private:
  void skip_empty_tensors();
  std::filesystem::path path_;
  std::vector<SafetensorsTensorDecl> tensors_;
  std::vector<uint64_t> begins_, sizes_;
  std::size_t current_ = 0;
  uint64_t written_in_current_ = 0, file_cursor_ = 0;  // file_cursor_: data-area offset written so far
  struct AtomicHolder;
  AtomicHolder* file_ = nullptr;  // owned (keeps atomic_file.h out of this header)
  bool failed_ = false;
};

}  // namespace ct::io
