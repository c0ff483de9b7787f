// A corpus of malformed safetensors files, generated here at test time, and the two promises about
// each: the library throws a one-line InputError naming the file (and the expected problem), and
// the CLI (`crosstrace inspect FILE`) exits with status 2 and a one-line stderr naming the file.
//
// The corpus is left in CROSSTRACE_TEST_TMP/malformed_safetensors/ (or $CROSSTRACE_MALFORMED_OUT)
// with a MANIFEST.tsv (file name, expected message fragment) for separate checkers.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

#include <unistd.h>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"

namespace ct::io {
namespace {
namespace fs = std::filesystem;

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// A file whose header is `json` (length prefixed, unpadded) followed by `data`.
std::string file_with(const std::string& json, const std::string& data = std::string(64, '\x01')) {
  return u64_le(json.size()) + json + data;
}

// One F32 tensor entry: {"dtype":..., "shape":..., "data_offsets":...} with the given JSON parts.
std::string entry(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return "{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

const std::string kValidJson = "{\"a\":" + entry("\"F32\"", "[2,2]", "[0,16]") + ",\"b\":" +
                               entry("\"I8\"", "[3]", "[16,19]") + "}";
const std::string kValidFile = file_with(kValidJson, std::string(19, '\x02'));

struct MalformedCase {
  std::string name;      // file stem
  std::string bytes;     // file contents
  std::string expected;  // fragment the message must contain (the check that fired)
};

std::vector<MalformedCase> make_corpus() {
  const std::string big_dim = "18446744073709551615";  // 2^64 - 1
  std::vector<MalformedCase> c = {
      {"empty_file", "", "shorter than the 8-byte"},
      {"truncated_in_length", kValidFile.substr(0, 5), "shorter than the 8-byte"},
      {"truncated_in_header", kValidFile.substr(0, 8 + kValidJson.size() / 2), "runs past the end"},
      {"truncated_just_before_data", kValidFile.substr(0, 8 + kValidJson.size() - 1), "runs past the end"},
      {"truncated_in_data", kValidFile.substr(0, kValidFile.size() - 5), "past the data area"},
      {"header_length_past_end", u64_le(kValidFile.size()) + kValidFile.substr(8), "runs past the end"},
      {"header_length_2pow63", u64_le((uint64_t{1} << 63) + 5) + kValidFile.substr(8), "runs past the end"},
      {"header_length_u64_max", u64_le(~uint64_t{0}) + kValidFile.substr(8), "runs past the end"},
      {"header_length_zero", u64_le(0) + kValidFile.substr(8), "not valid UTF-8 JSON"},
      {"offsets_outside_data", file_with("{\"a\":" + entry("\"F32\"", "[2]", "[60,68]") + "}"), "past the data area"},
      {"offsets_near_u64_max",
       file_with("{\"a\":" + entry("\"U8\"", "[4]", "[18446744073709551611," + big_dim + "]") + "}"),
       "past the data area"},
      {"overlapping_offsets",
       file_with("{\"a\":" + entry("\"F32\"", "[4]", "[0,16]") + ",\"b\":" + entry("\"F32\"", "[2]", "[8,16]") + "}"),
       "overlap"},
      {"begin_greater_than_end", file_with("{\"a\":" + entry("\"U8\"", "[0]", "[8,4]") + "}"), "begin 8 > end 4"},
      {"unknown_dtype", file_with("{\"a\":" + entry("\"F33\"", "[1]", "[0,4]") + "}"), "unknown dtype 'F33'"},
      {"dtype_lowercase", file_with("{\"a\":" + entry("\"f32\"", "[1]", "[0,4]") + "}"), "unknown dtype 'f32'"},
      {"dtype_not_string", file_with("{\"a\":" + entry("4", "[1]", "[0,4]") + "}"), "dtype must be a string"},
      {"shape_product_overflows_int64",
       file_with("{\"a\":" + entry("\"U8\"", "[4294967296,4294967296]", "[0,0]") + "}"), "overflows int64"},
      {"shape_bytes_overflow_u64",
       file_with("{\"a\":" + entry("\"F64\"", "[4611686018427387904]", "[0,0]") + "}"), "overflows u64"},
      {"shape_dim_above_int64", file_with("{\"a\":" + entry("\"U8\"", "[" + big_dim + "]", "[0,1]") + "}"),
       "larger than"},
      {"shape_dim_beyond_u64", file_with("{\"a\":" + entry("\"U8\"", "[18446744073709551616]", "[0,1]") + "}"),
       "non-negative integer"},
      {"negative_dim", file_with("{\"a\":" + entry("\"F32\"", "[-1,4]", "[0,16]") + "}"), "negative"},
      {"fractional_dim", file_with("{\"a\":" + entry("\"F32\"", "[2.5]", "[0,10]") + "}"), "non-negative integer"},
      {"shape_not_array", file_with("{\"a\":" + entry("\"F32\"", "4", "[0,16]") + "}"), "shape must be an array"},
      {"negative_offset", file_with("{\"a\":" + entry("\"U8\"", "[0]", "[-1,-1]") + "}"), "negative"},
      {"size_mismatch", file_with("{\"a\":" + entry("\"F32\"", "[2,3]", "[0,16]") + "}"), "need 24 bytes"},
      {"non_utf8_in_name", file_with("{\"a\xff\":" + entry("\"U8\"", "[1]", "[0,1]") + "}"), "not valid UTF-8 JSON"},
      {"overlong_utf8_in_metadata", file_with("{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}"), "not valid UTF-8 JSON"},
      {"lone_surrogate_escape", file_with("{\"__metadata__\":{\"k\":\"\\ud800\"}}"), "not valid UTF-8 JSON"},
      {"invalid_json", file_with("{\"a\":" + entry("\"U8\"", "[1]", "[0,1]")), "not valid UTF-8 JSON"},
      {"trailing_garbage", file_with("{} x"), "not valid UTF-8 JSON"},
      {"nul_then_garbage", file_with(std::string("{}\0{\"a\":1}", 10)), "NUL byte at header offset 2"},
      {"nul_padding", file_with(std::string("{}\0\0\0\0\0\0", 8)), "not valid UTF-8 JSON"},
      {"json_array_not_object", file_with("[1,2,3]"), "must be a JSON object, found array"},
      {"json_string_not_object", file_with("\"{}\""), "must be a JSON object, found string"},
      {"entry_not_object", file_with("{\"a\":[0,4]}"), "entry must be an object"},
      {"duplicate_tensor_names",
       file_with("{\"a\":" + entry("\"U8\"", "[1]", "[0,1]") + ",\"a\":" + entry("\"U8\"", "[1]", "[1,2]") + "}"),
       "duplicate key 'a'"},
      {"duplicate_key_in_entry",
       file_with("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"),
       "duplicate key 'dtype'"},
      {"duplicate_key_in_metadata", file_with("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"), "duplicate key 'k'"},
      {"duplicate_metadata", file_with("{\"__metadata__\":{},\"__metadata__\":{}}"), "duplicate key '__metadata__'"},
      {"missing_data_offsets", file_with("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}"), "missing \"data_offsets\""},
      {"missing_dtype", file_with("{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}"), "missing \"dtype\""},
      {"data_offsets_three_items", file_with("{\"a\":" + entry("\"U8\"", "[1]", "[0,1,2]") + "}"), "two integers"},
      {"data_offsets_not_array", file_with("{\"a\":" + entry("\"U8\"", "[1]", "{\"b\":0}") + "}"), "two integers"},
      {"metadata_not_strings", file_with("{\"__metadata__\":{\"epoch\":3}}"), "must be a string, found number"},
      {"metadata_not_object", file_with("{\"__metadata__\":[\"a\"]}"), "__metadata__ must be an object"},
      {"extra_unknown_key",
       file_with("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"offsets\":[0,1]}}"),
       "unknown key 'offsets'"},
      {"deep_nesting", file_with("{\"__metadata__\":" + std::string(40, '[') + std::string(40, ']') + "}"),
       "nests deeper"},
  };
  return c;
}

fs::path corpus_dir() {
  if (const char* out = std::getenv("CROSSTRACE_MALFORMED_OUT")) return out;
  // One directory per process: ctest runs every test case as its own process, in parallel.
  return fs::path(CROSSTRACE_TEST_TMP) / "malformed_safetensors" / std::to_string(::getpid());
}

// Writes the corpus once per test binary run and returns the cases.
const std::vector<MalformedCase>& corpus() {
  static const std::vector<MalformedCase> cases = [] {
    auto c = make_corpus();
    const fs::path dir = corpus_dir();
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream manifest(dir / "MANIFEST.tsv");
    for (const auto& m : c) {
      std::ofstream out(dir / (m.name + ".safetensors"), std::ios::binary);
      out.write(m.bytes.data(), static_cast<std::streamsize>(m.bytes.size()));
      manifest << m.name << ".safetensors\t" << m.expected << "\n";
    }
    return c;
  }();
  return cases;
}

fs::path case_path(const MalformedCase& m) { return corpus_dir() / (m.name + ".safetensors"); }

class MalformedSafetensors : public ::testing::TestWithParam<std::size_t> {
 protected:
  const MalformedCase& the_case() const { return corpus().at(GetParam()); }
};

TEST(MalformedSafetensorsCorpus, HasDistinctCasesAndTheValidBaseParses) {
  EXPECT_GE(corpus().size(), 18u);
  std::set<std::string> names, contents;
  for (const auto& m : corpus()) {
    EXPECT_TRUE(names.insert(m.name).second) << m.name;
    EXPECT_TRUE(contents.insert(m.bytes).second) << m.name;
  }
  // The base that the truncations cut must itself be valid, or those cases prove nothing.
  const auto* p = reinterpret_cast<const std::byte*>(kValidFile.data());
  EXPECT_EQ(parse_safetensors_header({p, kValidFile.size()}, "valid").tensors.size(), 2u);
}

TEST_P(MalformedSafetensors, LibraryThrowsOneLineInputErrorNamingTheFile) {
  const MalformedCase& m = the_case();
  const fs::path path = case_path(m);
  TensorStore store;
  try {
    read_safetensors(path, store);
    FAIL() << m.name << " was accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(path.string() + ": ", 0), 0u) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_NE(what.find(m.expected), std::string::npos) << "expected '" << m.expected << "' in: " << what;
  }
  // The in-memory entry point agrees.
  const auto* p = reinterpret_cast<const std::byte*>(m.bytes.data());
  EXPECT_THROW(parse_safetensors_header({p, m.bytes.size()}, m.name), InputError);
}

TEST_P(MalformedSafetensors, CliExitsWithStatus2AndOneLineNamingTheFile) {
  if (!fs::exists(CROSSTRACE_BINARY)) GTEST_SKIP() << "no CLI binary at " << CROSSTRACE_BINARY;
  const MalformedCase& m = the_case();
  const fs::path path = case_path(m);
  const fs::path err = corpus_dir() / (m.name + ".stderr");
  const std::string cmd = "'" + std::string(CROSSTRACE_BINARY) + "' inspect '" + path.string() + "' >/dev/null 2>'" +
                          err.string() + "'";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << cmd;
  EXPECT_EQ(WEXITSTATUS(status), 2) << cmd;
  std::ifstream in(err);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(err);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.find('\n'), text.size() - 1) << "stderr is not one line: " << text;
  EXPECT_NE(text.find(path.string()), std::string::npos) << text;
}

std::string case_name(const ::testing::TestParamInfo<std::size_t>& info) { return corpus().at(info.param).name; }

INSTANTIATE_TEST_SUITE_P(Malformed, MalformedSafetensors, ::testing::Range<std::size_t>(0, make_corpus().size()),
                         case_name);

}  // namespace
}  // namespace ct::io
