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

}  // namespace

void write_bytes(std::FILE* out, const void* data, std::size_t size, const fs::path& target) {
  if (size == 0) return;
  if (std::fwrite(data, 1, size, out) != size) fail(target, "write failed", errno);
}

AtomicFileWriter::AtomicFileWriter(const fs::path& target) : target_(target) {
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
  temp_ = tmpl.data();
  file_ = ::fdopen(fd, "wb");
  if (!file_) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp_.c_str());
    fail(target, "fdopen failed", err);
  }
  // mkstemp creates 0600; give the file the usual 0644 (reading the umask would need umask(2),
  // which changes process state and is not thread-safe).
  ::fchmod(fd, 0644);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_) std::fclose(file_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFileWriter::commit() {
  if (std::fflush(file_) != 0) fail(target_, "write failed", errno);
  if (::fsync(::fileno(file_)) != 0) fail(target_, "fsync failed", errno);
  const int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) fail(target_, "close failed", errno);
  if (::rename(temp_.c_str(), target_.c_str()) != 0) fail(target_, "rename failed", errno);
  committed_ = true;
  // Make the rename itself durable; failure here does not undo the (complete) new file.
  const fs::path dir = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomically(const fs::path& target, const std::function<void(std::FILE*)>& write_body) {
  AtomicFileWriter w(target);
  write_body(w.file());
  w.commit();
}

}  // namespace ct::io
