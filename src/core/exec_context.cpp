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

// How long a thread that waits for the pool spins before it sleeps on a condition variable. Decode
// steps issue a parallel loop every few hundred microseconds with a little serial work between
// them: a futex wake-up costs tens of microseconds on a virtual machine, which on a memory-bound
// loop is time the other thread's half of the stream stands still. Past this budget the waiter
// sleeps, so an idle pool, or one oversubscribed by other processes, burns no more than this.
constexpr auto kSpinBudget = std::chrono::microseconds(100);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until ready() or kSpinBudget has passed; returns ready().
template <typename Ready>
bool spin_until(const Ready& ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinBudget;
  for (int i = 1;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if ((i & 63) == 0 && std::chrono::steady_clock::now() > deadline) return ready();
  }
}

// A fixed set of worker threads that run one batch of tasks at a time: task t of n on worker t
// (task 0 on the caller). A batch is published by bumping generation_ (under mu_, so a worker
// that checks it before sleeping cannot miss it); workers and the caller first spin on the atomics,
// then sleep on the condition variables.
class ThreadPool {
 public:
  explicit ThreadPool(int workers) {
    threads_.reserve(workers);
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this, i] { worker_loop(i + 1); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_.store(true, std::memory_order_release);
    }
    start_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // True while a batch runs: a parallel_for issued then (from a task, on a worker or on the
  // caller running task 0) runs serially instead of waiting for the pool it is part of.
  bool busy() const { return busy_.load(std::memory_order_acquire); }

  // Runs task(t) for t in [0, n), n <= workers + 1, and returns when all have finished (and every
  // worker has seen the batch).
  void run(int n, const std::function<void(int)>& task) {
    std::lock_guard<std::mutex> serial(run_mu_);
    busy_.store(true, std::memory_order_release);
    task_ = &task;
    n_tasks_ = n;
    // Every worker checks in, the idle ones (index >= n) too: the next run() may only rewrite task_
    // and n_tasks_ once no worker can still be reading this batch's.
    remaining_.store(static_cast<int>(threads_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    start_.notify_all();
    task(0);
    const auto finished = [&] { return remaining_.load(std::memory_order_acquire) == 0; };
    if (!spin_until(finished)) {
      std::unique_lock<std::mutex> lock(mu_);
      done_.wait(lock, finished);
    }
    task_ = nullptr;
    busy_.store(false, std::memory_order_release);
  }

 private:
  void worker_loop(int index) {
    uint64_t seen = 0;
    const auto published = [&] {
      return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
    };
    for (;;) {
      if (!spin_until(published)) {
        std::unique_lock<std::mutex> lock(mu_);
        start_.wait(lock, published);
      }
      if (stop_.load(std::memory_order_acquire)) return;
      seen = generation_.load(std::memory_order_acquire);
      if (index < n_tasks_) (*task_)(index);  // never throws: parallel_for's tasks catch everything
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mu_);  // the caller checks remaining_ under mu_ before it sleeps
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_, run_mu_;
  std::condition_variable start_, done_;
  // Written by run() before generation_ is bumped, read by workers after they see the bump.
  const std::function<void(int)>* task_ = nullptr;
  int n_tasks_ = 0;
  std::atomic<int> remaining_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
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
