// Activation store reading and writing (see activation_store.h).
#include "crosscoder/activation_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "io/mapped_file.h"
#include "tensor/convert.h"

namespace ct::crosscoder {
namespace fs = std::filesystem;
namespace {

constexpr const char* kFormat = "crosstrace-activation-store";
constexpr const char* kManifest = "store.json";

std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

uint32_t parse_hex32(const std::string& s, const std::string& where) {
  if (s.size() != 8 || s.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw InputError(where, "expected a crc32 of 8 lower-case hex digits, found '" + s + "'");
  return static_cast<uint32_t>(std::stoul(s, nullptr, 16));
}

nlohmann::json shard_json(const StoreShard& s, int64_t row_bytes) {
  return {{"file", s.file}, {"row_begin", s.row_begin}, {"rows", s.rows}, {"bytes", s.rows * row_bytes},
          {"crc32", hex32(s.crc32)}};
}

// A hook name becomes part of a file name: refuse separators and names that escape the directory.
void check_hook_name(const std::string& name, const std::string& where) {
  if (name.empty() || name.find('/') != std::string::npos || name.find('\\') != std::string::npos ||
      name.front() == '.' || name == "input_ids" || name == "store")
    throw InputError(where, "invalid hook name '" + name + "'");
}

// The number n of a shard file "<prefix>.<n>.bin", or -1 when `file` is not one.
int64_t shard_number(const std::string& file, const std::string& prefix) {
  const std::string head = prefix + ".", tail = ".bin";
  if (file.size() <= head.size() + tail.size() || file.compare(0, head.size(), head) != 0 ||
      file.compare(file.size() - tail.size(), tail.size(), tail) != 0)
    return -1;
  const std::string digits = file.substr(head.size(), file.size() - head.size() - tail.size());
  if (digits.size() > 15 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

}  // namespace

uint32_t store_crc32(const void* data, int64_t bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  while (bytes > 0) {
    const uInt n = static_cast<uInt>(std::min<int64_t>(bytes, 1 << 30));
    crc = crc32(crc, p, n);
    p += n;
    bytes -= n;
  }
  return static_cast<uint32_t>(crc);
}

const char* store_dtype_name(StoreDType t) {
  switch (t) {
    case StoreDType::kF32: return "f32";
    case StoreDType::kF16: return "f16";
    case StoreDType::kBF16: return "bf16";
  }
  return "?";
}

StoreDType parse_store_dtype(const std::string& s) {
  if (s == "f32") return StoreDType::kF32;
  if (s == "f16") return StoreDType::kF16;
  if (s == "bf16") return StoreDType::kBF16;
  throw InputError("store dtype", "expected f32, f16 or bf16, found '" + s + "'");
}

int64_t store_dtype_size(StoreDType t) { return t == StoreDType::kF32 ? 4 : 2; }

// ---------------------------------------------------------------------------------------------
// Reading

// The open mappings of a store, at most `max` of them, least recently used unmapped first. A
// caller gets a shared_ptr, so a mapping evicted while a read still uses it lives until that read
// ends.
class ActivationStore::MappingCache {
 public:
  explicit MappingCache(int64_t max) : max_(static_cast<std::size_t>(max)) {}

  std::size_t add_slot() {
    slots_.emplace_back();
    return slots_.size() - 1;
  }
  // The mapping in `slot`, or null when it is not mapped now.
  std::shared_ptr<const io::MappedFile> find(std::size_t slot) {
    std::lock_guard<std::mutex> lock(mu_);
    Slot& s = slots_[slot];
    if (!s.file) return nullptr;
    lru_.splice(lru_.begin(), lru_, s.in_lru);
    return s.file;
  }
  // Keeps `file` as the mapping of `slot` (unless another thread put one there first), unmapping
  // the least recently used ones beyond the bound.
  std::shared_ptr<const io::MappedFile> put(std::size_t slot, std::shared_ptr<const io::MappedFile> file) {
    std::lock_guard<std::mutex> lock(mu_);
    Slot& s = slots_[slot];
    if (s.file) {
      lru_.splice(lru_.begin(), lru_, s.in_lru);
      return s.file;
    }
    s.file = std::move(file);
    lru_.push_front(slot);
    s.in_lru = lru_.begin();
    while (lru_.size() > max_) {
      slots_[lru_.back()].file.reset();
      lru_.pop_back();
    }
    return s.file;
  }
  int64_t mapped() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(lru_.size());
  }

 private:
  struct Slot {
    std::shared_ptr<const io::MappedFile> file;
    std::list<std::size_t>::iterator in_lru;
  };
  std::size_t max_;
  mutable std::mutex mu_;
  std::vector<Slot> slots_;
  std::list<std::size_t> lru_;  // mapped slots, most recently used first
};

ActivationStore ActivationStore::open(const fs::path& dir, const StoreOpenOptions& options) {
  CT_CHECK(options.max_mappings >= 1);
  const fs::path mpath = dir / kManifest;
  if (!fs::exists(mpath)) throw InputError(dir.string(), "not an activation store (no store.json)");
  const nlohmann::json j = io::read_json_file(mpath);
  const std::string where = mpath.string();
  ActivationStore st;
  st.dir_ = dir;
  st.cache_ = std::make_shared<MappingCache>(options.max_mappings);
  // Shards as listed for one hook (or the ids): contiguous from row 0, sizes and checksums checked.
  auto load_shards = [&](const nlohmann::json& list, int64_t row_bytes) {
    std::vector<Mapped> out;
    int64_t next = 0;
    for (const auto& s : list) {
      Mapped m;
      m.shard.file = s.at("file").get<std::string>();
      if (m.shard.file.find('/') != std::string::npos || m.shard.file.rfind("..", 0) == 0)
        throw InputError(where, "shard file '" + m.shard.file + "' is not a plain file name");
      m.shard.row_begin = s.at("row_begin").get<int64_t>();
      m.shard.rows = s.at("rows").get<int64_t>();
      m.shard.crc32 = parse_hex32(s.at("crc32").get<std::string>(), where);
      if (m.shard.row_begin != next || m.shard.rows <= 0)
        throw InputError(where, "shard '" + m.shard.file + "' does not continue at row " + std::to_string(next));
      next += m.shard.rows;
      const fs::path p = dir / m.shard.file;
      m.bytes = m.shard.rows * row_bytes;
      m.slot = st.cache_->add_slot();
      // Verified through a mapping that the cache keeps while under its bound and unmaps after.
      const auto file = st.cache_->put(m.slot, io::MappedFile::open(p));
      if (static_cast<int64_t>(file->size()) != m.bytes)
        throw InputError(p.string(), "shard is truncated or oversized: expected " + std::to_string(m.bytes) +
                                         " bytes, found " + std::to_string(file->size()));
      const uint32_t crc = store_crc32(file->bytes().data(), m.bytes);
      if (crc != m.shard.crc32)
        throw InputError(p.string(), "shard is corrupted: crc32 " + hex32(crc) + " does not match store.json's " +
                                         hex32(m.shard.crc32));
      out.push_back(std::move(m));
    }
    if (next != st.rows_)
      throw InputError(where, "shards cover " + std::to_string(next) + " rows, store.json says " +
                                  std::to_string(st.rows_));
    return out;
  };
  try {
    if (j.at("format").get<std::string>() != kFormat)
      throw InputError(where, std::string("expected format '") + kFormat + "'");
    st.dtype_ = parse_store_dtype(j.at("dtype").get<std::string>());
    st.rows_ = j.at("rows").get<int64_t>();
    st.complete_ = j.value("complete", false);
    st.shard_rows_ = j.value("shard_rows", int64_t{0});
    st.compact_inputs_ = j.value("compact_inputs", int64_t{0});
    if (j.contains("inputs")) {
      int64_t next = 0;
      for (const auto& in : j.at("inputs")) {
        StoreInput rec;
        for (const auto& [k, v] : in.items()) {
          if (k == "row_begin") rec.row_begin = v.get<int64_t>();
          else if (k == "rows") rec.rows = v.get<int64_t>();
          else rec.info[k] = v.is_string() ? v.get<std::string>() : v.dump();
        }
        if (rec.row_begin < next || rec.rows < 0 || rec.row_begin + rec.rows > st.rows_)
          throw InputError(where, "input at row " + std::to_string(rec.row_begin) + " overlaps another or lies past row " +
                                      std::to_string(st.rows_));
        next = rec.row_begin + rec.rows;
        st.inputs_.push_back(std::move(rec));
      }
    }
    if (j.contains("sources"))
      for (const auto& [k, v] : j.at("sources").items()) st.sources_[k] = v.is_string() ? v.get<std::string>() : v.dump();
    for (const auto& h : j.at("hooks")) {
      StoreHook hook{h.at("name").get<std::string>(), h.at("dim").get<int64_t>()};
      check_hook_name(hook.name, where);
      if (hook.dim <= 0) throw InputError(where, "hook '" + hook.name + "' has a non-positive dim");
      st.shards_.push_back(load_shards(h.at("shards"), hook.dim * store_dtype_size(st.dtype_)));
      st.hooks_.push_back(std::move(hook));
    }
    if (j.contains("input_ids")) {
      st.has_ids_ = true;
      st.id_shards_ = load_shards(j.at("input_ids").at("shards"), 4);
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(where, std::string("missing or mistyped field: ") + e.what());
  }
  if (st.hooks_.empty()) throw InputError(where, "the store lists no hooks");
  return st;
}

int64_t ActivationStore::hook_index(const std::string& name) const {
  std::string names;
  for (size_t h = 0; h < hooks_.size(); ++h) {
    if (hooks_[h].name == name) return static_cast<int64_t>(h);
    names += (h ? ", " : "") + hooks_[h].name;
  }
  throw InputError(dir_.string(), "no hook '" + name + "' in this store (it has: " + names + ")");
}

const ActivationStore::Mapped& ActivationStore::shard_of(const std::vector<Mapped>& list, int64_t row) const {
  auto it = std::upper_bound(list.begin(), list.end(), row,
                             [](int64_t r, const Mapped& m) { return r < m.shard.row_begin; });
  CT_CHECK(it != list.begin());
  return *(it - 1);
}

std::shared_ptr<const io::MappedFile> ActivationStore::mapping(const Mapped& m) const {
  if (auto file = cache_->find(m.slot)) return file;
  // Verified on open; mapped again here, so only its size is checked (a checksum would read it all).
  const fs::path p = dir_ / m.shard.file;
  auto file = io::MappedFile::open(p);
  if (static_cast<int64_t>(file->size()) != m.bytes)
    throw InputError(p.string(), "shard changed since the store was opened: expected " + std::to_string(m.bytes) +
                                     " bytes, found " + std::to_string(file->size()));
  return cache_->put(m.slot, std::move(file));
}

int64_t ActivationStore::mapped_shards() const { return cache_->mapped(); }

void ActivationStore::read_rows(int64_t h, int64_t first, int64_t count, float* out) const {
  CT_CHECK(h >= 0 && h < static_cast<int64_t>(hooks_.size()) && first >= 0 && first + count <= rows_);
  const int64_t dim = hooks_[h].dim, esize = store_dtype_size(dtype_);
  int64_t row = first;
  while (row < first + count) {
    const Mapped& m = shard_of(shards_[h], row);
    const int64_t in_shard = row - m.shard.row_begin;
    const int64_t n = std::min(first + count - row, m.shard.rows - in_shard);
    const auto file = mapping(m);
    const std::byte* src = file->bytes().data() + in_shard * dim * esize;
    float* o = out + (row - first) * dim;
    const int64_t elems = n * dim;
    if (dtype_ == StoreDType::kF32) {
      std::memcpy(o, src, elems * 4);
    } else {
      for (int64_t i = 0; i < elems; ++i) {
        uint16_t v;
        std::memcpy(&v, src + i * 2, 2);
        o[i] = dtype_ == StoreDType::kF16 ? tensor::f16_to_f32(v) : tensor::bf16_to_f32(v);
      }
    }
    row += n;
  }
}

void ActivationStore::read_input_ids(int64_t first, int64_t count, int32_t* out) const {
  CT_CHECK(has_ids_ && first >= 0 && first + count <= rows_);
  int64_t row = first;
  while (row < first + count) {
    const Mapped& m = shard_of(id_shards_, row);
    const int64_t in_shard = row - m.shard.row_begin;
    const int64_t n = std::min(first + count - row, m.shard.rows - in_shard);
    const auto file = mapping(m);
    std::memcpy(out + (row - first), file->bytes().data() + in_shard * 4, n * 4);
    row += n;
  }
}

std::vector<int64_t> ActivationStore::shard_starts() const {
  std::vector<int64_t> s;
  for (const auto& m : shards_.front()) s.push_back(m.shard.row_begin);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Writing

ActivationStoreWriter::ActivationStoreWriter(fs::path dir, std::vector<StoreHook> hooks, StoreWriterOptions options)
    : dir_(std::move(dir)), hooks_(std::move(hooks)), opt_(std::move(options)) {
  const std::string where = (dir_ / kManifest).string();
  if (hooks_.empty()) throw InputError(dir_.string(), "an activation store needs at least one hook");
  if (opt_.shard_rows <= 0) throw InputError(dir_.string(), "shard_rows must be positive");
  for (const auto& h : hooks_) {
    check_hook_name(h.name, dir_.string());
    if (h.dim <= 0) throw InputError(dir_.string(), "hook '" + h.name + "' needs a positive dim");
  }
  shards_.resize(hooks_.size());
  buffers_.resize(hooks_.size());
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw RuntimeFailure(dir_.string() + ": cannot create the store directory: " + ec.message());
  // The lock is the directory's own (flock on a descriptor of it): no lock file to leave behind.
  lock_fd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock_fd_ < 0) throw RuntimeFailure(dir_.string() + ": cannot open the store directory: " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw InputError(dir_.string(), "another writer (a harvest or import still running) holds this store");
  }
  try {
    open_or_create(where);
  } catch (...) {
    ::close(lock_fd_);
    throw;
  }
}

void ActivationStoreWriter::open_or_create(const std::string& where) {
  if (fs::exists(dir_ / kManifest)) {
    if (!opt_.resume) throw InputError(dir_.string(), "already holds an activation store (resume it or choose another directory)");
    const ActivationStore old = ActivationStore::open(dir_);
    auto differ = [&](const std::string& field, const std::string& was, const std::string& now) {
      throw InputError(where, "cannot resume: " + field + " is " + was + " in the store, " + now + " now");
    };
    if (old.dtype() != opt_.dtype) differ("dtype", store_dtype_name(old.dtype()), store_dtype_name(opt_.dtype));
    if (old.hooks().size() != hooks_.size()) differ("the hook count", std::to_string(old.hooks().size()), std::to_string(hooks_.size()));
    for (size_t h = 0; h < hooks_.size(); ++h)
      if (old.hooks()[h].name != hooks_[h].name || old.hooks()[h].dim != hooks_[h].dim)
        differ("hook " + std::to_string(h), old.hooks()[h].name + " [" + std::to_string(old.hooks()[h].dim) + "]",
               hooks_[h].name + " [" + std::to_string(hooks_[h].dim) + "]");
    if (old.has_input_ids() != opt_.input_ids) differ("input_ids", old.has_input_ids() ? "present" : "absent",
                                                       opt_.input_ids ? "present" : "absent");
    const nlohmann::json j = io::read_json_file(dir_ / kManifest);
    if (j.value("shard_rows", int64_t{0}) != opt_.shard_rows)
      differ("shard_rows", std::to_string(j.value("shard_rows", int64_t{0})), std::to_string(opt_.shard_rows));
    for (size_t h = 0; h < hooks_.size(); ++h)
      for (const auto& s : j.at("hooks")[h].at("shards"))
        shards_[h].push_back({s.at("file").get<std::string>(), s.at("row_begin").get<int64_t>(),
                              s.at("rows").get<int64_t>(), parse_hex32(s.at("crc32").get<std::string>(), where)});
    if (opt_.input_ids)
      for (const auto& s : j.at("input_ids").at("shards"))
        id_shards_.push_back({s.at("file").get<std::string>(), s.at("row_begin").get<int64_t>(),
                              s.at("rows").get<int64_t>(), parse_hex32(s.at("crc32").get<std::string>(), where)});
    const int64_t compact = j.value("compact_inputs", int64_t{0});
    if (compact != 0 && compact != opt_.compact_inputs)
      differ("compact_inputs", std::to_string(compact), std::to_string(opt_.compact_inputs));
    for (const auto& s : shards_.front())
      next_shard_number_ = std::max(next_shard_number_, shard_number(s.file, hooks_.front().name) + 1);
    next_shard_number_ = std::max<int64_t>(next_shard_number_, static_cast<int64_t>(shards_.front().size()));
    rows_written_ = old.rows();
    inputs_ = old.inputs();
    // A store finished with a partial last shard continues in a new shard; that is allowed.
    remove_leftovers();
    compact_closed_groups();  // a crash may have come between a group's last flush and its merge
    manifest_written_ = std::chrono::steady_clock::now();  // the interval counts from here
  } else {
    write_manifest(false);
  }
}

ActivationStoreWriter::~ActivationStoreWriter() {
  // List the shards written since the last manifest (also when an exception unwinds: the lists
  // only ever hold shards whose files are complete). A failure here leaves them unlisted leftovers.
  if (manifest_behind_) {
    try {
      write_manifest(false);
    } catch (...) {
    }
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void ActivationStoreWriter::append(const std::vector<const float*>& hook_rows, int64_t count, const int32_t* input_ids) {
  if (hook_rows.size() != hooks_.size())
    throw InputError(dir_.string(), "append got " + std::to_string(hook_rows.size()) + " hooks, the store has " +
                                        std::to_string(hooks_.size()));
  if ((input_ids != nullptr) != opt_.input_ids)
    throw InputError(dir_.string(), opt_.input_ids ? "rows need input ids" : "this store carries no input ids");
  CT_CHECK(!finished_ && count >= 0);
  const int64_t esize = store_dtype_size(opt_.dtype);
  int64_t done = 0;
  while (done < count) {
    const int64_t n = std::min(count - done, opt_.shard_rows - buffered_);
    for (size_t h = 0; h < hooks_.size(); ++h) {
      const int64_t dim = hooks_[h].dim, elems = n * dim;
      auto& buf = buffers_[h];
      const size_t at = buf.size();
      buf.resize(at + elems * esize);
      const float* src = hook_rows[h] + done * dim;
      if (opt_.dtype == StoreDType::kF32) {
        std::memcpy(buf.data() + at, src, elems * 4);
      } else {
        for (int64_t i = 0; i < elems; ++i) {
          const uint16_t v = opt_.dtype == StoreDType::kF16 ? tensor::f32_to_f16(src[i]) : tensor::f32_to_bf16(src[i]);
          std::memcpy(buf.data() + at + i * 2, &v, 2);
        }
      }
    }
    if (input_ids) id_buffer_.insert(id_buffer_.end(), input_ids + done, input_ids + done + n);
    buffered_ += n;
    done += n;
    if (buffered_ == opt_.shard_rows) flush_shard();
  }
}

void ActivationStoreWriter::begin_input(int64_t rows, std::map<std::string, std::string> info) {
  CT_CHECK(!finished_ && rows >= 0);
  for (const auto& [k, v] : info)
    if (k == "row_begin" || k == "rows") throw InputError(dir_.string(), "input field '" + k + "' is reserved");
  inputs_.push_back({this->rows(), rows, std::move(info)});
}

void ActivationStoreWriter::flush_shard() {
  if (buffered_ == 0) return;
  const int64_t n = next_shard_number_++;
  auto write = [&](const std::string& file, const void* data, int64_t bytes) {
    const fs::path p = dir_ / file;
    io::write_file_atomically(p, [&](std::FILE* f) { io::write_bytes(f, data, bytes, p); });
    return StoreShard{file, rows_written_, buffered_, store_crc32(data, bytes)};
  };
  // Every file is written before any list grows, so the lists always describe complete files
  // (the destructor may write them out while an exception unwinds).
  std::vector<StoreShard> written;
  for (size_t h = 0; h < hooks_.size(); ++h)
    written.push_back(write(hooks_[h].name + "." + std::to_string(n) + ".bin", buffers_[h].data(),
                            static_cast<int64_t>(buffers_[h].size())));
  if (opt_.input_ids)
    written.push_back(write("input_ids." + std::to_string(n) + ".bin", id_buffer_.data(),
                            static_cast<int64_t>(id_buffer_.size()) * 4));
  for (size_t h = 0; h < hooks_.size(); ++h) {
    shards_[h].push_back(written[h]);
    buffers_[h].clear();
  }
  if (opt_.input_ids) {
    id_shards_.push_back(written.back());
    id_buffer_.clear();
  }
  rows_written_ += buffered_;
  buffered_ = 0;
  // The shard files exist before the manifest lists them.
  const double since = std::chrono::duration<double>(std::chrono::steady_clock::now() - manifest_written_).count();
  if (opt_.manifest_interval_s <= 0 || since >= opt_.manifest_interval_s) write_manifest(false);
  else manifest_behind_ = true;
  compact_closed_groups();
}

// Leftovers of a crash (see the header comment): shard files of this store's hooks or ids that
// store.json does not list, and the atomic writer's temporaries of those or of store.json. Files
// with any other name are not ours and stay.
void ActivationStoreWriter::remove_leftovers() const {
  std::set<std::string> listed;
  for (const auto& list : shards_)
    for (const auto& s : list) listed.insert(s.file);
  for (const auto& s : id_shards_) listed.insert(s.file);
  auto is_shard_name = [&](const std::string& name) {
    if (shard_number(name, "input_ids") >= 0) return true;
    return std::any_of(hooks_.begin(), hooks_.end(), [&](const StoreHook& h) { return shard_number(name, h.name) >= 0; });
  };
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    bool leftover = false;
    if (name.front() == '.') {
      const std::size_t tmp = name.rfind(".tmp.");
      if (tmp != std::string::npos && tmp > 1) {
        const std::string target = name.substr(1, tmp - 1);
        leftover = target == kManifest || is_shard_name(target);
      }
    } else {
      leftover = is_shard_name(name) && !listed.count(name);
    }
    std::error_code rm;
    if (leftover && entry.is_regular_file(rm)) fs::remove(entry.path(), rm);
  }
}

// Walks the listed inputs not yet grouped, closing a group at the first input that brings it to
// compact_inputs inputs or shard_rows rows, and merges every group it closes.
void ActivationStoreWriter::compact_closed_groups() {
  if (opt_.compact_inputs <= 0) return;
  for (; inputs_grouped_ < inputs_.size(); ++inputs_grouped_) {
    const StoreInput& last = inputs_[inputs_grouped_];
    const int64_t end = last.row_begin + last.rows;
    if (end > rows_written_) break;  // not listed yet
    const StoreInput& first = inputs_[group_first_input_];
    const auto count = static_cast<int64_t>(inputs_grouped_ - group_first_input_ + 1);
    if (count >= opt_.compact_inputs || end - first.row_begin >= opt_.shard_rows) {
      merge_shards(first.row_begin, end);
      group_first_input_ = inputs_grouped_ + 1;
    }
  }
}

// Merges the listed shards that cover rows [row_begin, row_end) exactly into one per hook (and
// ids), when there are two or more; does nothing when the range does not start and end on shard
// boundaries (a writer that did not flush per input), so the layout stays a function of the data.
void ActivationStoreWriter::merge_shards(int64_t row_begin, int64_t row_end) {
  const auto& ref = shards_.front();
  std::size_t a = 0;
  while (a < ref.size() && ref[a].row_begin < row_begin) ++a;
  if (a == ref.size() || ref[a].row_begin != row_begin) return;
  std::size_t b = a;
  while (b < ref.size() && ref[b].row_begin + ref[b].rows < row_end) ++b;
  if (b == ref.size() || ref[b].row_begin + ref[b].rows != row_end || b == a) return;

  const std::string number = std::to_string(next_shard_number_);
  std::vector<uint8_t> buf(1 << 20);
  // Streams list[a..b] into "<prefix>.<number>.bin", verifying each piece's size and crc32.
  auto merge = [&](const std::vector<StoreShard>& list, const std::string& prefix, int64_t row_bytes) {
    const std::string file = prefix + "." + number + ".bin";
    io::AtomicFileWriter out(dir_ / file);
    uLong whole = crc32(0L, Z_NULL, 0);
    for (std::size_t k = a; k <= b; ++k) {
      const fs::path src = dir_ / list[k].file;
      struct Closer {
        void operator()(std::FILE* f) const { std::fclose(f); }
      };
      std::unique_ptr<std::FILE, Closer> in(std::fopen(src.c_str(), "rb"));
      if (!in) throw InputError(src.string(), "cannot be opened to compact the store");
      uLong piece = crc32(0L, Z_NULL, 0);
      int64_t bytes = 0;
      std::size_t got;
      while ((got = std::fread(buf.data(), 1, buf.size(), in.get())) > 0) {
        piece = crc32(piece, buf.data(), static_cast<uInt>(got));
        whole = crc32(whole, buf.data(), static_cast<uInt>(got));
        io::write_bytes(out.file(), buf.data(), got, out.target());
        bytes += static_cast<int64_t>(got);
      }
      if (bytes != list[k].rows * row_bytes)
        throw InputError(src.string(), "shard is truncated or oversized: expected " +
                                           std::to_string(list[k].rows * row_bytes) + " bytes, found " + std::to_string(bytes));
      if (static_cast<uint32_t>(piece) != list[k].crc32)
        throw InputError(src.string(), "shard is corrupted: crc32 " + hex32(static_cast<uint32_t>(piece)) +
                                           " does not match store.json's " + hex32(list[k].crc32));
    }
    out.commit();
    return StoreShard{file, row_begin, row_end - row_begin, static_cast<uint32_t>(whole)};
  };
  const int64_t esize = store_dtype_size(opt_.dtype);
  std::vector<StoreShard> merged;  // [hook], then the ids
  for (std::size_t h = 0; h < hooks_.size(); ++h) merged.push_back(merge(shards_[h], hooks_[h].name, hooks_[h].dim * esize));
  if (opt_.input_ids) merged.push_back(merge(id_shards_, "input_ids", 4));

  // Every merged file exists; now list them instead of the pieces, then delete the pieces.
  std::vector<std::string> pieces;
  auto replace = [&](std::vector<StoreShard>& list, const StoreShard& with) {
    for (std::size_t k = a; k <= b; ++k) pieces.push_back(list[k].file);
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(a), list.begin() + static_cast<std::ptrdiff_t>(b) + 1);
    list.insert(list.begin() + static_cast<std::ptrdiff_t>(a), with);
  };
  for (std::size_t h = 0; h < hooks_.size(); ++h) replace(shards_[h], merged[h]);
  if (opt_.input_ids) replace(id_shards_, merged.back());
  ++next_shard_number_;
  write_manifest(false);
  for (const auto& f : pieces) {
    std::error_code ec;
    fs::remove(dir_ / f, ec);  // a piece left behind is unlisted, and the next resume removes it
  }
}

void ActivationStoreWriter::flush() {
  CT_CHECK(!finished_);
  flush_shard();
}

void ActivationStoreWriter::sync() {
  if (manifest_behind_) write_manifest(false);
}

void ActivationStoreWriter::finish() {
  if (finished_) return;
  flush_shard();
  write_manifest(true);
  finished_ = true;
}

void ActivationStoreWriter::write_manifest(bool complete) {
  nlohmann::json j;
  j["format"] = kFormat;
  j["version"] = 1;
  j["dtype"] = store_dtype_name(opt_.dtype);
  j["rows"] = rows_written_;
  j["shard_rows"] = opt_.shard_rows;
  j["complete"] = complete;
  j["checksum"] = "crc32";
  if (opt_.compact_inputs > 0) j["compact_inputs"] = opt_.compact_inputs;
  j["sources"] = nlohmann::json::object();
  for (const auto& [k, v] : opt_.sources) j["sources"][k] = v;
  j["hooks"] = nlohmann::json::array();
  for (size_t h = 0; h < hooks_.size(); ++h) {
    nlohmann::json hj{{"name", hooks_[h].name}, {"dim", hooks_[h].dim}, {"shards", nlohmann::json::array()}};
    for (const auto& s : shards_[h]) hj["shards"].push_back(shard_json(s, hooks_[h].dim * store_dtype_size(opt_.dtype)));
    j["hooks"].push_back(std::move(hj));
  }
  if (opt_.input_ids) {
    j["input_ids"] = {{"dtype", "i32"}, {"shards", nlohmann::json::array()}};
    for (const auto& s : id_shards_) j["input_ids"]["shards"].push_back(shard_json(s, 4));
  }
  // Inputs whose rows are all in listed shards (a crash loses the others with their rows).
  bool any_input = false;
  for (const auto& in : inputs_) {
    if (in.row_begin + in.rows > rows_written_) break;
    nlohmann::json ij{{"row_begin", in.row_begin}, {"rows", in.rows}};
    for (const auto& [k, v] : in.info) ij[k] = v;
    j["inputs"].push_back(std::move(ij));
    any_input = true;
  }
  if (!any_input && !inputs_.empty()) j["inputs"] = nlohmann::json::array();
  const std::string text = j.dump(1) + "\n";
  const fs::path p = dir_ / kManifest;
  io::write_file_atomically(p, [&](std::FILE* f) { io::write_bytes(f, text.data(), text.size(), p); });
  manifest_behind_ = false;
  manifest_written_ = std::chrono::steady_clock::now();
}

}  // namespace ct::crosscoder
