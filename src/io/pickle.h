// A restricted unpickler for torch.save state dicts. It interprets the pickle opcodes that
// protocol 2-4 state dicts use and builds plain values in an arena; nothing is ever imported or
// called. GLOBAL/STACK_GLOBAL accept only a whitelist (collections.OrderedDict, the torch tensor
// rebuild functions, the torch *Storage types, torch.Size and the torch dtypes); REDUCE applies only
// the whitelisted callables, each interpreted by hand; BINPERSID accepts only torch's storage
// tuples. Any other opcode or global is an InputError naming it.
//
// Values are small handles (Value) into a PickleResult's arenas; containers may be shared and
// even cyclic (memo references), which is why nothing owns anything but the arena, and why no
// code here recurses over values.
//
// Limits: memo entries, stack size, mark depth, container nesting and the number of objects are
// capped (and all bounded by the input size), so bad input cannot exhaust memory or the stack.
//
// Ownership: a PickleResult owns all values it refers to. Thread-safety: unpickle() is
// re-entrant; a PickleResult is immutable once returned.
// Failure: unpickle() throws ct::InputError(file_name, "pickle: ...") on truncated input,
// an unsupported opcode, a forbidden global, a type error (e.g. SETITEM on a list), a broken
// storage reference or tensor description, or an exceeded limit.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace ct::io::pickle {

enum class Kind : uint8_t {
  kNone, kBool, kInt, kFloat, kString, kBytes, kList, kTuple, kDict, kGlobal, kStorage, kTensor,
};

// A handle: scalars are inline; the others index the arena of their kind in PickleResult.
struct Value {
  Kind kind = Kind::kNone;
  int64_t i = 0;        // kBool (0/1), kInt
  double f = 0;         // kFloat
  uint32_t node = 0;    // index into strings (kString, kBytes, kGlobal), seqs (kList, kTuple),
                        // dicts, storages or tensors
};

struct DictEntry {
  Value key;
  Value value;
};

struct Dict {
  std::vector<DictEntry> entries;             // insertion order; a repeated key overwrites
  std::map<std::string, std::size_t> by_string;
  std::map<int64_t, std::size_t> by_int;
  bool ordered = false;                       // built by collections.OrderedDict()
};

// A storage named by a persistent id ('storage', torch.XStorage, key, location, numel).
struct StorageRef {
  std::string key;       // the zip entry is <archive>/data/<key>
  DType dtype = DType::kF32;
  int64_t numel = 0;     // elements
  std::string location;  // "cpu", "cuda:0", ...
};

// A tensor rebuilt by torch._utils._rebuild_tensor(_v2): a strided view of a storage.
struct TensorRef {
  uint32_t storage = 0;  // index into storages
  int64_t offset = 0;    // in elements
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
};

struct PickleResult {
  Value root;
  std::vector<std::string> strings;
  std::vector<std::vector<Value>> seqs;
  std::vector<Dict> dicts;
  std::vector<StorageRef> storages;   // one per distinct key
  std::vector<TensorRef> tensors;

  const std::string& text(Value v) const { return strings[v.node]; }
  const Dict& dict(Value v) const { return dicts[v.node]; }
  const std::vector<Value>& seq(Value v) const { return seqs[v.node]; }
  const TensorRef& tensor(Value v) const { return tensors[v.node]; }
  const StorageRef& storage(Value v) const { return storages[v.node]; }
};

struct Limits {
  std::size_t max_memo = 1u << 20;
  std::size_t max_stack = 1u << 20;
  std::size_t max_marks = 1024;
  std::size_t max_depth = 64;          // container nesting
  std::size_t max_dims = 64;           // tensor rank
};

// Runs the restricted unpickler over `data` (a whole data.pkl).
PickleResult unpickle(std::span<const std::byte> data, const std::string& file_name, const Limits& limits = {});

// "list", "dict", ... for messages.
const char* kind_name(Kind k);

}  // namespace ct::io::pickle
