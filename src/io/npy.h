// NumPy .npy files: reading (validated, zero-copy over a memory map) and writing (atomic).
//
// Layout: "\x93NUMPY", major, minor; the header length (u16 LE for version 1.0, u32 LE for 2.0
// and 3.0); the header, a Python dict literal {'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), } padded with spaces and ended by '\n'; then the raw data, row-major.
//
// Supported dtypes: <f2 <f4 <f8 |i1 <i2 <i4 <i8 |u1 <u2 <u4 <u8 |b1 (bf16 and f8 have no npy
// spelling). Refused with a message: big-endian ('>') or native ('=') byte order, fortran_order
// True, other dtypes (objects, structured, strings).
//
// Validation (every failure is an InputError naming the file, what was expected and found):
// magic and version, header length within the file, strict dict syntax with exactly the three keys
// once each, shape a tuple of non-negative integers (a 1-tuple needs its comma), numel * dtype size
// without overflow and equal to the bytes after the header.
//
// Ownership: NpyArray::data is a view that stays valid as long as NpyArray::owner (the mapping)
// lives. Thread-safety: the functions are re-entrant; an NpyArray is immutable.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace ct::io {

struct NpyArray {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;              // row-major, outermost first; [] is a scalar
  std::span<const std::byte> data;         // numel() * dtype_size(dtype) bytes, little-endian
  std::shared_ptr<const void> owner;       // keeps `data` alive (null from parse_npy)

  int64_t numel() const;
};

// Maps `path` and validates it; data is a view into the mapping.
NpyArray read_npy(const std::filesystem::path& path);

// Validates a whole file image `file`; the result's data views `file` (owner is null).
// `file_name` is used in messages only.
NpyArray parse_npy(std::span<const std::byte> file, const std::string& file_name);

// Writes a version 1.0 file (2.0 when the header would not fit 65535 bytes) atomically; the
// header is padded so the data starts at a multiple of 64 bytes. Throws InputError for a dtype
// npy cannot express, a negative dimension or a size mismatch, RuntimeFailure when writing fails.
void write_npy(const std::filesystem::path& path, DType dtype, std::span<const int64_t> shape,
               std::span<const std::byte> data);

}  // namespace ct::io
