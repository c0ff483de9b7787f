// Test file helpers (slurp, dir_bytes). test_dir(): a fresh, empty directory per test case: CROSSTRACE_TEST_TMP/<suite>.<test>. ctest runs each case
// as its own process, so per-case names keep parallel runs apart.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace ct::testing {

inline std::filesystem::path test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path dir =
      std::filesystem::path(CROSSTRACE_TEST_TMP) / (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The whole file as bytes ("" when it cannot be read), to compare outputs byte for byte.
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Every file of a directory (name -> bytes), to compare stores byte for byte.
inline std::map<std::string, std::string> dir_bytes(const std::filesystem::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out[e.path().filename().string()] = slurp(e.path());
  return out;
}

}  // namespace ct::testing
