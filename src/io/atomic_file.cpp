// Atomic replace via mkstemp + fsync + rename(2); see atomic_file.h.
#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"

namespace ct::io {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void fail(const fs::path& target, const std::string& what, int err) {
  throw RuntimeFailure(target.string() + ": " + what + ": " + std::strerror(err));
}

// Removes the temporary file unless released (after a successful rename).
class TempFileGuard {
 public:
  explicit TempFileGuard(std::string path) : path_(std::move(path)) {}
  ~TempFileGuard() {
    if (file_) std::fclose(file_);
    if (!released_) ::unlink(path_.c_str());
  }
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;

  void set_file(std::FILE* f) { file_ = f; }
  std::FILE* file() const { return file_; }
  // Closes the stream; returns the fclose result (errno set on failure).
  int close() {
    const int rc = std::fclose(file_);
    file_ = nullptr;
    return rc;
  }
  void release() { released_ = true; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  bool released_ = false;
};

}  // namespace

void write_bytes(std::FILE* out, const void* data, std::size_t size, const fs::path& target) {
  if (size == 0) return;
  if (std::fwrite(data, 1, size, out) != size) fail(target, "write failed", errno);
}

void write_file_atomically(const fs::path& target, const std::function<void(std::FILE*)>& write_body) {
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // mkstemp needs a mutable, NUL-terminated template; the name starts with '.' so that directory
  // listings (and checkpoint discovery by extension) ignore a leftover after a crash.
  // (Appended piecewise: GCC 12 gives a false -Wrestrict on "." + std::string.)
  std::string leaf(1, '.');
  leaf.append(target.filename().string()).append(".tmp.XXXXXX");
  const std::string name = (dir / leaf).string();
  std::vector<char> tmpl(name.begin(), name.end());
  tmpl.push_back('\0');
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) fail(target, "cannot create a temporary file in " + dir.string(), errno);
  TempFileGuard guard(std::string(tmpl.data()));
  std::FILE* f = ::fdopen(fd, "wb");
  if (!f) {
    const int err = errno;
    ::close(fd);
    fail(target, "fdopen failed", err);
  }
  guard.set_file(f);
  // mkstemp creates 0600; give the file the usual 0644 (reading the umask would need umask(2),
  // which changes process state and is not thread-safe).
  ::fchmod(fd, 0644);

  write_body(f);

  if (std::fflush(f) != 0) fail(target, "write failed", errno);
  if (::fsync(fd) != 0) fail(target, "fsync failed", errno);
  if (guard.close() != 0) fail(target, "close failed", errno);
  if (::rename(guard.path().c_str(), target.c_str()) != 0) fail(target, "rename failed", errno);
  guard.release();
  // Make the rename itself durable; failure here does not undo the (complete) new file.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace ct::io
