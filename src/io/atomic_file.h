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
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>

namespace ct::io {

void write_file_atomically(const std::filesystem::path& target,
                           const std::function<void(std::FILE*)>& write_body);

// Writes `size` bytes to `out`; throws ct::RuntimeFailure naming `target` on a short write.
void write_bytes(std::FILE* out, const void* data, std::size_t size, const std::filesystem::path& target);

}  // namespace ct::io
