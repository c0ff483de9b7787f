// Errors: the two channels of STYLE.md.
//
// - InputError: bad input from the world (a file, a config, a CLI argument, mismatched models).
//   Its message is one line that names the file (or argument) and says what was expected and what
//   was found. The CLI turns it into exit status 2.
// - CT_CHECK: a broken internal invariant (a bug). It prints file:line and aborts.
//
// Thread-safety: the types are plain values; CT_CHECK may be used from any thread.
#pragma once

#include <stdexcept>
#include <string>

namespace ct {

// Base of every exception crosstrace throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input: `where` is the file path or argument name, `problem` what is wrong with it.
// what() is "<where>: <problem>", kept on one line (newlines in either part become spaces).
class InputError : public Error {
 public:
  InputError(const std::string& where, const std::string& problem);
  const std::string& where() const { return where_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string where_;
  std::string problem_;
};

// A runtime failure that is not the input's fault (out of disk, a failed write): exit status 1.
class RuntimeFailure : public Error {
 public:
  using Error::Error;
};

[[noreturn]] void check_failed(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace ct

// Aborts with the expression, location and an optional message when `cond` is false.
#define CT_CHECK(cond, ...)                                                        \
  do {                                                                             \
    if (!(cond)) ::ct::check_failed(#cond, __FILE__, __LINE__, std::string{__VA_ARGS__}); \
  } while (0)
