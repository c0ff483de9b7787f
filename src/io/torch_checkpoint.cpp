// Checkpoint assembly for torch.save zip files: zip directory -> data.pkl -> restricted unpickler
// -> state dict -> tensor views into the storage entries. See io/torch_checkpoint.h.
#include "io/torch_checkpoint.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "core/error.h"
#include "io/mapped_file.h"
#include "io/pickle.h"
#include "io/zip_archive.h"

namespace ct::io {
namespace {

using pickle::Kind;
using pickle::PickleResult;
using pickle::Value;

constexpr uint64_t kMaxPickleBytes = uint64_t{1} << 30;
constexpr uint64_t kMaxVersionBytes = 64;
constexpr int kMaxFormatVersion = 10;
constexpr const char* kLegacyMessage =
    "legacy (pre-1.6) torch.save format is not supported; re-save with torch.save(..., _use_new_zipfile_serialization=True)";
constexpr const char* kStateDictKeys[] = {"model", "module", "state_dict"};

// One tensor of the state dict, validated against its storage's declared size.
struct TensorView {
  std::string name;
  uint32_t storage = 0;       // index into PickleResult::storages
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t byte_offset = 0;   // into the storage
  uint64_t byte_size = 0;
};

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (std::size_t k = 0; k < dims.size(); ++k) s += (k ? ", " : "") + std::to_string(dims[k]);
  return s + "]";
}

bool has_tensor(const PickleResult& r, Value v) {
  if (v.kind != Kind::kDict) return false;
  const auto& entries = r.dict(v).entries;
  return std::any_of(entries.begin(), entries.end(), [](const pickle::DictEntry& e) { return e.value.kind == Kind::kTensor; });
}

std::optional<Value> lookup(const PickleResult& r, Value dict, const std::string& key) {
  if (dict.kind != Kind::kDict) return std::nullopt;
  const auto& d = r.dict(dict);
  auto it = d.by_string.find(key);
  if (it == d.by_string.end()) return std::nullopt;
  return d.entries[it->second].value;
}

// The state dict: the top-level dict when it holds tensors (or is empty), else the first dict with
// tensors under "model", "module" or "state_dict", one or two levels down.
Value find_state_dict(const PickleResult& r, const std::string& file_name) {
  const Value root = r.root;
  if (root.kind != Kind::kDict) {
    throw InputError(file_name, std::string("top-level object is a ") + pickle::kind_name(root.kind) + ", expected a dict (a state dict)");
  }
  if (has_tensor(r, root) || r.dict(root).entries.empty()) return root;
  for (const char* outer : kStateDictKeys) {
    const auto level1 = lookup(r, root, outer);
    if (!level1) continue;
    if (has_tensor(r, *level1)) return *level1;
    for (const char* inner : kStateDictKeys) {
      const auto level2 = lookup(r, *level1, inner);
      if (level2 && has_tensor(r, *level2)) return *level2;
    }
  }
  throw InputError(file_name, "no state dict found: the top-level dict holds no tensors and no 'model', 'module' or 'state_dict' entry holds them");
}

std::vector<TensorView> collect_tensors(const PickleResult& r, const std::string& file_name) {
  const Value sd = find_state_dict(r, file_name);
  std::vector<TensorView> views;
  for (const auto& e : r.dict(sd).entries) {
    if (e.key.kind != Kind::kString) {
      throw InputError(file_name, std::string("state dict key of type ") + pickle::kind_name(e.key.kind) + ", expected a string");
    }
    if (e.value.kind != Kind::kTensor) continue;  // epoch counters, optimizer state, ...
    const std::string& name = r.text(e.key);
    const pickle::TensorRef& t = r.tensor(e.value);
    const pickle::StorageRef& s = r.storages[t.storage];
    // Only row-major contiguous views: strides must match the shape (size-1 dims are free).
    int64_t expected = 1, numel = 1;
    for (int64_t d : t.shape) numel *= d;  // the unpickler checked this cannot overflow
    for (std::size_t k = t.shape.size(); k-- > 0;) {
      if (numel != 0 && t.shape[k] != 1 && t.stride[k] != expected) {
        throw InputError(file_name, "tensor '" + name + "' is not contiguous (size " + dims_text(t.shape) + ", stride " +
                                        dims_text(t.stride) + "); save it after .contiguous()");
      }
      expected *= t.shape[k];
    }
    const auto item = static_cast<uint64_t>(dtype_size(s.dtype));
    views.push_back({name, t.storage, s.dtype, t.shape, static_cast<uint64_t>(t.offset) * item, static_cast<uint64_t>(numel) * item});
  }
  return views;
}

// The folder that holds data.pkl: "archive" for "archive/data.pkl".
std::string find_archive_prefix(const ZipArchive& zip, const std::string& file_name) {
  std::optional<std::string> prefix;
  for (const auto& e : zip.entries()) {
    const std::string_view n = e.name;
    constexpr std::string_view kPkl = "/data.pkl";
    if (n.size() <= kPkl.size() || n.substr(n.size() - kPkl.size()) != kPkl) continue;
    const std::string_view folder = n.substr(0, n.size() - kPkl.size());
    if (folder.find('/') != std::string_view::npos) continue;
    if (prefix) throw InputError(file_name, "several '<archive>/data.pkl' entries ('" + *prefix + "', '" + std::string(folder) + "')");
    prefix = std::string(folder);
  }
  if (!prefix) throw InputError(file_name, "zip has no '<archive>/data.pkl' entry: not a torch.save checkpoint");
  return *prefix;
}

void check_version(const ZipArchive& zip, const std::string& prefix, const std::string& file_name) {
  for (const std::string& name : {prefix + "/version", prefix + "/.data/version"}) {
    const ZipEntry* e = zip.find(name);
    if (!e) continue;
    const ZipContents c = zip.read(*e, kMaxVersionBytes, true);
    std::string text(reinterpret_cast<const char*>(c.bytes.data()), c.bytes.size());
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    const bool digits = !text.empty() && text.size() < 4 &&
                        std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    const int v = digits ? std::stoi(text) : -1;
    if (v < 1 || v > kMaxFormatVersion) {
      throw InputError(file_name, "'" + name + "' holds an unsupported serialization version (expected 1.." + std::to_string(kMaxFormatVersion) + ")");
    }
  }
}

// torch >= 2.1 records the byte order of the storages; we read them as little-endian.
void check_byte_order(const ZipArchive& zip, const std::string& prefix, const std::string& file_name) {
  const ZipEntry* e = zip.find(prefix + "/byteorder");
  if (!e) return;
  const ZipContents c = zip.read(*e, kMaxVersionBytes, true);
  const std::string_view order(reinterpret_cast<const char*>(c.bytes.data()), c.bytes.size());
  if (order != "little") throw InputError(file_name, "storages are stored big-endian ('" + prefix + "/byteorder'); only little-endian is supported");
}

}  // namespace

