// .npy reader and writer; the contract is in npy.h. The header is a Python literal, parsed here by
// a small strict scanner (no general Python evaluation) over exactly the forms numpy writes.
#include "io/npy.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"

namespace ct::io {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::size_t kAlign = 64;

struct NpyDType {
  std::string_view descr;
  DType dtype;
};
constexpr std::array<NpyDType, 12> kNpyDTypes{{
    {"<f2", DType::kF16}, {"<f4", DType::kF32}, {"<f8", DType::kF64}, {"|i1", DType::kI8},
    {"<i2", DType::kI16}, {"<i4", DType::kI32}, {"<i8", DType::kI64}, {"|u1", DType::kU8},
    {"<u2", DType::kU16}, {"<u4", DType::kU32}, {"<u8", DType::kU64}, {"|b1", DType::kBool},
}};

// Shortened, printable form of header text for messages.
std::string shown(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 60; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > 60) out += "...";
  return out;
}

// A strict scanner over the header dict literal.
class HeaderScanner {
 public:
  HeaderScanner(std::string_view text, const std::string& file_name) : s_(text), file_(file_name) {}

  [[noreturn]] void fail(const std::string& expected) const {
    throw InputError(file_, "npy header: expected " + expected + " at column " + std::to_string(pos_) + ", found '" +
                                shown(s_.substr(pos_)) + "'");
  }
  void skip_spaces() {
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
  }
  bool accept(char c) {
    skip_spaces();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!accept(c)) fail(std::string("'") + c + "'");
  }
  bool at(char c) {
    skip_spaces();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  // A Python string literal in single or double quotes, without escapes (numpy never writes any).
  std::string string_literal() {
    skip_spaces();
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) fail("a quoted string");
    const char quote = s_[pos_++];
    const std::size_t end = s_.find(quote, pos_);
    if (end == std::string_view::npos) fail("a closing quote");
    std::string out(s_.substr(pos_, end - pos_));
    if (out.find('\\') != std::string::npos) fail("a string without escapes");
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_spaces();
    for (auto [word, value] : {std::pair{std::string_view("True"), true}, std::pair{std::string_view("False"), false}}) {
      if (s_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    fail("True or False");
  }
  // A tuple of non-negative integers: (), (n,), (n, m), (n, m,).
  std::vector<int64_t> shape_tuple() {
    expect('(');
    std::vector<int64_t> dims;
    bool comma_after_last = false;
    while (!accept(')')) {
      skip_spaces();
      if (pos_ < s_.size() && s_[pos_] == '-') fail("a non-negative dimension");
      uint64_t v = 0;
      const std::size_t start = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        if (__builtin_mul_overflow(v, uint64_t{10}, &v) || __builtin_add_overflow(v, uint64_t(s_[pos_] - '0'), &v) ||
            v > uint64_t(std::numeric_limits<int64_t>::max())) {
          fail("a dimension that fits int64");
        }
        ++pos_;
      }
      if (pos_ == start) fail("a dimension (an integer) or ')'");
      dims.push_back(static_cast<int64_t>(v));
      comma_after_last = accept(',');
      if (!comma_after_last && !at(')')) fail("',' or ')' in the shape");
    }
    if (dims.size() == 1 && !comma_after_last) fail("'(n,)' for a one-dimensional shape");
    return dims;
  }
  bool at_end() {
    skip_spaces();
    return pos_ == s_.size();
  }

 private:
  std::string_view s_;
  const std::string& file_;
  std::size_t pos_ = 0;
};

DType dtype_from_descr(const std::string& descr, const std::string& file_name) {
  for (const auto& d : kNpyDTypes) {
    if (d.descr == descr) return d.dtype;
  }
  if (!descr.empty() && descr[0] == '>') {
    throw InputError(file_name, "big-endian dtype '" + shown(descr) + "' is not supported (only little-endian)");
  }
  if (!descr.empty() && descr[0] == '=') {
    throw InputError(file_name, "native-order dtype '" + shown(descr) + "' is not supported (write it as '<')");
  }
  throw InputError(file_name, "unsupported npy dtype '" + shown(descr) +
                                  "' (expected <f2 <f4 <f8 |i1 <i2 <i4 <i8 |u1 <u2 <u4 <u8 |b1)");
}

