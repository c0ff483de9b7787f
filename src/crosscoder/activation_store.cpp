// Activation store reading and writing (see activation_store.h).
#include "crosscoder/activation_store.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

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

ActivationStore ActivationStore::open(const fs::path& dir) {
  const fs::path mpath = dir / kManifest;
  if (!fs::exists(mpath)) throw InputError(dir.string(), "not an activation store (no store.json)");
  const nlohmann::json j = io::read_json_file(mpath);
  const std::string where = mpath.string();
  ActivationStore st;
  st.dir_ = dir;
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
      m.file = io::MappedFile::open(p);
      const int64_t want = m.shard.rows * row_bytes;
      if (static_cast<int64_t>(m.file->size()) != want)
        throw InputError(p.string(), "shard is truncated or oversized: expected " + std::to_string(want) +
                                         " bytes, found " + std::to_string(m.file->size()));
      const uint32_t crc = store_crc32(m.file->bytes().data(), want);
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

void ActivationStore::read_rows(int64_t h, int64_t first, int64_t count, float* out) const {
  CT_CHECK(h >= 0 && h < static_cast<int64_t>(hooks_.size()) && first >= 0 && first + count <= rows_);
  const int64_t dim = hooks_[h].dim, esize = store_dtype_size(dtype_);
  int64_t row = first;
  while (row < first + count) {
    const Mapped& m = shard_of(shards_[h], row);
    const int64_t in_shard = row - m.shard.row_begin;
    const int64_t n = std::min(first + count - row, m.shard.rows - in_shard);
    const std::byte* src = m.file->bytes().data() + in_shard * dim * esize;
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
    std::memcpy(out + (row - first), m.file->bytes().data() + in_shard * 4, n * 4);
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
    rows_written_ = old.rows();
    inputs_ = old.inputs();
    // A store finished with a partial last shard continues in a new shard; that is allowed.
  } else {
    fs::create_directories(dir_);
    write_manifest(false);
  }
}

ActivationStoreWriter::~ActivationStoreWriter() = default;

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
  const int64_t n = shards_.front().size();
  auto write = [&](const std::string& file, const void* data, int64_t bytes) {
    const fs::path p = dir_ / file;
    io::write_file_atomically(p, [&](std::FILE* f) { io::write_bytes(f, data, bytes, p); });
    return StoreShard{file, rows_written_, buffered_, store_crc32(data, bytes)};
  };
  for (size_t h = 0; h < hooks_.size(); ++h) {
    shards_[h].push_back(write(hooks_[h].name + "." + std::to_string(n) + ".bin", buffers_[h].data(),
                               static_cast<int64_t>(buffers_[h].size())));
    buffers_[h].clear();
  }
  if (opt_.input_ids) {
    id_shards_.push_back(write("input_ids." + std::to_string(n) + ".bin", id_buffer_.data(),
                               static_cast<int64_t>(id_buffer_.size()) * 4));
    id_buffer_.clear();
  }
  rows_written_ += buffered_;
  buffered_ = 0;
  write_manifest(false);  // the shard files exist before the manifest lists them
}

void ActivationStoreWriter::flush() {
  CT_CHECK(!finished_);
  flush_shard();
}

void ActivationStoreWriter::finish() {
  if (finished_) return;
  flush_shard();
  write_manifest(true);
  finished_ = true;
}

void ActivationStoreWriter::write_manifest(bool complete) const {
  nlohmann::json j;
  j["format"] = kFormat;
  j["version"] = 1;
  j["dtype"] = store_dtype_name(opt_.dtype);
  j["rows"] = rows_written_;
  j["shard_rows"] = opt_.shard_rows;
  j["complete"] = complete;
  j["checksum"] = "crc32";
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
}

}  // namespace ct::crosscoder