std::size_t check_pickle(std::span<const std::byte> pickle, const std::string& file_name) {
  const PickleResult r = pickle::unpickle(pickle, file_name);
  return collect_tensors(r, file_name).size();
}

void read_torch_checkpoint_bytes(std::span<const std::byte> file, const std::string& file_name, TensorStore& into,
                                 std::shared_ptr<const void> keep_alive) {
  if (!looks_like_zip(file)) {
    if (!file.empty() && file[0] == std::byte{0x80}) throw InputError(file_name, kLegacyMessage);
    throw InputError(file_name, "not a PyTorch zip checkpoint (no zip signature at the start of the file)");
  }
  const ZipArchive zip(file, file_name);
  const std::string prefix = find_archive_prefix(zip, file_name);
  check_version(zip, prefix, file_name);
  check_byte_order(zip, prefix, file_name);
  const ZipContents pkl = zip.read(*zip.find(prefix + "/data.pkl"), kMaxPickleBytes, true);
  const PickleResult r = pickle::unpickle(pkl.bytes, file_name + ":" + prefix + "/data.pkl");
  const std::vector<TensorView> views = collect_tensors(r, file_name);

  // Storages are resolved once each, so tied weights become several views of one entry.
  std::vector<std::optional<ZipContents>> storages(r.storages.size());
  std::vector<TensorEntry> entries;
  entries.reserve(views.size());
  for (const TensorView& v : views) {
    auto& contents = storages[v.storage];
    if (!contents) {
      const pickle::StorageRef& s = r.storages[v.storage];
      const std::string entry_name = prefix + "/data/" + s.key;
      const ZipEntry* e = zip.find(entry_name);
      if (!e) throw InputError(file_name, "storage entry '" + entry_name + "' is missing (needed by tensor '" + v.name + "')");
      const uint64_t expected = static_cast<uint64_t>(s.numel) * dtype_size(s.dtype);
      if (e->uncompressed_size != expected) {
        throw InputError(file_name, "storage entry '" + entry_name + "' has " + std::to_string(e->uncompressed_size) + " bytes, expected " +
                                        std::to_string(expected) + " (" + std::to_string(s.numel) + " elements of " +
                                        std::string(dtype_name(s.dtype)) + ")");
      }
      contents = zip.read(*e, expected, false);
    }
    TensorEntry t;
    t.name = v.name;
    t.dtype = v.dtype;
    t.shape = v.shape;
    t.data = contents->bytes.subspan(v.byte_offset, v.byte_size);  // in bounds: checked by the unpickler
    t.file = file_name;
    entries.push_back(std::move(t));
  }
  if (keep_alive) into.keep_alive(std::move(keep_alive));
  for (auto& s : storages) {
    if (s && s->owned) into.keep_alive(s->owned);
  }
  for (auto& t : entries) into.add(std::move(t));
}

void read_torch_checkpoint(const std::filesystem::path& path, TensorStore& into) {
  const auto mapping = MappedFile::open(path);
  read_torch_checkpoint_bytes(mapping->bytes(), path.string(), into, mapping);
}

}  // namespace ct::io
