// SafetensorsStreamWriter: files streamed in chunks are byte-identical to write_safetensors' output
// (both layouts) and read back with the validating reader; misuse (too many bytes, finish() early)
// and abandoned writers leave no temporary file and an existing target untouched.
#include <gtest/gtest.h>

#include "support/test_dir.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"

namespace ct::io {
namespace {
namespace fs = std::filesystem;

using ct::testing::test_dir;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::byte> pattern(std::size_t n, int seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 13 + seed * 29) & 0xff);
  return v;
}

std::vector<fs::path> entries(const fs::path& dir) {
  std::vector<fs::path> all;
  for (const auto& e : fs::directory_iterator(dir)) all.push_back(e.path().filename());
  return all;
}

TEST(SafetensorsStream, ChunkedStreamEqualsWholeWriteAndReadsBack) {
  const fs::path dir = test_dir();
  // Odd sizes, a zero-size tensor in the middle and at the end, a scalar.
  const std::vector<SafetensorsTensorDecl> decls = {{"a", DType::kF32, {3, 5}},
                                                    {"empty", DType::kBF16, {0, 7}},
                                                    {"b", DType::kBF16, {11}},
                                                    {"s", DType::kF64, {}},
                                                    {"c", DType::kU8, {1000}},
                                                    {"z", DType::kI32, {0}}};
  const std::vector<std::size_t> bytes = {60, 0, 22, 8, 1000, 0};
  std::vector<std::vector<std::byte>> data;
  for (std::size_t i = 0; i < decls.size(); ++i) data.push_back(pattern(bytes[i], static_cast<int>(i)));
  const std::map<std::string, std::string> meta = {{"format", "pt"}};
  for (uint64_t align : {uint64_t{1}, uint64_t{64}}) {
    const SafetensorsWriteOptions opt{align};
    std::vector<TensorToWrite> whole;
    for (std::size_t i = 0; i < decls.size(); ++i) whole.push_back({decls[i].name, decls[i].dtype, decls[i].shape, data[i]});
    const fs::path ref = dir / ("ref" + std::to_string(align) + ".safetensors");
    const fs::path out = dir / ("stream" + std::to_string(align) + ".safetensors");
    write_safetensors(ref, whole, meta, opt);
    {
      SafetensorsStreamWriter w(out, decls, meta, opt);
      for (std::size_t i = 0; i < decls.size(); ++i) {
        EXPECT_EQ(w.current(), i == 1 || i == 5 ? i + 1 : i);  // empty tensors are skipped at once
        // Chunks of 7 bytes (crossing no tensor boundary).
        for (std::size_t k = 0; k < data[i].size(); k += 7)
          w.write(std::span<const std::byte>(data[i]).subspan(k, std::min<std::size_t>(7, data[i].size() - k)));
      }
      EXPECT_EQ(w.current(), decls.size());
      EXPECT_FALSE(fs::exists(out));  // nothing at the target before finish()
      w.finish();
    }
    EXPECT_EQ(read_all(out), read_all(ref)) << "align " << align;
    TensorStore store;
    read_safetensors(out, store);
    ASSERT_EQ(store.size(), decls.size());
  }
  EXPECT_EQ(entries(dir).size(), 4u);  // no temporary files
}

TEST(SafetensorsStream, MisuseAndAbandonLeaveTargetAndNoTempFile) {
  const fs::path dir = test_dir();
  const fs::path file = dir / "m.safetensors";
  const auto old = pattern(16, 3);
  write_safetensors(file, std::vector<TensorToWrite>{{"x", DType::kF32, {4}, old}});
  const std::string before = read_all(file);
  const std::vector<SafetensorsTensorDecl> decls = {{"x", DType::kF32, {2}}, {"y", DType::kF32, {1}}};
  const auto eight = pattern(8, 1), twelve = pattern(12, 2);
  {  // a chunk longer than the current tensor
    SafetensorsStreamWriter w(file, decls);
    EXPECT_EQ(entries(dir).size(), 2u);  // the temp file exists while writing
    EXPECT_THROW(w.write(std::span<const std::byte>(twelve)), InputError);
    EXPECT_THROW(w.finish(), InputError);  // unusable after a failure
  }
  {  // finish() before the last tensor
    SafetensorsStreamWriter w(file, decls);
    w.write(std::span<const std::byte>(eight));
    try {
      w.finish();
      FAIL() << "finish() with a missing tensor must throw";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("'y'"), std::string::npos) << e.what();
    }
  }
  {  // abandoned by an exception mid-stream
    try {
      SafetensorsStreamWriter w(file, decls);
      w.write(std::span<const std::byte>(eight));
      throw RuntimeFailure("simulated failure while producing tensor y");
    } catch (const RuntimeFailure&) {
    }
  }
  {  // bytes after the last tensor
    SafetensorsStreamWriter w(file, decls);
    w.write(std::span<const std::byte>(eight));
    w.write(std::span<const std::byte>(eight).first(4));
    EXPECT_THROW(w.write(std::span<const std::byte>(eight).first(1)), InputError);
  }
  // Bad declarations throw before any file is created.
  EXPECT_THROW(SafetensorsStreamWriter(dir / "dup.safetensors", {{"a", DType::kF32, {1}}, {"a", DType::kF32, {1}}}),
               InputError);
  EXPECT_THROW(SafetensorsStreamWriter(dir / "neg.safetensors", {{"a", DType::kF32, {-1}}}), InputError);
  EXPECT_EQ(read_all(file), before);
  ASSERT_EQ(entries(dir).size(), 1u);
  EXPECT_EQ(entries(dir)[0], "m.safetensors");
  // A missing directory: RuntimeFailure naming the target.
  EXPECT_THROW(SafetensorsStreamWriter(dir / "missing" / "x.safetensors", decls), RuntimeFailure);
}

}  // namespace
}  // namespace ct::io
