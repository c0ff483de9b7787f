// ZipArchive: a strict, read-only ZIP reader over bytes already in memory (a memory map), made
// for the containers torch.save writes (>= 1.6). It reads the end-of-central-directory record
// (found by a bounded back-scan that honours the comment length), the ZIP64 locator and record,
// the central directory with ZIP64 extra fields, and cross-checks every local header against its
// central-directory entry (name, method, sizes). Stored entries (method 0) are returned as views
// into the input (zero-copy); deflated entries (method 8) are inflated with zlib into an owned
// buffer, with a size limit and a CRC-32 check.
//
// Ownership: a ZipArchive does not own the bytes; they must outlive it and every view it returns.
// Inflated contents are owned by the returned ZipContents (a shared buffer).
// Thread-safety: immutable after construction; read() may be called from several threads.
// Failure: the constructor and read() throw ct::InputError(file_name, "...") on anything
// malformed: no end-of-central-directory record, multi-disk archives, offsets or sizes outside the
// file or overflowing, bad signatures, duplicate names, a local header that disagrees with the
// central directory, encrypted entries, unsupported methods, bad deflate data or a CRC mismatch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ct::io {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;          // 0 stored, 8 deflate
  uint16_t flags = 0;
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t local_header_offset = 0;
  uint64_t data_offset = 0;     // first byte of the (compressed) data, from the local header
};

struct ZipContents {
  std::span<const std::byte> bytes;               // the uncompressed contents
  std::shared_ptr<const std::vector<std::byte>> owned;  // set when inflated; owns `bytes`
};

class ZipArchive {
 public:
  // Parses and validates the whole directory; `file_name` is used in messages only.
  ZipArchive(std::span<const std::byte> file, std::string file_name);

  // In central-directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when absent.
  const ZipEntry* find(std::string_view name) const;

  // The contents of `entry` (one of entries()). Throws InputError when the uncompressed size
  // exceeds `max_size`, when inflating fails, or (when `check_crc`, always for deflated entries)
  // when the CRC-32 differs. Stored entries skip the CRC unless asked: checking it would read
  // every page of a multi-gigabyte checkpoint at open time.
  ZipContents read(const ZipEntry& entry, uint64_t max_size, bool check_crc) const;

  const std::string& file_name() const { return file_name_; }

 private:
  void parse();
  [[noreturn]] void fail(const std::string& problem) const;

  std::span<const std::byte> file_;
  std::string file_name_;
  std::vector<ZipEntry> entries_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

// True when `file` starts with a ZIP local-header or empty-archive signature.
bool looks_like_zip(std::span<const std::byte> file);

}  // namespace ct::io
