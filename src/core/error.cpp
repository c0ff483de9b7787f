#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace ct {
namespace {

// One line: a message is printed after "crosstrace: error:", so it must not break the line.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

}  // namespace

InputError::InputError(const std::string& where, const std::string& problem)
    : Error(one_line(where) + ": " + one_line(problem)), where_(one_line(where)), problem_(one_line(problem)) {}

void check_failed(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "crosstrace: internal error: CHECK(%s) failed at %s:%d%s%s\n", expr, file, line,
               msg.empty() ? "" : ": ", msg.c_str());
  std::abort();
}

}  // namespace ct
