// Safetensors reader/writer: round trips over every dtype, layout (alignment, padding), files from an
// independent (hand-written) writer, and the atomic-write guarantees.
#include <gtest/gtest.h>

#include "support/test_dir.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"

namespace ct::io {
namespace {
namespace fs = std::filesystem;

using ct::testing::test_dir;

std::vector<std::byte> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}

void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// Bytes 0, 1, 2, ... shifted by `seed`, so every tensor's content is distinct.
std::vector<std::byte> pattern(std::size_t n, int seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 7 + seed * 31) & 0xff);
  return v;
}

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

constexpr DType kAllDTypes[] = {DType::kBool, DType::kU8,  DType::kI8,  DType::kF8E5M2, DType::kF8E4M3,
                                DType::kI16,  DType::kU16, DType::kF16, DType::kBF16,   DType::kI32,
                                DType::kU32,  DType::kF32, DType::kF64, DType::kI64,    DType::kU64};

fs::path only_entry(const fs::path& dir) {
  std::vector<fs::path> all;
  for (const auto& e : fs::directory_iterator(dir)) all.push_back(e.path().filename());
  EXPECT_EQ(all.size(), 1u);
  return all.empty() ? fs::path() : all[0];
}

TEST(Safetensors, RoundTripEveryDtypeScalarZeroSizeAndMetadata) {
  const fs::path file = test_dir() / "all.safetensors";
  std::vector<std::vector<std::byte>> buffers;
  std::vector<TensorToWrite> tensors;
  int seed = 0;
  for (DType t : kAllDTypes) {
    const std::vector<int64_t> shape{2, 3};                                     // [2, 3]
    buffers.push_back(pattern(6 * dtype_size(t), seed++));
    tensors.push_back({"t." + std::string(dtype_name(t)), t, shape, buffers.back()});
    buffers.push_back(pattern(dtype_size(t), seed++));                          // scalar: []
    tensors.push_back({"scalar." + std::string(dtype_name(t)), t, {}, buffers.back()});
    tensors.push_back({"empty." + std::string(dtype_name(t)), t, {0, 5}, {}});  // [0, 5]
  }
  const std::map<std::string, std::string> metadata{{"format", "pt"}, {"note", "üñí \"quoted\"\n"}};
  write_safetensors(file, tensors, metadata);

  TensorStore store;
  store.metadata["kept"] = "yes";
  read_safetensors(file, store);
  ASSERT_EQ(store.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorEntry& e = store.entries()[i];  // file order == the order given
    EXPECT_EQ(e.name, tensors[i].name);
    EXPECT_EQ(e.dtype, tensors[i].dtype);
    EXPECT_EQ(e.shape, tensors[i].shape);
    EXPECT_TRUE(same_bytes(e.data, tensors[i].data)) << e.name;
    EXPECT_EQ(e.file, file.string());
  }
  EXPECT_EQ(store.entries()[1].numel(), 1);
  EXPECT_EQ(store.metadata.at("format"), "pt");
  EXPECT_EQ(store.metadata.at("note"), metadata.at("note"));
  EXPECT_EQ(store.metadata.at("kept"), "yes");
}

TEST(Safetensors, AlignedLayoutPadsTensorsTo64BytesAndHeaderWithSpaces) {
  const fs::path file = test_dir() / "aligned.safetensors";
  const auto a = pattern(3, 1), b = pattern(10 * 2, 2), c = pattern(7 * 4, 3);
  const TensorToWrite tensors[] = {{"a", DType::kU8, {3}, a}, {"b", DType::kF16, {10}, b}, {"c", DType::kF32, {7}, c}};
  write_safetensors(file, tensors, {}, SafetensorsWriteOptions{.tensor_alignment = 64});

  const auto bytes = read_all(file);
  const SafetensorsHeader h = parse_safetensors_header(bytes, file.string());
  EXPECT_EQ(h.data_offset % 64, 0u);
  // The padding is spaces (the format's convention), right before the data area.
  EXPECT_EQ(static_cast<char>(bytes[h.data_offset - 1]), ' ');
  ASSERT_EQ(h.tensors.size(), 3u);
  for (const auto& t : h.tensors) EXPECT_EQ(t.begin % 64, 0u) << t.name;
  EXPECT_EQ(h.tensors[1].begin, 64u);
  EXPECT_EQ(h.tensors[2].begin, 128u);
  // The gaps are zero bytes.
  for (uint64_t i = h.tensors[0].end; i < h.tensors[1].begin; ++i) EXPECT_EQ(bytes[h.data_offset + i], std::byte{0});

  TensorStore store;
  read_safetensors(file, store);
  for (const auto& e : store.entries()) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(e.data.data()) % 64, 0u) << e.name;
  }
}

