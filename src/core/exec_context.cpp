#include "core/exec_context.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <thread>
#include <vector>

namespace ct {

ExecContext::ExecContext(int threads, uint64_t seed, ProgressSink* progress)
    : threads_(threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency())),
      seed_(seed),
      progress_(progress ? progress : &null_progress_) {}

void ExecContext::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) const {
  if (n <= 0) return;
  const int64_t chunks = std::min<int64_t>(threads_, n);
  if (chunks == 1) {
    fn(0, n);
    return;
  }
  std::vector<std::exception_ptr> errors(chunks);
  std::vector<std::thread> workers;
  workers.reserve(chunks - 1);
  auto run_chunk = [&](int64_t t) {
    const int64_t begin = n * t / chunks, end = n * (t + 1) / chunks;
    try {
      fn(begin, end);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  for (int64_t t = 1; t < chunks; ++t) workers.emplace_back(run_chunk, t);
  run_chunk(0);
  for (auto& w : workers) w.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

void StderrProgress::begin(const std::string& stage, int64_t total, const std::string& unit) {
  stage_ = stage;
  unit_ = unit;
  total_ = total;
  done_ = 0;
  start_ = last_print_ = std::chrono::steady_clock::now();
}

void StderrProgress::update(int64_t done) {
  done_ = done;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_print_ > std::chrono::milliseconds(250)) {
    last_print_ = now;
    print(false);
  }
}

void StderrProgress::end() { print(true); }

void StderrProgress::print(bool final_line) {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
  if (total_ > 0) {
    const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
    std::fprintf(stderr, "\r%s: %lld/%lld %s (%.1f %s/s, ETA %.0f s)%s", stage_.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(), rate,
                 unit_.c_str(), eta, final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "\r%s: %lld %s (%.1f %s/s)%s", stage_.c_str(), static_cast<long long>(done_),
                 unit_.c_str(), rate, unit_.c_str(), final_line ? "\n" : "");
  }
  std::fflush(stderr);
}

}  // namespace ct
