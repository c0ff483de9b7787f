// Safetensors reader and writer; the contract and the validation list are in safetensors.h.
//
// The JSON header is parsed by nlohmann::json (which rejects ill-formed UTF-8 and trailing
// garbage) with a parser callback that (a) rejects duplicate keys at every level, which nlohmann
// would otherwise silently overwrite, (b) records the top-level key order, which std::map-backed
// objects lose, and (c) bounds the nesting depth, so that no header drives the parser deep.
#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"

namespace ct::io {
namespace {

using nlohmann::json;

// A safetensors header nests at most 3 levels ({name: {"shape": [...]}}); anything much deeper is
// not a safetensors header, and refusing it early keeps the parser's work bounded.
constexpr int kMaxJsonDepth = 16;
constexpr std::size_t kMaxNameInMessage = 80;

// A name or JSON fragment as it can be printed on one line: control and non-ASCII bytes become
// \xNN, and long strings are cut.
std::string printable(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < kMaxNameInMessage; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > kMaxNameInMessage) out += "...";
  return out;
}

// Built with append: GCC 12 warns (-Wrestrict, a false positive) on "'" + std::string + "'".
std::string quote_name(std::string_view name) {
  std::string out(1, '\'');
  out.append(printable(name));
  out.push_back('\'');
  return out;
}

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint64_t>(p[i]);
  return v;
}

// Parses `text` as one JSON value; see the file comment for what the callback adds.
// Returns the value and fills `top_level_keys` with the keys of the outer object in order.
json parse_header_json(std::string_view text, const std::string& file_name,
                       std::vector<std::string>& top_level_keys) {
  std::vector<std::set<std::string>> open_objects;  // keys seen in each object being parsed
  std::vector<bool> is_object;                      // the container stack, objects and arrays
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth) {
          throw InputError(file_name, "header JSON nests deeper than " + std::to_string(kMaxJsonDepth) +
                                          " levels (a safetensors header has 3)");
        }
        is_object.push_back(event == json::parse_event_t::object_start);
        if (is_object.back()) open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!is_object.empty()) {
          if (is_object.back()) open_objects.pop_back();
          is_object.pop_back();
        }
        break;
      case json::parse_event_t::key: {
        CT_CHECK(!open_objects.empty(), "a JSON key outside an object");
        const auto& key = parsed.get_ref<const std::string&>();
        if (!open_objects.back().insert(key).second) {
          throw InputError(file_name, "duplicate key " + quote_name(key) + " in the header JSON" +
                                          (open_objects.size() == 1 ? " (a tensor name repeats)" : ""));
        }
        if (open_objects.size() == 1 && is_object.size() == 1) top_level_keys.push_back(key);
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  // nlohmann's lexer takes a NUL byte outside a string for the end of the input, so "{}\0junk"
  // would parse; NUL is never valid in JSON text, so refuse it up front.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    throw InputError(file_name, "header is not valid UTF-8 JSON: NUL byte at header offset " + std::to_string(nul));
  }
  try {
    return json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    throw InputError(file_name, "header is not valid UTF-8 JSON: " + printable(e.what()));
  }
}

// A non-negative JSON integer that fits `max`; `what` names it in messages.
uint64_t non_negative_integer(const json& v, uint64_t max, const std::string& file_name, const std::string& what) {
  if (v.is_number_unsigned()) {
    const uint64_t x = v.get<uint64_t>();
    if (x > max) throw InputError(file_name, what + " is " + std::to_string(x) + ", larger than " + std::to_string(max));
    return x;
  }
  if (v.is_number_integer()) {  // signed, so negative (non-negative integers parse as unsigned)
    throw InputError(file_name, what + " is negative (" + std::to_string(v.get<int64_t>()) + ")");
  }
  throw InputError(file_name, what + " must be a non-negative integer, found " + printable(v.dump()));
}

