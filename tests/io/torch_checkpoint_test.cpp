// Tests of read_torch_checkpoint against files written by real torch.save (Debian python3-torch):
// good files must load with exactly the names, dtypes, shapes and values the script recorded;
// malformed and malicious files must throw a one-line InputError naming the file, and no payload
// may ever run (the marker files it would create must not appear).
#include <gtest/gtest.h>
#include <unistd.h>
#include <sys/wait.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/torch_checkpoint.h"

namespace fs = std::filesystem;
using ct::io::DType;

namespace {

// One directory per process: ctest runs each test case as its own process, in parallel.
const fs::path kOut = fs::path(CROSSTRACE_TEST_TMP) / "torch_files" / std::to_string(::getpid());

// Runs the generator once per test binary run.
const nlohmann::json& manifest() {
  static const nlohmann::json m = [] {
    fs::create_directories(kOut);
    const std::string cmd = "/usr/bin/python3 " CROSSTRACE_SOURCE_DIR "/tools/make_torch_test_files.py " + kOut.string();
    const int rc = std::system(cmd.c_str());
    if (rc != 0) return nlohmann::json();
    std::ifstream in(kOut / "manifest.json");
    return nlohmann::json::parse(in);
  }();
  return m;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31) v = mant ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

template <typename T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

double element(const ct::io::TensorEntry& e, int64_t i) {
  const std::byte* p = e.data.data() + i * static_cast<int64_t>(ct::io::dtype_size(e.dtype));
  switch (e.dtype) {
    case DType::kF32: return load<float>(p);
    case DType::kF64: return load<double>(p);
    case DType::kF16: return half_to_float(load<uint16_t>(p));
    case DType::kBF16: {
      const uint32_t bits = static_cast<uint32_t>(load<uint16_t>(p)) << 16;
      return std::bit_cast<float>(bits);
    }
    case DType::kI64: return static_cast<double>(load<int64_t>(p));
    case DType::kI32: return load<int32_t>(p);
    case DType::kI16: return load<int16_t>(p);
    case DType::kI8: return load<int8_t>(p);
    case DType::kU8: return load<uint8_t>(p);
    case DType::kBool: return load<uint8_t>(p);
    default: ADD_FAILURE() << "unexpected dtype"; return 0;
  }
}

// Runs `cmd` through the shell; returns its exit status (or -1).
int run_status(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return (rc != -1 && WIFEXITED(rc)) ? WEXITSTATUS(rc) : -1;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(TorchCheckpoint, GeneratorWroteEnoughFiles) {
  const auto& m = manifest();
  ASSERT_FALSE(m.is_null()) << "tools/make_torch_test_files.py failed";
  EXPECT_GE(m["good"].size(), 8u);
  EXPECT_GE(m["bad"].size(), 14u);
}

TEST(TorchCheckpoint, GoodFilesLoadExactly) {
  const auto& m = manifest();
  ASSERT_FALSE(m.is_null());
  for (const auto& file : m["good"]) {
    const std::string path = file["file"];
    SCOPED_TRACE(path);
    ct::io::TensorStore store(path);
    ASSERT_NO_THROW(ct::io::read_torch_checkpoint(path, store));
    ASSERT_EQ(store.size(), file["tensors"].size());
    std::size_t k = 0;
    for (const auto& t : file["tensors"]) {
      const auto& e = store.entries()[k++];
      SCOPED_TRACE(e.name);
      EXPECT_EQ(e.name, t["name"].get<std::string>());  // file order is preserved
      EXPECT_EQ(ct::io::dtype_name(e.dtype), t["dtype"].get<std::string>());
      EXPECT_EQ(e.shape, t["shape"].get<std::vector<int64_t>>());
      EXPECT_EQ(e.file, path);
      const auto values = t["values"].get<std::vector<double>>();
      ASSERT_EQ(static_cast<std::size_t>(e.numel()), values.size());
      ASSERT_EQ(e.data.size(), values.size() * ct::io::dtype_size(e.dtype));
      for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(element(e, static_cast<int64_t>(i)), values[i]) << "element " << i;
    }
  }
}

TEST(TorchCheckpoint, TiedWeightsShareOneStorage) {
  ASSERT_FALSE(manifest().is_null());
  ct::io::TensorStore store;
  ct::io::read_torch_checkpoint(kOut / "good" / "plain.pth", store);
  const auto& a = store.at("tied_a");
  const auto& b = store.at("tied_b");
  const auto& row = store.at("tied_row");
  EXPECT_EQ(a.data.data(), b.data.data());                    // zero-copy views of one entry
  EXPECT_EQ(row.data.data(), a.data.data() + 2 * sizeof(float));  // storage offset 2
  EXPECT_EQ(row.shape, (std::vector<int64_t>{2}));
}

TEST(TorchCheckpoint, OpenCheckpointSetsFormat) {
  ASSERT_FALSE(manifest().is_null());
  const auto store = ct::io::open_checkpoint(kOut / "good" / "model_epoch.pth");
  EXPECT_EQ(store.format, "pytorch-zip");
  EXPECT_EQ(store.size(), 2u);
}

TEST(TorchCheckpoint, BadFilesThrowOneLineInputErrorNamingTheFile) {
  const auto& m = manifest();
  ASSERT_FALSE(m.is_null());
  for (const auto& file : m["bad"]) {
    const std::string path = file["file"];
    SCOPED_TRACE(path);
    ct::io::TensorStore store(path);
    try {
      ct::io::read_torch_checkpoint(path, store);
      ADD_FAILURE() << "loaded without an error";
    } catch (const ct::InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      EXPECT_NE(what.find(file["expect"].get<std::string>()), std::string::npos) << what;
    }
    EXPECT_EQ(store.size(), 0u);  // nothing half-loaded
  }
}

TEST(TorchCheckpoint, EvilPayloadsNeverRun) {
  const auto& m = manifest();
  ASSERT_FALSE(m.is_null());
  int evil = 0;
  for (const auto& file : m["bad"]) {
    if (file["marker"].is_null()) continue;
    ++evil;
    const std::string path = file["file"];
    const fs::path marker = file["marker"].get<std::string>();
    fs::remove(marker);
    ct::io::TensorStore store;
    EXPECT_THROW(ct::io::read_torch_checkpoint(path, store), ct::InputError) << path;
    EXPECT_FALSE(fs::exists(marker)) << path << " ran its payload";
  }
  EXPECT_GE(evil, 10);
}

// The payloads are real: Python's own unpickler, run in a scratch directory, does create the
// marker. This guards the test above against payloads that could never have fired.
TEST(TorchCheckpoint, EvilPayloadWouldRunUnderRealPickle) {
  ASSERT_FALSE(manifest().is_null());
  const fs::path scratch = kOut / "real_pickle";
  fs::create_directories(scratch);
  const fs::path evil = kOut / "bad" / "evil_os_system.pth";
  const fs::path marker = kOut / "markers" / "evil_os_system.pth.marker";
  fs::remove(marker);
  const std::string cmd = "cd '" + scratch.string() +
                          "' && /usr/bin/python3 -c \"import pickle,sys,zipfile; "
                          "pickle.loads(zipfile.ZipFile(sys.argv[1]).read('archive/data.pkl'))\" '" +
                          evil.string() + "' >/dev/null 2>&1";
  EXPECT_EQ(run_status(cmd), 0);
  EXPECT_TRUE(fs::exists(marker));
  fs::remove(marker);
}

TEST(TorchCheckpoint, CheckPickleCountsTensors) {
  ASSERT_FALSE(manifest().is_null());
  const fs::path seed = fs::path(CROSSTRACE_SOURCE_DIR) / "fuzz" / "seeds" / "pickle" / "tiny_p2.pkl";
  if (!fs::exists(seed)) GTEST_SKIP() << "no seed " << seed;
  const std::string bytes = read_text(seed);
  const auto span = std::as_bytes(std::span<const char>(bytes.data(), bytes.size()));
  EXPECT_EQ(ct::io::check_pickle(span, seed.string()), 3u);  // w, b, and t tied to w
}

TEST(TorchCheckpoint, CliRejectsBadFilesWithStatus2) {
  if (!fs::exists(CROSSTRACE_BINARY)) GTEST_SKIP() << "no crosstrace binary at " << CROSSTRACE_BINARY;
  const auto& m = manifest();
  ASSERT_FALSE(m.is_null());
  const fs::path err = kOut / "cli_stderr.txt";
  for (const auto& file : m["bad"]) {
    const std::string path = file["file"];
    SCOPED_TRACE(path);
    const int status = run_status(std::string("'") + CROSSTRACE_BINARY + "' inspect '" + path + "' >/dev/null 2>'" + err.string() + "'");
    EXPECT_EQ(status, 2);
    std::string text = read_text(err);
    ASSERT_FALSE(text.empty());
    if (text.back() == '\n') text.pop_back();
    EXPECT_EQ(text.find('\n'), std::string::npos) << text;
    EXPECT_NE(text.find(path), std::string::npos) << text;
  }
}
