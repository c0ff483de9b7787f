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

// Built with append (not operator+) to stay clear of GCC 12's false -Wrestrict on string concatenation.
std::string join_message(const std::string& where, const std::string& problem) {
  std::string m;
  m.reserve(where.size() + problem.size() + 2);
  m.append(one_line(where)).append(": ").append(one_line(problem));
  return m;
}

}  // namespace

InputError::InputError(const std::string& where, const std::string& problem)
    : Error(join_message(where, problem)), where_(one_line(where)), problem_(one_line(problem)) {}

void check_failed(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "crosstrace: internal error: CHECK(%s) failed at %s:%d%s%s\n", expr, file, line,
               msg.empty() ? "" : ": ", msg.c_str());
  std::abort();
}

}  // namespace ct