// The default: back to back, as the Hugging Face reader requires.
TEST(Safetensors, DefaultLayoutLeavesNoGaps) {
  const fs::path file = test_dir() / "contiguous.safetensors";
  const auto a = pattern(3, 1), b = pattern(5 * 4, 2);
  const TensorToWrite tensors[] = {{"a", DType::kI8, {3}, a}, {"b", DType::kI32, {5}, b}};
  write_safetensors(file, tensors);
  const auto bytes = read_all(file);
  const SafetensorsHeader h = parse_safetensors_header(bytes, file.string());
  EXPECT_EQ(h.data_offset % 8, 0u);
  EXPECT_EQ(h.tensors[0].begin, 0u);
  EXPECT_EQ(h.tensors[1].begin, 3u);
  EXPECT_EQ(h.data_offset + h.tensors[1].end, bytes.size());  // the data area is exactly covered
  EXPECT_THROW(write_safetensors(file, tensors, {}, SafetensorsWriteOptions{.tensor_alignment = 3}), InputError);
}

// A file written byte by byte here, as another implementation would: compact JSON in a different key
// order, metadata last, space padding, tensors back to back, values checked against hand-computed bytes.
TEST(Safetensors, ReadsFileFromIndependentWriter) {
  const fs::path file = test_dir() / "hand.safetensors";
  std::string json =
      "{\"w\":{\"shape\":[2],\"dtype\":\"F32\",\"data_offsets\":[0,8]},"
      " \"ids\" : { \"data_offsets\" : [8, 24], \"dtype\" : \"I64\", \"shape\" : [2] },"
      "\"__metadata__\":{\"format\":\"pt\"}}";
  json.resize((json.size() + 7) / 8 * 8, ' ');
  std::string data;
  data += std::string("\x00\x00\x80\x3f", 4);                  // 1.0f
  data += std::string("\x00\x00\x00\xc0", 4);                  // -2.0f
  data += std::string("\x05\x00\x00\x00\x00\x00\x00\x00", 8);  // 5
  data += std::string("\xff\xff\xff\xff\xff\xff\xff\xff", 8);  // -1
  write_all(file, u64_le(json.size()) + json + data);

  TensorStore store;
  read_safetensors(file, store);
  ASSERT_EQ(store.size(), 2u);
  EXPECT_EQ(store.entries()[0].name, "w");  // header order, not sorted
  EXPECT_EQ(store.entries()[1].name, "ids");
  float w[2];
  std::memcpy(w, store.at("w").data.data(), 8);
  EXPECT_EQ(w[0], 1.0f);
  EXPECT_EQ(w[1], -2.0f);
  int64_t ids[2];
  ASSERT_EQ(store.at("ids").dtype, DType::kI64);
  std::memcpy(ids, store.at("ids").data.data(), 16);
  EXPECT_EQ(ids[0], 5);
  EXPECT_EQ(ids[1], -1);
  EXPECT_EQ(store.metadata.at("format"), "pt");
}

