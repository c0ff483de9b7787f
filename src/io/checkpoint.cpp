#include "io/checkpoint.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "core/error.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"

namespace ct::io {
namespace fs = std::filesystem;
namespace {

bool has_extension(const fs::path& p, std::initializer_list<const char*> exts) {
  const std::string ext = p.extension().string();
  return std::any_of(exts.begin(), exts.end(), [&](const char* e) { return ext == e; });
}

bool is_safetensors(const fs::path& p) { return has_extension(p, {".safetensors"}); }
bool is_torch(const fs::path& p) { return has_extension(p, {".bin", ".pth", ".pt", ".ckpt"}); }

void read_single(const fs::path& file, TensorStore& store) {
  if (is_safetensors(file)) {
    read_safetensors(file, store);
    if (store.format.empty()) store.format = "safetensors";
  } else if (is_torch(file)) {
    read_torch_checkpoint(file, store);
    if (store.format.empty()) store.format = "pytorch-zip";
  } else {
    throw InputError(file.string(), "unknown checkpoint extension (expected .safetensors, .bin, .pth or .pt)");
  }
  store.files.push_back(file.string());
}

// A sharded checkpoint: {"metadata": {...}, "weight_map": {tensor: shard file}}.
void read_sharded(const fs::path& index_path, TensorStore& store) {
  const nlohmann::json index = read_json_file(index_path);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    throw InputError(index_path.string(), "no \"weight_map\" object in the shard index");
  }
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  std::vector<std::string> shards;                 // in first-mention order
  for (const auto& [name, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) {
      throw InputError(index_path.string(), "weight_map entry '" + name + "' is not a file name");
    }
    const std::string file = shard.get<std::string>();
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
      throw InputError(index_path.string(), "weight_map entry '" + name + "' names a file outside the directory: '" + file + "'");
    }
    weight_map[name] = file;
    if (std::find(shards.begin(), shards.end(), file) == shards.end()) shards.push_back(file);
  }
  if (weight_map.empty()) throw InputError(index_path.string(), "empty weight_map");
  const fs::path dir = index_path.parent_path();
  for (const auto& shard : shards) {
    const std::size_t before = store.size();
    read_single(dir / shard, store);
    for (std::size_t i = before; i < store.size(); ++i) {
      const auto& name = store.entries()[i].name;
      auto it = weight_map.find(name);
      if (it == weight_map.end()) {
        throw InputError((dir / shard).string(), "tensor '" + name + "' is not listed in " + index_path.filename().string());
      }
      if (it->second != shard) {
        throw InputError((dir / shard).string(), "tensor '" + name + "' is listed under shard " + it->second);
      }
    }
  }
  for (const auto& [name, shard] : weight_map) {
    if (!store.find(name)) {
      throw InputError((dir / shard).string(), "tensor '" + name + "' listed in " + index_path.filename().string() + " is missing");
    }
  }
  store.format += "-sharded";
}

}  // namespace

fs::path model_directory(const fs::path& model) {
  return fs::is_directory(model) ? model : model.parent_path();
}

TensorStore open_checkpoint(const fs::path& model) {
  TensorStore store(model.string());
  std::error_code ec;
  const auto status = fs::status(model, ec);
  if (ec || !fs::exists(status)) throw InputError(model.string(), "no such file or directory");
  if (!fs::is_directory(status)) {
    read_single(model, store);
    return store;
  }
  // A directory: the Hugging Face names first, in the order transformers prefers them.
  for (const char* index : {"model.safetensors.index.json", "pytorch_model.bin.index.json"}) {
    if (fs::exists(model / index)) {
      read_sharded(model / index, store);
      return store;
    }
  }
  for (const char* single : {"model.safetensors", "pytorch_model.bin"}) {
    if (fs::exists(model / single)) {
      read_single(model / single, store);
      return store;
    }
  }
  // Otherwise exactly one checkpoint file in the directory (e.g. mplug_base.pth).
  std::vector<fs::path> candidates;
  for (const auto& entry : fs::directory_iterator(model)) {
    if (entry.is_regular_file() && (is_safetensors(entry.path()) || is_torch(entry.path()))) {
      candidates.push_back(entry.path());
    }
  }
  std::sort(candidates.begin(), candidates.end());
  if (candidates.empty()) {
    throw InputError(model.string(), "no checkpoint found (expected model.safetensors, a shard index, pytorch_model.bin or a .pth file)");
  }
  if (candidates.size() > 1) {
    throw InputError(model.string(), "several checkpoint files and no shard index; name one file: " +
                                         candidates[0].filename().string() + ", " + candidates[1].filename().string() + ", ...");
  }
  read_single(candidates[0], store);
  return store;
}

}  // namespace ct::io
