#include "io/tensor_store.h"

#include "core/error.h"

namespace ct::io {

int64_t TensorEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void TensorStore::add(TensorEntry entry) {
  auto it = index_.find(entry.name);
  if (it != index_.end()) {
    const auto& first = entries_[it->second];
    throw InputError(entry.file, "tensor '" + entry.name + "' appears twice (also in " + first.file + ")");
  }
  index_.emplace(entry.name, entries_.size());
  entries_.push_back(std::move(entry));
}

const TensorEntry* TensorStore::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const TensorEntry& TensorStore::at(std::string_view name) const {
  const TensorEntry* e = find(name);
  if (!e) throw InputError(path_, "required tensor '" + std::string(name) + "' is missing");
  return *e;
}

}  // namespace ct::io
