// TensorStore: the tensors of one checkpoint (one file, or the shards of one model), by name,
// whatever the container (safetensors, PyTorch zip). Tensors are views: their bytes live in the
// memory-mapped files (or buffers) the store keeps alive.
//
// Ownership: the store owns its keep-alive handles; a TensorEntry's `data` is valid while the store
// lives. Thread-safety: immutable after loading; concurrent reads are safe.
// Failure: add() throws InputError when a name repeats (naming both files); at() throws InputError
// naming the store's path and the missing tensor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/dtype.h"

namespace ct::io {

struct TensorEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;          // row-major, outermost first; [] is a scalar
  std::span<const std::byte> data;     // exactly numel() * dtype_size(dtype) bytes, maybe unaligned
  std::string file;                    // the file the bytes come from (for messages)

  int64_t numel() const;               // product of shape; 1 for a scalar
};

class TensorStore {
 public:
  explicit TensorStore(std::string path = {}) : path_(std::move(path)) {}

  // The checkpoint path given by the user (file or directory), used in messages.
  const std::string& path() const { return path_; }
  void set_path(std::string path) { path_ = std::move(path); }

  // Adds a tensor; throws InputError on a duplicate name.
  void add(TensorEntry entry);
  // Keeps `owner` (a mapping, a buffer) alive as long as the store.
  void keep_alive(std::shared_ptr<const void> owner) { owners_.push_back(std::move(owner)); }

  const TensorEntry* find(std::string_view name) const;
  const TensorEntry& at(std::string_view name) const;
  // In insertion order (file order), which is what listings show.
  const std::vector<TensorEntry>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }

  // Files read into this store and their container format ("safetensors", "pytorch-zip").
  std::vector<std::string> files;
  std::string format;
  // Free-form string metadata (safetensors __metadata__), merged over shards.
  std::map<std::string, std::string> metadata;

 private:
  std::string path_;
  std::vector<TensorEntry> entries_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::vector<std::shared_ptr<const void>> owners_;
};

}  // namespace ct::io
