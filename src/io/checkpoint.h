// open_checkpoint: turns what a user names as MODEL (CONTRACTS.md section 1) into a TensorStore.
//
// MODEL is a directory in Hugging Face layout (`model.safetensors`, or shards listed by
// `model.safetensors.index.json`, or `pytorch_model.bin`, or shards listed by
// `pytorch_model.bin.index.json`, or a single `*.pth`/`*.bin`/`*.safetensors` file in it), or one
// checkpoint file (`.safetensors`, `.bin`, `.pth`, `.pt`). For a sharded checkpoint every tensor
// of the index must be found in the shard the index names, and every shard tensor must be listed.
//
// Failure: InputError naming the path and the problem (nothing found, ambiguous, malformed).
#pragma once

#include <filesystem>
#include <optional>

#include "io/tensor_store.h"

namespace ct::io {

TensorStore open_checkpoint(const std::filesystem::path& model);

// The directory holding the model's config files (config.json, tokenizer files): the model itself
// when it is a directory, else the file's parent directory.
std::filesystem::path model_directory(const std::filesystem::path& model);

}  // namespace ct::io