SafetensorsTensorInfo parse_entry(const std::string& name, const json& entry, const std::string& file_name) {
  const std::string where = "tensor " + quote_name(name);
  if (!entry.is_object()) {
    throw InputError(file_name, where + ": entry must be an object with dtype, shape and data_offsets, found " +
                                    std::string(entry.type_name()));
  }
  for (const auto& [key, value] : entry.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      throw InputError(file_name, where + ": unknown key " + quote_name(key) + " (expected dtype, shape, data_offsets)");
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(key)) throw InputError(file_name, where + ": missing \"" + key + "\"");
  }
  SafetensorsTensorInfo info;
  info.name = name;

  const json& dtype = entry["dtype"];
  if (!dtype.is_string()) throw InputError(file_name, where + ": dtype must be a string");
  const auto parsed = parse_dtype(dtype.get_ref<const std::string&>());
  if (!parsed) throw InputError(file_name, where + ": unknown dtype " + quote_name(dtype.get_ref<const std::string&>()));
  info.dtype = *parsed;

  const json& shape = entry["shape"];
  if (!shape.is_array()) throw InputError(file_name, where + ": shape must be an array of integers");
  bool has_zero = false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const uint64_t d = non_negative_integer(shape[i], std::numeric_limits<int64_t>::max(), file_name,
                                            where + ": shape[" + std::to_string(i) + "]");
    info.shape.push_back(static_cast<int64_t>(d));
    has_zero = has_zero || d == 0;
  }

  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2) {
    throw InputError(file_name, where + ": data_offsets must be an array of two integers [begin, end]");
  }
  info.begin = non_negative_integer(offsets[0], std::numeric_limits<uint64_t>::max(), file_name, where + ": data_offsets[0]");
  info.end = non_negative_integer(offsets[1], std::numeric_limits<uint64_t>::max(), file_name, where + ": data_offsets[1]");
  if (info.begin > info.end) {
    throw InputError(file_name, where + ": data_offsets begin " + std::to_string(info.begin) + " > end " +
                                    std::to_string(info.end));
  }

  // numel must fit int64 (TensorEntry::numel) and numel * dtype size must fit u64. A zero
  // dimension makes the product 0 whatever the other dimensions are.
  uint64_t numel = 1;
  if (has_zero) {
    numel = 0;
  } else {
    for (int64_t d : info.shape) {
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel) ||
          numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw InputError(file_name, where + ": shape product overflows int64");
      }
    }
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(info.dtype)), &bytes)) {
    throw InputError(file_name, where + ": byte size (shape product * dtype size) overflows u64");
  }
  if (bytes != info.end - info.begin) {
    throw InputError(file_name, where + ": shape and dtype need " + std::to_string(bytes) + " bytes but data_offsets span " +
                                    std::to_string(info.end - info.begin));
  }
  return info;
}

void parse_metadata(const json& value, const std::string& file_name, std::map<std::string, std::string>& out) {
  if (!value.is_object()) {
    throw InputError(file_name, "__metadata__ must be an object of strings, found " + std::string(value.type_name()));
  }
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) {
      throw InputError(file_name, "__metadata__ value of " + quote_name(key) + " must be a string, found " +
                                      std::string(v.type_name()));
    }
    out.emplace(key, v.get<std::string>());
  }
}

}  // namespace

SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file, const std::string& file_name) {
  if (file.size() < 8) {
    throw InputError(file_name, "file is " + std::to_string(file.size()) +
                                    " bytes, shorter than the 8-byte safetensors header length");
  }
  const uint64_t n = read_u64_le(file.data());
  const uint64_t available = file.size() - 8;
  if (n > available) {
    throw InputError(file_name, "header length " + std::to_string(n) + " runs past the end of the file (" +
                                    std::to_string(available) + " bytes after the length)");
  }
  if (n > kSafetensorsMaxHeaderBytes) {
    throw InputError(file_name, "header length " + std::to_string(n) + " exceeds the limit of " +
                                    std::to_string(kSafetensorsMaxHeaderBytes) + " bytes");
  }
  const std::string_view text(reinterpret_cast<const char*>(file.data() + 8), n);
  std::vector<std::string> order;
  const json header = parse_header_json(text, file_name, order);
  if (!header.is_object()) {
    throw InputError(file_name, "header must be a JSON object, found " + std::string(header.type_name()));
  }

  SafetensorsHeader out;
  out.data_offset = 8 + n;
  const uint64_t data_size = file.size() - out.data_offset;
  out.tensors.reserve(order.size());
  for (const std::string& name : order) {
    const json& value = header.find(name).value();
    if (name == "__metadata__") {
      parse_metadata(value, file_name, out.metadata);
      continue;
    }
    SafetensorsTensorInfo info = parse_entry(name, value, file_name);
    if (info.end > data_size) {
      throw InputError(file_name, "tensor " + quote_name(name) + ": data_offsets end " + std::to_string(info.end) +
                                      " is past the data area (" + std::to_string(data_size) + " bytes)");
    }
    out.tensors.push_back(std::move(info));
  }

  // Overlaps: sort the non-empty ranges by begin; each must end before the next begins.
  std::vector<const SafetensorsTensorInfo*> ranges;
  for (const auto& t : out.tensors) {
    if (t.end > t.begin) ranges.push_back(&t);
  }
  std::sort(ranges.begin(), ranges.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i]->begin < ranges[i - 1]->end) {
      throw InputError(file_name, "tensors " + quote_name(ranges[i - 1]->name) + " and " + quote_name(ranges[i]->name) +
                                      " overlap in the data area");
    }
  }
  return out;
}

