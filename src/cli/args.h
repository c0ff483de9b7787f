// Command-line parsing shared by the subcommands: positional arguments, `--name value` options,
// and flags. Every subcommand accepts --json and --threads N (CONTRACTS.md section 1).
//
// Failure: InputError("<argument>", "...") for an unknown option, a missing value, a bad number or
// a wrong count of positional arguments; the CLI turns it into exit status 2.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace ct::cli {

struct ArgSpec {
  std::set<std::string> options;  // take a value: "--out", ...
  std::set<std::string> flags;    // take none: "--force", ...
  int min_positional = 0;
  int max_positional = 0;         // -1: unbounded
  std::string usage;              // shown in messages
};

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  std::set<std::string> flags;
  bool json = false;
  int threads = 0;  // 0: all hardware threads

  bool has(const std::string& flag) const { return flags.count(flag) > 0; }
  std::string get(const std::string& option, const std::string& fallback = "") const;
};

// Parses argv[first..argc) against `spec`.
Args parse_args(int argc, char** argv, int first, const ArgSpec& spec);

}  // namespace ct::cli