TEST(Safetensors, AcceptsEmptyHeaderAndTrailingDataGaps) {
  const fs::path dir = test_dir();
  write_all(dir / "empty.safetensors", u64_le(8) + "{}      ");
  TensorStore store;
  read_safetensors(dir / "empty.safetensors", store);
  EXPECT_EQ(store.size(), 0u);
  // Zero-size tensors at the same offset never overlap, even at the very end of the data area.
  const std::string json = "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]},"
                           "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                           "\"c\":{\"dtype\":\"F16\",\"shape\":[0,3],\"data_offsets\":[2,2]}}";
  write_all(dir / "zero.safetensors", u64_le(json.size()) + json + "xy");
  TensorStore zero;
  read_safetensors(dir / "zero.safetensors", zero);
  EXPECT_EQ(zero.size(), 3u);
  EXPECT_EQ(zero.at("b").data.size(), 2u);
}

TEST(Safetensors, WriteRejectsDuplicatesAndSizeMismatch) {
  const fs::path dir = test_dir();
  const auto a = pattern(8, 0);
  const TensorToWrite dup[] = {{"a", DType::kF32, {2}, a}, {"a", DType::kF32, {2}, a}};
  EXPECT_THROW(write_safetensors(dir / "dup.safetensors", dup), InputError);
  const TensorToWrite reserved[] = {{"__metadata__", DType::kF32, {2}, a}};
  EXPECT_THROW(write_safetensors(dir / "reserved.safetensors", reserved), InputError);
  const TensorToWrite negative[] = {{"a", DType::kF32, {-2}, a}};
  EXPECT_THROW(write_safetensors(dir / "negative.safetensors", negative), InputError);
  const TensorToWrite bad_utf8[] = {{"\xff", DType::kF32, {2}, a}};
  EXPECT_THROW(write_safetensors(dir / "utf8.safetensors", bad_utf8), InputError);
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(Safetensors, FailedWriteLeavesExistingFileIntactAndNoTempFile) {
  const fs::path dir = test_dir();
  const fs::path file = dir / "model.safetensors";
  const auto good = pattern(16, 4);
  const TensorToWrite ok[] = {{"x", DType::kF32, {4}, good}};
  write_safetensors(file, ok);
  const auto before = read_all(file);

  const TensorToWrite mismatched[] = {{"x", DType::kF32, {4}, good}, {"y", DType::kF32, {5}, good}};
  try {
    write_safetensors(file, mismatched);
    FAIL() << "a size mismatch must throw";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'y'"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(same_bytes(read_all(file), before));
  EXPECT_EQ(only_entry(dir), "model.safetensors");
}

TEST(SafetensorsAtomicFile, BodyFailureMidWriteRemovesTempFileAndKeepsTarget) {
  const fs::path dir = test_dir();
  const fs::path file = dir / "out.bin";
  write_all(file, "old contents");
  EXPECT_THROW(write_file_atomically(file,
                                     [&](std::FILE* f) {
                                       write_bytes(f, "new partial", 11, file);
                                       // The temp file exists now, next to the target.
                                       EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
                                       throw RuntimeFailure("simulated failure");
                                     }),
               RuntimeFailure);
  std::ifstream in(file);
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(contents, "old contents");
  EXPECT_EQ(only_entry(dir), "out.bin");
}

TEST(SafetensorsAtomicFile, ReplacesTargetAndReportsIoFailure) {
  const fs::path dir = test_dir();
  const fs::path file = dir / "out.bin";
  write_all(file, "old");
  write_file_atomically(file, [&](std::FILE* f) { write_bytes(f, "new", 3, file); });
  std::ifstream in(file);
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(contents, "new");
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::owner_read, fs::perms::owner_read);
  // A directory that does not exist: a RuntimeFailure naming the target, not a crash.
  try {
    write_file_atomically(dir / "missing" / "x.bin", [](std::FILE*) {});
    FAIL() << "must throw";
  } catch (const RuntimeFailure& e) {
    EXPECT_NE(std::string(e.what()).find("missing/x.bin"), std::string::npos) << e.what();
  }
  // /dev/full accepts the open but fails every write: fflush/fsync must surface it.
  const fs::path full = "/dev/full";
  if (fs::exists(full)) {
    std::FILE* f = std::fopen(full.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::setvbuf(f, nullptr, _IONBF, 0);
    EXPECT_THROW(write_bytes(f, "x", 1, full), RuntimeFailure);
    std::fclose(f);
  }
}

}  // namespace
}  // namespace ct::io