void read_safetensors(const std::filesystem::path& path, TensorStore& into) {
  const std::string file_name = path.string();
  std::shared_ptr<const MappedFile> mapping = MappedFile::open(path);
  const SafetensorsHeader header = parse_safetensors_header(mapping->bytes(), file_name);
  // Keep the mapping alive before any view of it enters the store, so a failing add() (a name
  // repeated across shards) leaves no dangling view behind.
  into.keep_alive(mapping);
  const auto data = mapping->bytes().subspan(header.data_offset);
  for (const auto& t : header.tensors) {
    TensorEntry entry;
    entry.name = t.name;
    entry.dtype = t.dtype;
    entry.shape = t.shape;
    entry.data = data.subspan(t.begin, t.end - t.begin);
    entry.file = file_name;
    into.add(std::move(entry));
  }
  for (const auto& [key, value] : header.metadata) into.metadata.insert_or_assign(key, value);
}

void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_safetensors(path, tensors, metadata, SafetensorsWriteOptions{});
}

void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata, const SafetensorsWriteOptions& options) {
  std::vector<SafetensorsTensorDecl> decls;
  for (const auto& t : tensors) decls.push_back({t.name, t.dtype, t.shape});
  SafetensorsStreamWriter w(path, std::move(decls), metadata, options);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (w.tensor_bytes(i) != tensors[i].data.size()) {
      throw InputError(path.string(), "tensor " + quote_name(tensors[i].name) + ": shape and dtype need " +
                                          std::to_string(w.tensor_bytes(i)) + " bytes but " +
                                          std::to_string(tensors[i].data.size()) + " were given");
    }
  }
  for (const auto& t : tensors) w.write(t.data);
  w.finish();
}

struct SafetensorsStreamWriter::AtomicHolder {
  explicit AtomicHolder(const std::filesystem::path& p) : file(p) {}
  AtomicFileWriter file;
};