uint32_t read_le(const std::byte* p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint32_t>(p[i]);
  return v;
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

NpyArray parse_npy(std::span<const std::byte> file, const std::string& file_name) {
  if (file.size() < kMagic.size() + 2 || std::memcmp(file.data(), kMagic.data(), kMagic.size()) != 0) {
    throw InputError(file_name, "not an npy file (expected the magic \\x93NUMPY)");
  }
  const auto major = static_cast<unsigned>(file[6]), minor = static_cast<unsigned>(file[7]);
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    throw InputError(file_name, "unsupported npy version " + std::to_string(major) + "." + std::to_string(minor) +
                                    " (expected 1.0, 2.0 or 3.0)");
  }
  const int length_bytes = major == 1 ? 2 : 4;
  if (file.size() < 8u + length_bytes) throw InputError(file_name, "file ends inside the npy header length");
  const uint64_t header_len = read_le(file.data() + 8, length_bytes);
  const uint64_t data_offset = 8 + length_bytes + header_len;
  if (data_offset > file.size()) {
    throw InputError(file_name, "npy header length " + std::to_string(header_len) + " runs past the end of the file (" +
                                    std::to_string(file.size()) + " bytes)");
  }
  std::string_view text(reinterpret_cast<const char*>(file.data()) + 8 + length_bytes, header_len);
  if (text.empty() || text.back() != '\n') throw InputError(file_name, "npy header does not end with a newline");
  text.remove_suffix(1);
  // Version 1 and 2 headers are latin-1 by the spec; numpy writes ASCII, and so must the header
  // be here (3.0 allows UTF-8 only in field names of structured dtypes, which are not supported).
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      throw InputError(file_name, "npy header contains a non-ASCII or control byte");
    }
  }

  HeaderScanner scan(text, file_name);
  std::optional<std::string> descr;
  std::optional<bool> fortran_order;
  std::optional<std::vector<int64_t>> shape;
  scan.expect('{');
  while (!scan.accept('}')) {
    const std::string key = scan.string_literal();
    scan.expect(':');
    if (key == "descr" && !descr) {
      descr = scan.string_literal();
    } else if (key == "fortran_order" && !fortran_order) {
      fortran_order = scan.boolean();
    } else if (key == "shape" && !shape) {
      shape = scan.shape_tuple();
    } else if (key == "descr" || key == "fortran_order" || key == "shape") {
      throw InputError(file_name, "npy header: key '" + key + "' appears twice");
    } else {
      throw InputError(file_name, "npy header: unknown key '" + shown(key) + "' (expected descr, fortran_order, shape)");
    }
    if (!scan.accept(',') && !scan.at('}')) scan.fail("',' or '}'");
  }
  if (!scan.at_end()) scan.fail("the end of the header after '}'");
  if (!descr || !fortran_order || !shape) {
    throw InputError(file_name, std::string("npy header: missing '") + (!descr ? "descr" : !fortran_order ? "fortran_order" : "shape") + "'");
  }
  if (*fortran_order) {
    throw InputError(file_name, "fortran_order True (column-major) arrays are not supported; save a C-order array");
  }

  NpyArray out;
  out.dtype = dtype_from_descr(*descr, file_name);
  out.shape = std::move(*shape);
  // A zero dimension makes the size 0 whatever the others are; otherwise check every product.
  const bool has_zero = std::find(out.shape.begin(), out.shape.end(), 0) != out.shape.end();
  uint64_t bytes = has_zero ? 0 : dtype_size(out.dtype), numel = 1;
  for (int64_t d : has_zero ? std::vector<int64_t>{} : out.shape) {
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel) ||
        numel > uint64_t(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) {
      throw InputError(file_name, "npy shape product overflows");
    }
  }
  const uint64_t available = file.size() - data_offset;
  if (bytes != available) {
    throw InputError(file_name, "npy shape and dtype need " + std::to_string(bytes) + " data bytes but the file has " +
                                    std::to_string(available));
  }
  out.data = file.subspan(data_offset, bytes);
  return out;
}

NpyArray read_npy(const std::filesystem::path& path) {
  std::shared_ptr<const MappedFile> mapping = MappedFile::open(path);
  NpyArray out = parse_npy(mapping->bytes(), path.string());
  out.owner = std::move(mapping);
  return out;
}

void write_npy(const std::filesystem::path& path, DType dtype, std::span<const int64_t> shape,
               std::span<const std::byte> data) {
  const std::string file_name = path.string();
  std::string_view descr;
  for (const auto& d : kNpyDTypes) {
    if (d.dtype == dtype) descr = d.descr;
  }
  if (descr.empty()) {
    throw InputError(file_name, "dtype " + std::string(dtype_name(dtype)) + " has no npy spelling");
  }
  uint64_t bytes = dtype_size(dtype);
  std::string dims;
  for (int64_t d : shape) {
    if (d < 0) throw InputError(file_name, "negative dimension " + std::to_string(d));
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) {
      throw InputError(file_name, "shape product overflows");
    }
    dims += std::to_string(d) + ", ";
  }
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // (2, 3) but (5,) and ()
  else if (shape.size() == 1) dims.resize(dims.size() - 1);
  if (bytes != data.size()) {
    throw InputError(file_name, "shape and dtype need " + std::to_string(bytes) + " bytes but " +
                                    std::to_string(data.size()) + " were given");
  }
  std::string header = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  int major = 1;
  std::size_t prefix = 10;  // magic (6) + version (2) + u16 length
  if (prefix + header.size() + 1 > 65535) {
    major = 2;
    prefix = 12;
  }
  // Pad with spaces so that prefix + header (newline included) is a multiple of 64.
  const std::size_t total = (prefix + header.size() + 1 + kAlign - 1) / kAlign * kAlign;
  header.resize(total - prefix - 1, ' ');
  header += '\n';

  write_file_atomically(path, [&](std::FILE* out) {
    std::string pre(kMagic);
    pre += static_cast<char>(major);
    pre += '\0';
    const uint64_t n = header.size();
    for (std::size_t i = 0; i < prefix - 8; ++i) pre += static_cast<char>((n >> (8 * i)) & 0xff);
    write_bytes(out, pre.data(), pre.size(), path);
    write_bytes(out, header.data(), header.size(), path);
    write_bytes(out, data.data(), data.size(), path);
  });
}

}  // namespace ct::io
