// PyTorch checkpoints (`.bin`, `.pth`, `.pt`): the zip container of torch.save (>= 1.6), read
// through a restricted unpickler that never executes anything.
//
// The unpickler understands the opcodes that state dicts need and builds plain values (dicts,
// lists, tuples, strings, numbers, None/bools, persistent storage references). The only globals it
// accepts are the ones a state dict needs (collections.OrderedDict, torch._utils._rebuild_tensor_v2
// and _rebuild_parameter, the torch *Storage types, torch.Size, torch dtypes); any other global
// (os.system, builtins.eval, subprocess.*, ...) or an unsupported opcode is an InputError naming
// the file and the global or opcode. Nothing is ever called or imported.
//
// Tensors are views into the memory-mapped zip (torch.save stores entries uncompressed); a
// deflated entry is inflated into an owned buffer. The state dict is found at the top level or
// nested under "model", "module" or "state_dict". The legacy (pre-1.6, non-zip) format is rejected
// with a message saying so.
//
// Thread-safety: the functions are re-entrant.
#pragma once

#include <filesystem>
#include <span>
#include <string>

#include "io/tensor_store.h"

namespace ct::io {

// Maps `path`, validates the zip and the pickle, and adds every tensor of the state dict to `into`.
void read_torch_checkpoint(const std::filesystem::path& path, TensorStore& into);

// The same over bytes already in memory; `keep_alive` owns them (may be null when the caller
// keeps them alive). `file_name` is used in messages only. This is the fuzzing entry point of
// the whole container.
void read_torch_checkpoint_bytes(std::span<const std::byte> file, const std::string& file_name,
                                 TensorStore& into, std::shared_ptr<const void> keep_alive);

// Runs the restricted unpickler over `pickle` alone (the fuzzing entry point of the unpickler);
// throws InputError on anything malformed or not allowed. Returns the number of tensors found.
std::size_t check_pickle(std::span<const std::byte> pickle, const std::string& file_name);

}  // namespace ct::io
