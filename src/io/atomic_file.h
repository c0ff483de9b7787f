// Atomic file replacement: the body is written to a temporary file in the target's directory,
// flushed and fsync'ed, then renamed over the target (and the directory fsync'ed), so a reader
// sees either the old file or the complete new one, never a half-written file.
//
// Ownership: the helper owns the temporary file; the body callback only writes to the FILE* it is
// given and must not close it. Thread-safety: re-entrant; each call uses its own uniquely named
// temporary file (mkstemp), so concurrent writers of different targets do not interfere, and
// concurrent writers of the same target end with one complete file (the last rename wins).
// Failure: when the body throws, the exception propagates unchanged after the temporary file is
// removed; when creating, writing, syncing or renaming fails, a ct::RuntimeFailure naming the
// target and the system error is thrown, again after removing the temporary file. The target is
// left untouched in every failure case.
//
// AtomicFileWriter is the same protocol as an object, for writers that produce the body over many
// calls (a streaming writer): the temporary file exists from construction, commit() syncs and
// renames it, and destruction without commit() removes it (so an exception unwinding past the
// writer leaves no trace). Not copyable; one thread at a time.
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

namespace ct::io {

class AtomicFileWriter {
 public:
  // Creates the temporary file next to `target`; RuntimeFailure when it cannot.
  explicit AtomicFileWriter(const std::filesystem::path& target);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  std::FILE* file() const { return file_; }
  const std::filesystem::path& target() const { return target_; }
  const std::string& temp_path() const { return temp_; }
  // Flush, fsync, close, rename over the target, fsync the directory. RuntimeFailure on failure
  // (the temporary file is removed then, by the destructor). Call at most once.
  void commit();

 private:
  std::filesystem::path target_;
  std::string temp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

void write_file_atomically(const std::filesystem::path& target,
                           const std::function<void(std::FILE*)>& write_body);

// Writes `size` bytes to `out`; throws ct::RuntimeFailure naming `target` on a short write.
void write_bytes(std::FILE* out, const void* data, std::size_t size, const std::filesystem::path& target);

}  // namespace ct::io
