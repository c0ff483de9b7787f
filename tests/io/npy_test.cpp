// .npy reader/writer: round trips over every npy dtype, layout (64-byte header), files written by
// hand as numpy writes them (v1, v2, v3), strict rejection of what is not supported, atomic writes.
#include "io/npy.h"

#include <gtest/gtest.h>

#include "support/test_dir.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"

namespace ct::io {
namespace {
namespace fs = std::filesystem;

using ct::testing::test_dir;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {(std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::byte> pattern(std::size_t n, int seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 13 + seed * 17) & 0xff);
  return v;
}

// A file as numpy writes it: magic, version, little-endian length, header padded to `align`.
std::string npy_file(int major, const std::string& dict, const std::string& data, std::size_t align = 64) {
  const std::size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  const std::size_t total = (prefix + header.size() + 1 + align - 1) / align * align;
  header.resize(total - prefix - 1, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  for (std::size_t i = 0; i < prefix - 8; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

TEST(Npy, RoundTripEveryDtypeAndShape) {
  const fs::path dir = test_dir();
  const DType dtypes[] = {DType::kF16, DType::kF32, DType::kF64, DType::kI8,  DType::kI16, DType::kI32,
                          DType::kI64, DType::kU8,  DType::kU16, DType::kU32, DType::kU64, DType::kBool};
  const std::vector<std::vector<int64_t>> shapes = {{2, 3}, {}, {5}, {0, 4}, {1, 1, 2}};
  int seed = 0;
  for (DType t : dtypes) {
    for (const auto& shape : shapes) {
      int64_t numel = 1;
      for (int64_t d : shape) numel *= d;
      const auto data = pattern(static_cast<std::size_t>(numel) * dtype_size(t), seed++);
      // (the name is built with path::operator+= : GCC 12 flags "a" + to_string(...) with a false -Wrestrict)
      fs::path file = dir / "a";
      file += std::to_string(seed);
      file += ".npy";
      write_npy(file, t, shape, data);
      const NpyArray a = read_npy(file);
      EXPECT_EQ(a.dtype, t);
      EXPECT_EQ(a.shape, shape);
      EXPECT_EQ(a.numel(), numel);
      ASSERT_EQ(a.data.size(), data.size());
      EXPECT_TRUE(data.empty() || std::memcmp(a.data.data(), data.data(), data.size()) == 0);
      // The data starts at a multiple of 64, so it is aligned in the mapping.
      EXPECT_EQ(read_all(file).size() % 64, data.size() % 64);
      if (!data.empty()) {
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data.data()) % 64, 0u);
      }
    }
  }
}

TEST(Npy, WritesTheHeaderNumpyWrites) {
  const fs::path file = test_dir() / "a.npy";
  const auto data = pattern(6 * 4, 1);
  const int64_t shape[] = {2, 3};
  write_npy(file, DType::kF32, shape, data);
  const std::string bytes = read_all(file);
  // Independent expectation: numpy 1.x writes exactly this header (padded to 64 with spaces + '\n').
  EXPECT_EQ(bytes, npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                            std::string(reinterpret_cast<const char*>(data.data()), data.size())));
  const int64_t one[] = {7};
  write_npy(file, DType::kU8, one, pattern(7, 2));
  EXPECT_NE(read_all(file).find("'shape': (7,), }"), std::string::npos);
}

TEST(Npy, ReadsHandWrittenV1V2V3Files) {
  const fs::path dir = test_dir();
  const std::string ints("\x01\x00\x00\x00\xfe\xff\xff\xff\x03\x00\x00\x00", 12);  // 1, -2, 3
  write_all(dir / "v1.npy", npy_file(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", ints, 16));
  write_all(dir / "v2.npy", npy_file(2, "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"<i4\"}", ints));
  write_all(dir / "v3.npy", npy_file(3, "{'descr':'<i4','fortran_order':False,'shape':(3,)}", ints));
  for (const char* name : {"v1.npy", "v2.npy", "v3.npy"}) {
    const NpyArray a = read_npy(dir / name);
    ASSERT_EQ(a.dtype, DType::kI32) << name;
    ASSERT_EQ(a.shape, std::vector<int64_t>{3}) << name;
    int32_t v[3];
    std::memcpy(v, a.data.data(), 12);
    EXPECT_EQ(v[0], 1);
    EXPECT_EQ(v[1], -2);
    EXPECT_EQ(v[2], 3);
  }
  write_all(dir / "scalar.npy", npy_file(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
                                         std::string("\x00\x00\x00\x00\x00\x00\xf0\x3f", 8)));
  const NpyArray s = read_npy(dir / "scalar.npy");
  double d;
  std::memcpy(&d, s.data.data(), 8);
  EXPECT_EQ(d, 1.0);
  EXPECT_TRUE(s.shape.empty());
}

TEST(Npy, RejectsMalformedAndUnsupportedFilesWithOneLineMessages) {
  const fs::path dir = test_dir();
  const std::string f4(8, '\0');  // two float32s
  const auto dict = [](const std::string& descr, const std::string& fortran, const std::string& shape) {
    return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
  };
  const std::vector<std::pair<std::string, std::string>> cases = {  // contents, expected fragment
      {npy_file(1, dict(">f4", "False", "(2,)"), f4), "big-endian"},
      {npy_file(1, dict("=f4", "False", "(2,)"), f4), "native-order"},
      {npy_file(1, dict("<f4", "True", "(2,)"), f4), "fortran_order True"},
      {npy_file(1, dict("<c8", "False", "(1,)"), f4), "unsupported npy dtype '<c8'"},
      {npy_file(1, dict("<f4", "False", "(2)"), f4), "one-dimensional"},
      {npy_file(1, dict("<f4", "False", "(-2,)"), f4), "non-negative"},
      {npy_file(1, dict("<f4", "False", "(2.0,)"), f4), "',' or ')'"},
      {npy_file(1, dict("<f4", "False", "(3,)"), f4), "need 12 data bytes but the file has 8"},
      {npy_file(1, dict("<f4", "False", "(1,)"), f4), "need 4 data bytes"},
      {npy_file(1, dict("<f4", "False", "(4294967296, 4294967296, 4294967296)"), f4), "overflows"},
      {npy_file(1, dict("<f4", "False", "(99999999999999999999,)"), f4), "fits int64"},
      {npy_file(1, dict("<f4", "Maybe", "(2,)"), f4), "True or False"},
      {npy_file(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4), "twice"},
      {npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", f4), "unknown key 'x'"},
      {npy_file(1, "{'descr': '<f4', 'shape': (2,)}", f4), "missing 'fortran_order'"},
      {npy_file(1, dict("<f4", "False", "(2,)") + " x", f4), "end of the header"},
      {npy_file(1, "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", f4), "',' or '}'"},
      {npy_file(1, "{'descr': '<\xe9', 'fortran_order': False, 'shape': (2,)}", f4), "non-ASCII"},
      {npy_file(1, "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,)}", f4), "without escapes"},
      {[&] {
         std::string s = npy_file(1, dict("<f4", "False", "(2,)"), f4);
         s[s.rfind('\n')] = ' ';  // the header's final '\n' (the data has none)
         return s;
       }(),
       "newline"},
      {"\x93NUMPZ\x01\x00", "magic"},
      {"\x93NUMPY", "magic"},
      {std::string("\x93NUMPY\x04\x00\x10\x00", 10), "version 4.0"},
      {std::string("\x93NUMPY\x01\x00\x10", 9), "inside the npy header length"},
      {std::string("\x93NUMPY\x01\x00\xff\xff{}\n", 13), "runs past the end"},
  };
  int i = 0;
  for (const auto& [contents, expected] : cases) {
    const fs::path file = dir / ("bad" + std::to_string(i++) + ".npy");
    write_all(file, contents);
    try {
      read_npy(file);
      ADD_FAILURE() << file << " accepted; expected " << expected;
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind(file.string() + ": ", 0), 0u) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      EXPECT_NE(what.find(expected), std::string::npos) << "expected '" << expected << "' in: " << what;
    }
  }
}

TEST(Npy, WriteRejectsUnsupportedAndKeepsExistingFile) {
  const fs::path dir = test_dir();
  const fs::path file = dir / "x.npy";
  const auto data = pattern(8, 3);
  const int64_t shape[] = {2};
  write_npy(file, DType::kF32, shape, data);
  const std::string before = read_all(file);
  EXPECT_THROW(write_npy(file, DType::kBF16, std::vector<int64_t>{4}, data), InputError);
  EXPECT_THROW(write_npy(file, DType::kF32, std::vector<int64_t>{3}, data), InputError);
  EXPECT_THROW(write_npy(file, DType::kF32, std::vector<int64_t>{-2}, data), InputError);
  EXPECT_EQ(read_all(file), before);
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.path().filename() == "x.npy" ? 1 : 100;
  EXPECT_EQ(entries, 1);
}

}  // namespace
}  // namespace ct::io
