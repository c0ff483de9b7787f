// The restricted unpickler (see io/pickle.h): a switch over the allowed opcodes; values live in
// arenas so that memo sharing and cycles need no ownership and nothing here recurses.
#include "io/pickle.h"

#include <bit>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "core/error.h"

namespace ct::io::pickle {
namespace {

// Opcode bytes of the pickle protocol (Lib/pickletools.py documents them).
enum Op : uint8_t {
  kMark = '(', kStop = '.', kBinInt = 'J', kBinInt1 = 'K', kBinInt2 = 'M', kNone = 'N',
  kBinPersId = 'Q', kReduce = 'R', kBinUnicode = 'X', kAppend = 'a', kBuild = 'b', kGlobal = 'c',
  kAppends = 'e', kBinGet = 'h', kLongBinGet = 'j', kEmptyList = ']', kBinPut = 'q',
  kLongBinPut = 'r', kSetItem = 's', kTuple = 't', kEmptyTuple = ')', kSetItems = 'u',
  kBinFloat = 'G', kEmptyDict = '}', kBinBytes = 'B', kShortBinBytes = 'C',
  kProto = 0x80, kTuple1 = 0x85, kTuple2 = 0x86, kTuple3 = 0x87, kNewTrue = 0x88, kNewFalse = 0x89,
  kLong1 = 0x8a, kShortBinUnicode = 0x8c, kBinUnicode8 = 0x8d, kStackGlobal = 0x93, kMemoize = 0x94,
  kFrame = 0x95,
};

// Names of the opcodes we refuse, so that the message says which one it was.
const char* rejected_opcode_name(uint8_t op) {
  switch (op) {
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 0x81: return "NEWOBJ";
    case 0x92: return "NEWOBJ_EX";
    case 'P': return "PERSID";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 0x8b: return "LONG4";
    case 'F': return "FLOAT";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 0x8e: return "BINBYTES8";
    case 0x96: return "BYTEARRAY8";
    case 'd': return "DICT";
    case 'l': return "LIST";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'g': return "GET";
    case 'p': return "PUT";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

enum class Role { kPlain, kOrderedDict, kRebuildTensorV2, kRebuildTensor, kRebuildParameter, kRebuildParameterWithState, kSize, kStorageType };

struct Allowed {
  std::string_view name;
  Role role;
  DType dtype;  // for kStorageType
};

// The whitelist: everything a torch.save'd state dict refers to, and nothing that runs code.
constexpr Allowed kAllowed[] = {
    {"collections.OrderedDict", Role::kOrderedDict, DType::kF32},
    {"torch._utils._rebuild_tensor_v2", Role::kRebuildTensorV2, DType::kF32},
    {"torch._utils._rebuild_tensor", Role::kRebuildTensor, DType::kF32},
    {"torch._utils._rebuild_parameter", Role::kRebuildParameter, DType::kF32},
    {"torch._utils._rebuild_parameter_with_state", Role::kRebuildParameterWithState, DType::kF32},
    {"torch.Size", Role::kSize, DType::kF32},
    {"torch.FloatStorage", Role::kStorageType, DType::kF32},
    {"torch.HalfStorage", Role::kStorageType, DType::kF16},
    {"torch.BFloat16Storage", Role::kStorageType, DType::kBF16},
    {"torch.DoubleStorage", Role::kStorageType, DType::kF64},
    {"torch.LongStorage", Role::kStorageType, DType::kI64},
    {"torch.IntStorage", Role::kStorageType, DType::kI32},
    {"torch.ShortStorage", Role::kStorageType, DType::kI16},
    {"torch.CharStorage", Role::kStorageType, DType::kI8},
    {"torch.ByteStorage", Role::kStorageType, DType::kU8},
    {"torch.BoolStorage", Role::kStorageType, DType::kBool},
    {"torch.float32", Role::kPlain, DType::kF32}, {"torch.float16", Role::kPlain, DType::kF32},
    {"torch.bfloat16", Role::kPlain, DType::kF32}, {"torch.float64", Role::kPlain, DType::kF32},
    {"torch.int64", Role::kPlain, DType::kF32}, {"torch.int32", Role::kPlain, DType::kF32},
    {"torch.int16", Role::kPlain, DType::kF32}, {"torch.int8", Role::kPlain, DType::kF32},
    {"torch.uint8", Role::kPlain, DType::kF32}, {"torch.bool", Role::kPlain, DType::kF32},
};

const Allowed* find_allowed(std::string_view name) {
  for (const auto& a : kAllowed) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 120)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

class Machine {
 public:
  Machine(std::span<const std::byte> data, const std::string& file_name, const Limits& limits)
      : data_(data), file_name_(file_name), limits_(limits) {}

  PickleResult run();

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw InputError(file_name_, "pickle: " + problem + " (at byte " + std::to_string(op_pos_) + ")");
  }

  // --- input ---
  std::string_view take(uint64_t n) {
    if (n > data_.size() - pos_) fail("truncated: needs " + std::to_string(n) + " more bytes, " + std::to_string(data_.size() - pos_) + " left");
    std::string_view s(reinterpret_cast<const char*>(data_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  uint64_t read_le(int n) {
    const std::string_view s = take(static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(s[static_cast<std::size_t>(k)]);
    return v;
  }
  std::string_view read_line() {
    const std::size_t limit = std::min<std::size_t>(data_.size() - pos_, 256);
    const auto* begin = reinterpret_cast<const char*>(data_.data() + pos_);
    const void* nl = std::memchr(begin, '\n', limit);
    if (!nl) fail("GLOBAL name is not terminated by a newline within 256 bytes");
    const std::string_view line = take(static_cast<const char*>(nl) - begin + 1);
    return line.substr(0, line.size() - 1);
  }

  // --- stack ---
  std::size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Value v) {
    if (stack_.size() >= limits_.max_stack) fail("stack deeper than " + std::to_string(limits_.max_stack));
    stack_.push_back(v);
  }
  Value pop() {
    if (stack_.size() <= fence()) fail("stack underflow");
    Value v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Value& top() {
    if (stack_.size() <= fence()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<Value> pop_mark() {
    if (marks_.empty()) fail("opcode needs a MARK but there is none");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Value> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }

  // --- objects ---
  std::size_t depth(Value v) const {
    if (v.kind == Kind::kList || v.kind == Kind::kTuple) return seq_depth_[v.node];
    if (v.kind == Kind::kDict) return dict_depth_[v.node];
    return 0;
  }
  void raise_depth(std::size_t& container, Value child) {
    const std::size_t d = depth(child) + 1;
    if (d > limits_.max_depth) fail("containers nested deeper than " + std::to_string(limits_.max_depth));
    container = std::max(container, d);
  }
  Value new_text(Kind kind, std::string_view s) {
    if (kind == Kind::kString && !valid_utf8(s)) fail("string is not valid UTF-8");
    r_.strings.emplace_back(s);
    return Value{kind, 0, 0, static_cast<uint32_t>(r_.strings.size() - 1)};
  }
  Value new_seq(Kind kind, std::vector<Value> items) {
    std::size_t d = 1;
    for (const Value& v : items) raise_depth(d, v);
    r_.seqs.push_back(std::move(items));
    seq_depth_.push_back(d);
    return Value{kind, 0, 0, static_cast<uint32_t>(r_.seqs.size() - 1)};
  }
  Value new_dict(bool ordered) {
    r_.dicts.emplace_back();
    r_.dicts.back().ordered = ordered;
    dict_depth_.push_back(1);
    return Value{Kind::kDict, 0, 0, static_cast<uint32_t>(r_.dicts.size() - 1)};
  }
  void set_item(Value dict, Value key, Value value);
  void append(Value list, Value item) {
    if (list.kind != Kind::kList) fail(std::string("APPEND(S) on a ") + kind_name(list.kind) + ", expected a list");
    raise_depth(seq_depth_[list.node], item);
    r_.seqs[list.node].push_back(item);
  }
  const std::string& expect_string(Value v, const char* what) {
    if (v.kind != Kind::kString) fail(std::string(what) + " must be a string, found " + kind_name(v.kind));
    return r_.strings[v.node];
  }
  int64_t expect_int(Value v, const char* what) {
    if (v.kind != Kind::kInt && v.kind != Kind::kBool) fail(std::string(what) + " must be an int, found " + kind_name(v.kind));
    return v.i;
  }
  const std::vector<Value>& expect_tuple(Value v, const char* what) {
    if (v.kind != Kind::kTuple) fail(std::string(what) + " must be a tuple, found " + kind_name(v.kind));
    return r_.seqs[v.node];
  }

  Value make_global(std::string_view module, std::string_view name);
  Value reduce(Value callable, Value args);
  Value rebuild_tensor(const std::vector<Value>& args);
  Value persistent_load(Value pid);
  void memo_put(uint64_t index) {
    const Value v = top();
    if (memo_.size() >= limits_.max_memo && !memo_.count(static_cast<uint32_t>(index))) fail("more than " + std::to_string(limits_.max_memo) + " memo entries");
    memo_[static_cast<uint32_t>(index)] = v;
  }
  Value memo_get(uint64_t index) {
    auto it = memo_.find(static_cast<uint32_t>(index));
    if (it == memo_.end()) fail("memo index " + std::to_string(index) + " was never stored");
    return it->second;
  }

  std::span<const std::byte> data_;
  const std::string& file_name_;
  Limits limits_;
  std::size_t pos_ = 0;
  std::size_t op_pos_ = 0;
  std::vector<Value> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<uint32_t, Value> memo_;
  std::vector<std::size_t> seq_depth_, dict_depth_;
  std::unordered_map<std::string, uint32_t> storage_by_key_;
  PickleResult r_;
};

void Machine::set_item(Value dict, Value key, Value value) {
  if (dict.kind != Kind::kDict) fail(std::string("SETITEM(S) on a ") + kind_name(dict.kind) + ", expected a dict");
  Dict& d = r_.dicts[dict.node];
  raise_depth(dict_depth_[dict.node], value);
  std::size_t* slot = nullptr;
  const std::size_t next = d.entries.size();
  if (key.kind == Kind::kString) {
    slot = &d.by_string.try_emplace(r_.strings[key.node], next).first->second;
  } else if (key.kind == Kind::kInt || key.kind == Kind::kBool) {
    slot = &d.by_int.try_emplace(key.i, next).first->second;
  } else {
    fail(std::string("dict key of type ") + kind_name(key.kind) + " is not supported (expected str or int)");
  }
  if (*slot == next) {
    d.entries.push_back({key, value});
  } else {
    d.entries[*slot].value = value;  // Python semantics: a repeated key overwrites in place
  }
}

Value Machine::make_global(std::string_view module, std::string_view name) {
  const std::string full = printable(module) + "." + printable(name);
  if (!find_allowed(full) || full.size() != module.size() + 1 + name.size()) {
    fail("forbidden global '" + full + "' (only the globals of a state dict are allowed; nothing is imported or called)");
  }
  r_.strings.push_back(full);
  return Value{Kind::kGlobal, 0, 0, static_cast<uint32_t>(r_.strings.size() - 1)};
}

Value Machine::persistent_load(Value pid) {
  const auto& t = expect_tuple(pid, "persistent id");
  if (t.size() != 5) fail("persistent id has " + std::to_string(t.size()) + " items, expected 5 ('storage', type, key, location, numel)");
  if (expect_string(t[0], "persistent id tag") != "storage") fail("persistent id tag is '" + printable(r_.strings[t[0].node]) + "', expected 'storage'");
  const Allowed* type = t[1].kind == Kind::kGlobal ? find_allowed(r_.strings[t[1].node]) : nullptr;
  if (!type || type->role != Role::kStorageType) fail("persistent id does not name a torch storage type");
  const std::string key = expect_string(t[2], "storage key");
  if (key.empty() || key.size() > 64) fail("storage key of " + std::to_string(key.size()) + " bytes");
  for (char c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') fail("storage key '" + printable(key) + "' is not a plain name");
  }
  const std::string location = expect_string(t[3], "storage location");
  const int64_t numel = expect_int(t[4], "storage numel");
  if (numel < 0 || numel > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(dtype_size(type->dtype))) {
    fail("storage '" + key + "' has an impossible element count " + std::to_string(numel));
  }
  auto [it, inserted] = storage_by_key_.try_emplace(key, static_cast<uint32_t>(r_.storages.size()));
  if (inserted) {
    r_.storages.push_back({key, type->dtype, numel, location});
  } else {
    const StorageRef& s = r_.storages[it->second];
    if (s.dtype != type->dtype || s.numel != numel) fail("storage '" + key + "' is declared twice with different types or sizes");
  }
  return Value{Kind::kStorage, 0, 0, it->second};
}

Value Machine::rebuild_tensor(const std::vector<Value>& args) {
  if (args[0].kind != Kind::kStorage) fail(std::string("tensor storage must be a persistent storage, found ") + kind_name(args[0].kind));
  TensorRef t;
  t.storage = args[0].node;
  t.offset = expect_int(args[1], "tensor storage offset");
  for (int which = 0; which < 2; ++which) {
    const auto& dims = expect_tuple(args[2 + which], which == 0 ? "tensor size" : "tensor stride");
    if (dims.size() > limits_.max_dims) fail("tensor of rank " + std::to_string(dims.size()) + " (limit " + std::to_string(limits_.max_dims) + ")");
    auto& out = which == 0 ? t.shape : t.stride;
    for (Value d : dims) {
      const int64_t v = expect_int(d, "tensor dimension");
      if (v < 0) fail("negative tensor size or stride " + std::to_string(v));
      out.push_back(v);
    }
  }
  if (t.shape.size() != t.stride.size()) fail("tensor size and stride have different ranks");
  if (t.offset < 0) fail("negative storage offset " + std::to_string(t.offset));
  // The last element addressed must lie inside the storage; all arithmetic overflow-checked.
  const StorageRef& s = r_.storages[t.storage];
  int64_t numel = 1, last = t.offset;
  for (std::size_t k = 0; k < t.shape.size(); ++k) {
    if (t.shape[k] != 0 && numel > std::numeric_limits<int64_t>::max() / t.shape[k]) fail("tensor element count overflows");
    numel *= t.shape[k];
  }
  if (numel > 0) {
    for (std::size_t k = 0; k < t.shape.size(); ++k) {
      int64_t span = 0;
      if (__builtin_mul_overflow(t.shape[k] - 1, t.stride[k], &span) || __builtin_add_overflow(last, span, &last)) {
        fail("tensor extent overflows");
      }
    }
    if (last >= s.numel) {
      fail("tensor view (offset " + std::to_string(t.offset) + ", last element " + std::to_string(last) +
           ") lies outside storage '" + s.key + "' of " + std::to_string(s.numel) + " elements");
    }
  } else if (t.offset > s.numel) {
    fail("empty tensor's offset " + std::to_string(t.offset) + " is past storage '" + s.key + "'");
  }
  r_.tensors.push_back(std::move(t));
  return Value{Kind::kTensor, 0, 0, static_cast<uint32_t>(r_.tensors.size() - 1)};
}

Value Machine::reduce(Value callable, Value args_value) {
  if (callable.kind != Kind::kGlobal) fail(std::string("REDUCE on a ") + kind_name(callable.kind) + ", expected an allowed global");
  const std::string& name = r_.strings[callable.node];
  const auto& args = expect_tuple(args_value, "REDUCE arguments");
  const Allowed* a = find_allowed(name);
  const auto arity = [&](std::size_t lo, std::size_t hi) {
    if (args.size() < lo || args.size() > hi) fail(name + " called with " + std::to_string(args.size()) + " arguments");
  };
  switch (a ? a->role : Role::kPlain) {
    case Role::kOrderedDict:
      arity(0, 0);
      return new_dict(true);
    case Role::kSize:
      arity(1, 1);
      expect_tuple(args[0], "torch.Size argument");
      return args[0];
    case Role::kRebuildTensorV2:
      arity(6, 7);  // storage, offset, size, stride, requires_grad, backward_hooks[, metadata]
      return rebuild_tensor(args);
    case Role::kRebuildTensor:
      arity(4, 4);
      return rebuild_tensor(args);
    case Role::kRebuildParameter:
    case Role::kRebuildParameterWithState:
      arity(3, 4);
      if (args[0].kind != Kind::kTensor) fail(std::string("parameter data must be a tensor, found ") + kind_name(args[0].kind));
      return args[0];
    default:
      fail("global '" + name + "' cannot be called");
  }
}

PickleResult Machine::run() {
  while (true) {
    op_pos_ = pos_;
    if (pos_ >= data_.size()) fail("truncated: ended before the STOP opcode");
    const auto op = static_cast<uint8_t>(data_[pos_++]);
    switch (op) {
      case kProto: {
        const auto v = read_le(1);
        if (v < 2 || v > 5) fail("unsupported pickle protocol " + std::to_string(v));
        break;
      }
      case kFrame:
        if (read_le(8) > data_.size() - pos_) fail("FRAME longer than the rest of the pickle");
        break;
      case kGlobal: {
        const std::string_view module = read_line();
        const std::string_view name = read_line();
        push(make_global(module, name));
        break;
      }
      case kStackGlobal: {
        const Value name = pop(), module = pop();
        push(make_global(expect_string(module, "STACK_GLOBAL module"), expect_string(name, "STACK_GLOBAL name")));
        break;
      }
      case kBinPut: memo_put(read_le(1)); break;
      case kLongBinPut: memo_put(read_le(4)); break;
      case kMemoize: memo_put(memo_.size()); break;
      case kBinGet: push(memo_get(read_le(1))); break;
      case kLongBinGet: push(memo_get(read_le(4))); break;
      case kMark:
        if (marks_.size() >= limits_.max_marks) fail("more than " + std::to_string(limits_.max_marks) + " nested MARKs");
        marks_.push_back(stack_.size());
        break;
      case kEmptyDict: push(new_dict(false)); break;
      case kEmptyList: push(new_seq(Kind::kList, {})); break;
      case kEmptyTuple: push(new_seq(Kind::kTuple, {})); break;
      case kSetItem: {
        const Value value = pop(), key = pop();
        set_item(top(), key, value);
        break;
      }
      case kSetItems: {
        const std::vector<Value> items = pop_mark();
        if (items.size() % 2 != 0) fail("SETITEMS with an odd number of items");
        const Value dict = top();
        for (std::size_t k = 0; k < items.size(); k += 2) set_item(dict, items[k], items[k + 1]);
        break;
      }
      case kAppend: {
        const Value item = pop();
        append(top(), item);
        break;
      }
      case kAppends: {
        const std::vector<Value> items = pop_mark();
        const Value list = top();
        for (const Value& v : items) append(list, v);
        break;
      }
      case kTuple: push(new_seq(Kind::kTuple, pop_mark())); break;
      case kTuple1: case kTuple2: case kTuple3: {
        std::vector<Value> items(op - kTuple1 + 1);
        for (std::size_t k = items.size(); k-- > 0;) items[k] = pop();
        push(new_seq(Kind::kTuple, std::move(items)));
        break;
      }
      case kBinInt: push(Value{Kind::kInt, static_cast<int32_t>(read_le(4)), 0, 0}); break;
      case kBinInt1: push(Value{Kind::kInt, static_cast<int64_t>(read_le(1)), 0, 0}); break;
      case kBinInt2: push(Value{Kind::kInt, static_cast<int64_t>(read_le(2)), 0, 0}); break;
      case kLong1: {
        const int n = static_cast<int>(read_le(1));
        if (n > 8) fail("LONG1 integer of " + std::to_string(n) + " bytes does not fit in 64 bits");
        uint64_t v = n > 0 ? read_le(n) : 0;
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) != 0) v |= ~uint64_t{0} << (8 * n);  // sign-extend
        push(Value{Kind::kInt, static_cast<int64_t>(v), 0, 0});
        break;
      }
      case kBinFloat: {
        uint64_t bits = 0;
        for (char c : take(8)) bits = (bits << 8) | static_cast<unsigned char>(c);  // big-endian
        push(Value{Kind::kFloat, 0, std::bit_cast<double>(bits), 0});
        break;
      }
      case kShortBinUnicode: push(new_text(Kind::kString, take(read_le(1)))); break;
      case kBinUnicode: push(new_text(Kind::kString, take(read_le(4)))); break;
      case kBinUnicode8: push(new_text(Kind::kString, take(read_le(8)))); break;
      case kShortBinBytes: push(new_text(Kind::kBytes, take(read_le(1)))); break;
      case kBinBytes: push(new_text(Kind::kBytes, take(read_le(4)))); break;
      case kNewTrue: push(Value{Kind::kBool, 1, 0, 0}); break;
      case kNewFalse: push(Value{Kind::kBool, 0, 0, 0}); break;
      case kNone: push(Value{}); break;
      case kReduce: {
        const Value args = pop(), callable = pop();
        push(reduce(callable, args));
        break;
      }
      case kBinPersId: push(persistent_load(pop())); break;
      case kBuild: {
        const Value state = pop();
        (void)state;
        const Value target = top();
        // State-dict OrderedDicts carry `_metadata` as instance state: accepted and ignored.
        if (target.kind != Kind::kDict || !r_.dicts[target.node].ordered) {
          fail(std::string("BUILD on a ") + kind_name(target.kind) + " is not allowed (only on an OrderedDict)");
        }
        break;
      }
      case kStop:
        if (!marks_.empty() || stack_.size() != 1) fail("STOP with " + std::to_string(stack_.size()) + " values on the stack, expected 1");
        r_.root = stack_.back();
        return std::move(r_);
      default: {
        const char* name = rejected_opcode_name(op);
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(std::string("unsupported opcode ") + (name ? name : "unknown") + " (" + hex + ")");
      }
    }
  }
}

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kList: return "list";
    case Kind::kTuple: return "tuple";
    case Kind::kDict: return "dict";
    case Kind::kGlobal: return "global";
    case Kind::kStorage: return "storage";
    case Kind::kTensor: return "tensor";
  }
  return "?";
}

PickleResult unpickle(std::span<const std::byte> data, const std::string& file_name, const Limits& limits) {
  return Machine(data, file_name, limits).run();
}

}  // namespace ct::io::pickle
