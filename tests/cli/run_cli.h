// Runs the crosstrace binary from a test and captures its exit status, stdout and stderr.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace ct::testing {

struct CliResult {
  int status = -1;
  std::string out, err;
};

// `args` is appended to the binary's path as a shell command line (quote paths yourself).
inline CliResult run_cli(const std::string& args) {
  // Per process and call: ctest runs test cases as parallel processes.
  static int calls = 0;
  const auto dir = std::filesystem::path(CROSSTRACE_TEST_TMP) / "cli_capture" /
                   (std::to_string(::getpid()) + "_" + std::to_string(calls++));
  std::filesystem::create_directories(dir);
  const auto out = dir / "stdout", err = dir / "stderr";
  const std::string cmd = std::string("'") + CROSSTRACE_BINARY + "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int raw = std::system(cmd.c_str());
  CliResult r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + (WIFSIGNALED(raw) ? WTERMSIG(raw) : 0);
  std::stringstream o, e;
  o << std::ifstream(out).rdbuf();
  e << std::ifstream(err).rdbuf();
  r.out = o.str();
  r.err = e.str();
  std::filesystem::remove_all(dir);
  return r;
}

inline std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// Exactly one line, ending in a newline.
inline bool is_one_line(const std::string& s) {
  return !s.empty() && s.back() == '\n' && s.find('\n') == s.size() - 1;
}

}  // namespace ct::testing
