// Benchmark: opening a 4 GB, 300-tensor safetensors checkpoint (map + validate + list) must cost
// O(header), not O(file). Prints median and min over the runs next to the target (50 ms) and the
// floor: open + pread of the length and the header + close, the least any reader must do.
//
// Usage: open_checkpoint_bench [FILE] [RUNS]   (FILE defaults to /tmp/crosstrace_bench_4g.safetensors)
// The file is generated once: the header is written and the file extended with ftruncate, so the
// data area is sparse (all zeros, which are valid F32 values) and generation takes milliseconds.
// Failure: prints the error and returns 1 (2 for a malformed existing file).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"

namespace {

constexpr int kTensors = 300;
constexpr int64_t kRows = 3584, kCols = 1000;              // each tensor [3584, 1000] F32
constexpr uint64_t kTensorBytes = kRows * kCols * 4;       // 14,336,000 bytes, a multiple of 64
constexpr double kTargetMs = 50.0;

// Header with 300 F32 tensors back to back, padded so the data area starts at a multiple of 64.
std::string make_header() {
  std::string h = "{\"__metadata__\":{\"format\":\"pt\"}";
  for (int i = 0; i < kTensors; ++i) {
    const uint64_t begin = uint64_t(i) * kTensorBytes;
    h += ",\"model.layers." + std::to_string(i / 10) + ".mlp.proj_" + std::to_string(i % 10) +
         ".weight\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(kRows) + "," + std::to_string(kCols) +
         "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(begin + kTensorBytes) + "]}";
  }
  h += "}";
  h.resize((8 + h.size() + 63) / 64 * 64 - 8, ' ');
  return h;
}

void generate(const std::filesystem::path& path) {
  const std::string header = make_header();
  const uint64_t total = 8 + header.size() + kTensors * kTensorBytes;
  const std::string tmp = path.string() + ".partial";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw ct::RuntimeFailure("cannot create " + tmp);
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((uint64_t(header.size()) >> (8 * i)) & 0xff);
  const bool ok = ::write(fd, len, 8) == 8 &&
                  ::write(fd, header.data(), header.size()) == static_cast<ssize_t>(header.size()) &&
                  ::ftruncate(fd, static_cast<off_t>(total)) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) throw ct::RuntimeFailure("cannot write " + path.string());
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void report(const char* what, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  std::printf("%-44s median %8.3f ms   min %8.3f ms\n", what, ms[ms.size() / 2], ms.front());
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path path = argc > 1 ? argv[1] : "/tmp/crosstrace_bench_4g.safetensors";
  const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 20;
  try {
    const std::string header = make_header();
    const uint64_t expected = 8 + header.size() + kTensors * kTensorBytes;
    std::error_code ec;
    if (std::filesystem::file_size(path, ec) != expected || ec) {
      const auto t0 = std::chrono::steady_clock::now();
      generate(path);
      std::printf("generated %s (%.2f GB, sparse) in %.1f ms\n", path.c_str(), expected / 1e9, ms_since(t0));
    }
    std::printf("file: %s, %.2f GB, %d tensors, header %zu bytes, %d runs\n", path.c_str(), expected / 1e9, kTensors,
                header.size(), runs);

    std::vector<double> open_ms, floor_ms;
    std::size_t checksum = 0;
    for (int r = 0; r < runs; ++r) {
      // Floor: the header bytes themselves, read with pread.
      auto t0 = std::chrono::steady_clock::now();
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      unsigned char len[8];
      if (fd < 0 || ::pread(fd, len, 8, 0) != 8) throw ct::RuntimeFailure("cannot read " + path.string());
      uint64_t n = 0;
      for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
      std::string buf(n, '\0');
      if (::pread(fd, buf.data(), n, 8) != static_cast<ssize_t>(n)) throw ct::RuntimeFailure("short read");
      ::close(fd);
      checksum += static_cast<unsigned char>(buf[n / 2]);
      floor_ms.push_back(ms_since(t0));

      // The real thing: map, validate, add every tensor, list names and shapes.
      t0 = std::chrono::steady_clock::now();
      ct::io::TensorStore store(path.string());
      ct::io::read_safetensors(path, store);
      for (const auto& e : store.entries()) checksum += e.name.size() + e.shape.size() + static_cast<std::size_t>(e.numel());
      open_ms.push_back(ms_since(t0));
      if (store.size() != kTensors) throw ct::RuntimeFailure("expected 300 tensors");
    }
    report("open + validate + list (read_safetensors)", open_ms);
    report("floor: open + pread header + close", floor_ms);
    std::printf("target: open + validate + list < %.0f ms for a 4 GB file   (checksum %zu)\n", kTargetMs, checksum);
    std::sort(open_ms.begin(), open_ms.end());
    std::printf("%s\n", open_ms[open_ms.size() / 2] < kTargetMs ? "PASS: within target" : "FAIL: over target");
    return 0;
  } catch (const ct::InputError& e) {
    std::fprintf(stderr, "open_checkpoint_bench: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "open_checkpoint_bench: %s\n", e.what());
    return 1;
  }
}
