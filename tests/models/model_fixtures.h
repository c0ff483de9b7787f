// Test helpers for the model tests: the tiny fixtures (tools/make_fixtures.py) and the PyTorch
// reference dumps (tools/torch_reference.py), both produced by Debian's /usr/bin/python3.
//
// fixtures_dir(): CROSSTRACE_FIXTURES when CTest's make_fixtures step has filled it, else a
// per-process directory under CROSSTRACE_TEST_TMP generated on first use (tests run as parallel
// processes, so nothing is shared half-written). torch_reference(name): runs the reference for one
// fixture into a per-process directory and returns the dump's path. Both fail the test (ADD_FAILURE
// and an empty path) when the script fails.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace ct::testing {

inline std::filesystem::path fixtures_dir() {
  namespace fs = std::filesystem;
  static const fs::path dir = [] {
    const fs::path shared(CROSSTRACE_FIXTURES);
    if (fs::exists(shared / "manifest.json")) return shared;
    const fs::path own = fs::path(CROSSTRACE_TEST_TMP) / ("fixtures_" + std::to_string(::getpid()));
    fs::create_directories(own);
    const std::string cmd = "/usr/bin/python3 " CROSSTRACE_SOURCE_DIR "/tools/make_fixtures.py --out '" +
                            own.string() + "' > /dev/null";
    if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "make_fixtures.py failed: " << cmd;
    return own;
  }();
  return dir;
}

inline std::filesystem::path torch_reference(const std::string& fixture) {
  namespace fs = std::filesystem;
  const fs::path out = fs::path(CROSSTRACE_TEST_TMP) / ("torch_ref_" + std::to_string(::getpid()));
  fs::create_directories(out);
  const std::string cmd = "/usr/bin/python3 " CROSSTRACE_SOURCE_DIR "/tools/torch_reference.py --fixtures '" +
                          fixtures_dir().string() + "' --out '" + out.string() + "' --models " + fixture +
                          " > /dev/null";
  if (std::system(cmd.c_str()) != 0) {
    ADD_FAILURE() << "torch_reference.py failed: " << cmd;
    return {};
  }
  return out / (fixture + ".safetensors");
}

}  // namespace ct::testing
