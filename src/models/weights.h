// Binding checkpoint tensors to a model's weights struct (gemma.cpp style): each model declares
// its tensor list once, in a for_each_tensor(config, weights, visitor) function that calls the
// visitor with (key, expected shape, target views). Loading (WeightBinder), validation and
// listings (parameter counts, key lists) all walk that one visitor.
//
// A target list with several views splits the stored tensor's rows into equal blocks (OpenAI CLIP's
// packed in_proj_weight [3W, W] into q, k, v); the views point into the mapped file, nothing is
// copied.
//
// Ownership: WeightBinder borrows the store; the views it writes are valid while the store lives.
// Thread-safety: load-time only, single thread. Failure: WeightBinder throws InputError naming the
// store's path (missing tensor) or the tensor's file (wrong shape, non-float dtype), and the key.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "io/tensor_store.h"
#include "kernels/weight_view.h"

namespace ct::models {

using TensorVisitor = std::function<void(const std::string& key, const std::vector<int64_t>& shape,
                                         const std::vector<kernels::WeightView*>& parts)>;

std::string shape_string(const std::vector<int64_t>& shape);

class WeightBinder {
 public:
  // `normalise` maps a stored key to the spelling the visitor uses (identity when empty).
  explicit WeightBinder(const io::TensorStore& store,
                        const std::function<std::string(std::string_view)>& normalise = {});

  // True when the (normalised) key exists.
  bool has(const std::string& key) const { return by_key_.count(key) != 0; }
  const io::TensorEntry* find(const std::string& key) const;

  // Binds `key`, checking shape and dtype; splits rows evenly over `parts`.
  void bind(const std::string& key, const std::vector<int64_t>& shape,
            const std::vector<kernels::WeightView*>& parts) const;
  // The binder as a TensorVisitor.
  TensorVisitor visitor() const;

 private:
  const io::TensorStore& store_;
  std::map<std::string, const io::TensorEntry*> by_key_;
};

// Counts the parameters a visitor walk declares (sum of the expected shapes).
int64_t count_parameters(const std::function<void(const TensorVisitor&)>& walk);

}  // namespace ct::models
