// WeightBinder: lookup by normalised key, shape and dtype validation, row-block splitting.
#include "models/weights.h"

#include "core/error.h"

namespace ct::models {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

WeightBinder::WeightBinder(const io::TensorStore& store,
                           const std::function<std::string(std::string_view)>& normalise)
    : store_(store) {
  for (const auto& e : store.entries()) {
    std::string key = normalise ? normalise(e.name) : e.name;
    auto [it, fresh] = by_key_.emplace(key, &e);
    if (!fresh) {
      throw InputError(store.path(), "tensors " + it->second->name + " and " + e.name + " both mean " + key);
    }
  }
}

const io::TensorEntry* WeightBinder::find(const std::string& key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : it->second;
}

void WeightBinder::bind(const std::string& key, const std::vector<int64_t>& shape,
                        const std::vector<kernels::WeightView*>& parts) const {
  const io::TensorEntry* e = find(key);
  if (e == nullptr) {
    throw InputError(store_.path(), "missing tensor " + key + " (expected shape " + shape_string(shape) + ")");
  }
  if (e->shape != shape) {
    throw InputError(e->file, "tensor " + e->name + " has shape " + shape_string(e->shape) + ", expected " +
                                  shape_string(shape));
  }
  kernels::WeightView whole = kernels::WeightView::from_entry(*e);
  if (e->shape.size() == 1) {  // a vector splits along its only dimension: view it as a column
    whole.rows = whole.cols;
    whole.cols = 1;
  }
  const int64_t n = static_cast<int64_t>(parts.size());
  CT_CHECK(n > 0 && whole.rows % n == 0, "bind: rows do not split into the parts");
  const int64_t block = whole.rows / n;
  for (int64_t i = 0; i < n; ++i) {
    kernels::WeightView v = whole.row_block(i * block, block);
    if (e->shape.size() == 1) {
      v.cols = v.rows;
      v.rows = 1;
    }
    *parts[static_cast<std::size_t>(i)] = v;
  }
}

TensorVisitor WeightBinder::visitor() const {
  return [this](const std::string& key, const std::vector<int64_t>& shape,
                const std::vector<kernels::WeightView*>& parts) { bind(key, shape, parts); };
}

int64_t count_parameters(const std::function<void(const TensorVisitor&)>& walk) {
  int64_t total = 0;
  walk([&](const std::string&, const std::vector<int64_t>& shape, const std::vector<kernels::WeightView*>&) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    total += n;
  });
  return total;
}

}  // namespace ct::models
