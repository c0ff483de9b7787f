#include "core/exec_context.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <exception>
#include <thread>
#include <vector>

namespace ct {

// A fixed set of worker threads that run one batch of tasks at a time: task t of n on worker t
// (task 0 on the caller).
class ThreadPool {
 public:
  explicit ThreadPool(int workers) {
    threads_.reserve(workers);
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this, i] { worker_loop(i + 1); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    start_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // True while a batch runs: a parallel_for issued then (from a task, on a worker or on the
  // caller running task 0) runs serially instead of waiting for the pool it is part of.
  bool busy() const { return busy_.load(std::memory_order_acquire); }

  // Runs task(t) for t in [0, n), n <= workers + 1, and returns when all have finished.
  void run(int n, const std::function<void(int)>& task) {
    std::lock_guard<std::mutex> serial(run_mu_);
    busy_.store(true, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_ = &task;
      n_tasks_ = n;
      remaining_ = n - 1;
      ++generation_;
    }
    start_.notify_all();
    task(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return remaining_ == 0; });
    task_ = nullptr;
    busy_.store(false, std::memory_order_release);
  }

 private:
  void worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int)>* task = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        start_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (index < n_tasks_) task = task_;
      }
      if (!task) continue;
      (*task)(index);  // never throws: parallel_for's tasks catch everything
      std::lock_guard<std::mutex> lock(mu_);
      if (--remaining_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_, run_mu_;
  std::condition_variable start_, done_;
  const std::function<void(int)>* task_ = nullptr;
  int n_tasks_ = 0, remaining_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::atomic<bool> busy_{false};
};

ExecContext::ExecContext(int threads, uint64_t seed, ProgressSink* progress)
    : threads_(threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency())),
      seed_(seed),
      progress_(progress ? progress : &null_progress_) {}

ExecContext::~ExecContext() = default;

void ExecContext::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) const {
  if (n <= 0) return;
  const int64_t chunks = std::min<int64_t>(threads_, n);
  if (chunks == 1 || (pool_ && pool_->busy())) {
    fn(0, n);
    return;
  }
  if (!pool_) const_cast<ExecContext*>(this)->pool_ = std::make_unique<ThreadPool>(threads_ - 1);
  std::vector<std::exception_ptr> errors(chunks);
  pool_->run(static_cast<int>(chunks), [&](int t) {
    const int64_t begin = n * t / chunks, end = n * (t + 1) / chunks;
    try {
      fn(begin, end);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  });
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
