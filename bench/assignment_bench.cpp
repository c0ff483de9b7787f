// LAP benchmark: our solver against scipy.optimize.linear_sum_assignment on the same random dense
// square matrix (uniform [0, 1) f64 costs), at each size given on the command line (default
// 1024 4096 11008). The matrix is written once as .npy to a temporary directory; scipy is timed by
// its own process with the load excluded. Prints seconds, the ratio, both optimal totals, and which
// exact method answered (sparse = candidate graph certified on the full matrix, with its rounds).
// The machine is shared with other work: run it several times and report the spread.
//
// Usage: assignment_bench [--no-scipy] [--tmp DIR] [n ...]
// Failure: prints the problem and returns 1 (unwritable temp file); a missing scipy is reported
// and the run goes on without the baseline.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "lineage/assignment.h"
#include "core/random.h"

namespace {

bool write_npy(const std::string& path, const std::vector<double>& data, int64_t n) {
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + std::to_string(n) +
                       ", " + std::to_string(n) + "), }";
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  const uint16_t len = static_cast<uint16_t>(header.size());
  bool ok = std::fwrite(magic, 1, 8, f) == 8 && std::fwrite(&len, 2, 1, f) == 1 &&
            std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
            std::fwrite(data.data(), sizeof(double), data.size(), f) == data.size();
  ok = std::fclose(f) == 0 && ok;
  return ok;
}

// Returns false when scipy could not be run; fills seconds and total otherwise.
bool run_scipy(const std::string& npy, double& seconds, double& total) {
  const std::string cmd =
      "/usr/bin/python3 -c \"import sys,time,numpy as np;from scipy.optimize import "
      "linear_sum_assignment as lsa;c=np.load(sys.argv[1]);t=time.perf_counter();r,k=lsa(c);"
      "dt=time.perf_counter()-t;print(repr(dt),repr(float(c[r,k].sum())))\" " + npy;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return false;
  char buf[256] = {0};
  const bool got = std::fgets(buf, sizeof buf, p) != nullptr;
  const int rc = pclose(p);
  return got && rc == 0 && std::sscanf(buf, "%lf %lf", &seconds, &total) == 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool scipy = true;
  std::string tmp = std::filesystem::temp_directory_path().string();
  std::vector<int64_t> sizes;
  for (int a = 1; a < argc; ++a) {
    if (std::strcmp(argv[a], "--no-scipy") == 0) {
      scipy = false;
    } else if (std::strcmp(argv[a], "--tmp") == 0 && a + 1 < argc) {
      tmp = argv[++a];
    } else {
      sizes.push_back(std::atoll(argv[a]));
    }
  }
  if (sizes.empty()) sizes = {1024, 4096, 11008};
  std::printf("%8s %12s %12s %8s %22s %22s\n", "n", "ours_s", "scipy_s", "ratio", "ours_total",
              "scipy_total");
  for (int64_t n : sizes) {
    ct::Rng rng(0xB0 + static_cast<uint64_t>(n));
    std::vector<double> cost(static_cast<size_t>(n) * n);
    for (auto& c : cost) c = rng.uniform01();
    const auto t0 = std::chrono::steady_clock::now();
    const ct::lineage::Assignment a = ct::lineage::solve_assignment(cost, n, n);
    const double ours = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double sp_s = 0.0, sp_total = 0.0;
    bool have_scipy = false;
    if (scipy) {
      const std::string npy = tmp + "/ct_lap_bench_" + std::to_string(n) + ".npy";
      if (!write_npy(npy, cost, n)) {
        std::fprintf(stderr, "cannot write %s\n", npy.c_str());
        return 1;
      }
      cost.clear();
      cost.shrink_to_fit();  // leave the memory to scipy
      have_scipy = run_scipy(npy, sp_s, sp_total);
      std::filesystem::remove(npy);
      if (!have_scipy) std::fprintf(stderr, "scipy baseline failed for n=%lld\n", (long long)n);
    }
    if (have_scipy) {
      std::printf("%8lld %12.3f %12.3f %8.2f %22.12f %22.12f  (|diff| %.3g) %s/%lld\n", (long long)n, ours,
                  sp_s, sp_s / ours, a.total, sp_total, std::abs(a.total - sp_total),
                  a.used == ct::lineage::LapMethod::kDense ? "dense" : "sparse", (long long)a.sparse_rounds);
    } else {
      std::printf("%8lld %12.3f %12s %8s %22.12f\n", (long long)n, ours, "-", "-", a.total);
    }
    std::fflush(stdout);
  }
  return 0;
}