SafetensorsStreamWriter::SafetensorsStreamWriter(const std::filesystem::path& path,
                                                 std::vector<SafetensorsTensorDecl> tensors,
                                                 const std::map<std::string, std::string>& metadata,
                                                 const SafetensorsWriteOptions& options)
    : path_(path), tensors_(std::move(tensors)) {
  const std::string file_name = path.string();
  const uint64_t align = options.tensor_alignment;
  if (align == 0 || (align & (align - 1)) != 0) {
    throw InputError(file_name, "tensor alignment must be a power of two, found " + std::to_string(align));
  }
  auto align_up = [](uint64_t x, uint64_t a) { return (x + a - 1) / a * a; };

  // Validate everything and lay the data area out before the temporary file is created.
  std::set<std::string_view> names;
  uint64_t cursor = 0;
  for (const auto& t : tensors_) {
    const std::string where = "tensor " + quote_name(t.name);
    if (t.name == "__metadata__") throw InputError(file_name, where + ": the name is reserved for metadata");
    if (!names.insert(t.name).second) throw InputError(file_name, where + " is given twice");
    uint64_t bytes = dtype_size(t.dtype);
    for (int64_t d : t.shape) {
      if (d < 0) throw InputError(file_name, where + ": negative dimension " + std::to_string(d));
      if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) {
        throw InputError(file_name, where + ": byte size overflows u64");
      }
    }
    cursor = align_up(cursor, align);
    begins_.push_back(cursor);
    sizes_.push_back(bytes);
    cursor += bytes;
  }

  // The header, tensors in the given order, metadata first (as the reference writer does).
  std::string text = "{";
  try {
    if (!metadata.empty()) {
      text += "\"__metadata__\":{";
      bool first = true;
      for (const auto& [key, value] : metadata) {
        if (!first) text += ',';
        first = false;
        text += json(key).dump() + ":" + json(value).dump();
      }
      text += '}';
    }
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      const auto& t = tensors_[i];
      if (text.size() > 1) text += ',';
      text += json(t.name).dump() + ":{\"dtype\":\"" + std::string(dtype_name(t.dtype)) + "\",\"shape\":[";
      for (std::size_t k = 0; k < t.shape.size(); ++k) {
        if (k) text += ',';
        text += std::to_string(t.shape[k]);
      }
      text += "],\"data_offsets\":[" + std::to_string(begins_[i]) + "," + std::to_string(begins_[i] + sizes_[i]) + "]}";
    }
  } catch (const json::exception&) {  // dump() throws on ill-formed UTF-8
    throw InputError(file_name, "a tensor name or metadata string is not valid UTF-8");
  }
  text += '}';
  // Pad with spaces so that the data area starts at a multiple of max(8, alignment) in the file:
  // then every tensor is aligned in the (page-aligned) mapping as well as in the data area.
  const uint64_t header_align = std::max<uint64_t>(8, align);
  text.resize(align_up(8 + text.size(), header_align) - 8, ' ');

  file_ = new AtomicHolder(path);
  try {
    unsigned char length[8];
    uint64_t n = text.size();
    for (auto& b : length) {
      b = static_cast<unsigned char>(n & 0xff);
      n >>= 8;
    }
    write_bytes(file_->file.file(), length, 8, path);
    write_bytes(file_->file.file(), text.data(), text.size(), path);
    skip_empty_tensors();
  } catch (...) {
    delete file_;
    throw;
  }
}

SafetensorsStreamWriter::~SafetensorsStreamWriter() { delete file_; }

uint64_t SafetensorsStreamWriter::remaining_in_current() const {
  return current_ < tensors_.size() ? sizes_[current_] - written_in_current_ : 0;
}

// Writes the alignment padding before the current tensor's first byte and moves past complete
// (and zero-byte) tensors; an empty tensor's padding is written too, as write_safetensors does, so
// that its offsets stay inside the data area.
void SafetensorsStreamWriter::skip_empty_tensors() {
  static constexpr char kZeros[64] = {};
  while (current_ < tensors_.size()) {
    if (written_in_current_ == 0 && file_cursor_ < begins_[current_]) {
      for (uint64_t pad = begins_[current_] - file_cursor_; pad > 0;) {
        const uint64_t chunk = std::min<uint64_t>(pad, sizeof(kZeros));
        write_bytes(file_->file.file(), kZeros, chunk, path_);
        pad -= chunk;
      }
      file_cursor_ = begins_[current_];
    }
    if (written_in_current_ < sizes_[current_]) return;
    ++current_;
    written_in_current_ = 0;
  }
}

void SafetensorsStreamWriter::write(std::span<const std::byte> chunk) {
  if (failed_) throw InputError(path_.string(), "the streaming writer failed earlier");
  if (chunk.empty()) return;
  if (current_ >= tensors_.size() || chunk.size() > remaining_in_current()) {
    failed_ = true;
    throw InputError(path_.string(), current_ >= tensors_.size()
                                         ? "more bytes given than the declared tensors hold"
                                         : "tensor " + quote_name(tensors_[current_].name) + ": a chunk of " +
                                               std::to_string(chunk.size()) + " bytes where " +
                                               std::to_string(remaining_in_current()) + " remain");
  }
  try {
    write_bytes(file_->file.file(), chunk.data(), chunk.size(), path_);
    written_in_current_ += chunk.size();
    file_cursor_ += chunk.size();
    skip_empty_tensors();
  } catch (...) {
    failed_ = true;
    throw;
  }
}

void SafetensorsStreamWriter::finish() {
  if (failed_) throw InputError(path_.string(), "the streaming writer failed earlier");
  if (current_ < tensors_.size()) {
    failed_ = true;
    throw InputError(path_.string(), "finish() with tensor " + quote_name(tensors_[current_].name) + " incomplete (" +
                                         std::to_string(remaining_in_current()) + " bytes missing)");
  }
  failed_ = true;  // whatever happens, no further use
  file_->file.commit();
}

}  // namespace ct::io
