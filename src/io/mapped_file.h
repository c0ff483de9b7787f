// MappedFile: a read-only memory map of a whole file. Checkpoints are opened this way so that
// tensors are views into the page cache (zero-copy) and opening a 14 GB model costs O(header).
//
// Ownership: a MappedFile owns its mapping; share it through std::shared_ptr so that tensor views
// keep it alive. Thread-safety: immutable after open, safe to read from any thread.
// Failure: open() throws InputError("<path>", "...") when the file is missing, is not a regular
// file, or cannot be mapped. An empty file maps to an empty span.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

namespace ct::io {

class MappedFile {
 public:
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::string path_;
};

}  // namespace ct::io
