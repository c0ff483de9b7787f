// ExecContext: everything a computation needs from its surroundings, passed by reference instead
// of globals (STYLE.md habit 6): the thread count, the seed of the RNG streams, and the progress
// sink that long work reports to.
//
// Work is split statically (parallel_for hands thread t the t-th contiguous chunk), so results do
// not depend on scheduling. Exceptions thrown by a worker are caught and rethrown on the calling
// thread (the first one by chunk index), so none escapes a worker. The worker threads are started
// on the first parallel_for and kept (a pool), so a parallel loop costs a wake-up, not a spawn.
// A parallel_for called from inside a worker runs serially on that worker (no nested pools).
//
// Thread-safety: an ExecContext is used by one caller at a time (concurrent parallel_for calls are
// serialised); the progress sink is called from the calling thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ct {

// Receives progress of long work: `done` out of `total` units (total 0 when unknown).
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void begin(const std::string& stage, int64_t total, const std::string& unit) = 0;
  virtual void update(int64_t done) = 0;
  virtual void end() = 0;
};

// Prints "stage: done/total unit (rate/s, ETA)" to stderr, at most a few times a second.
class StderrProgress : public ProgressSink {
 public:
  void begin(const std::string& stage, int64_t total, const std::string& unit) override;
  void update(int64_t done) override;
  void end() override;

 private:
  std::string stage_, unit_;
  int64_t total_ = 0, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_print_;
  void print(bool final_line);
};

// Swallows progress (tests, --json runs that must keep stderr quiet).
class NullProgress : public ProgressSink {
 public:
  void begin(const std::string&, int64_t, const std::string&) override {}
  void update(int64_t) override {}
  void end() override {}
};

class ThreadPool;

class ExecContext {
 public:
  // threads <= 0 means "all hardware threads".
  explicit ExecContext(int threads = 0, uint64_t seed = 0, ProgressSink* progress = nullptr);
  ~ExecContext();
  ExecContext(const ExecContext&) = delete;
  ExecContext& operator=(const ExecContext&) = delete;

  int threads() const { return threads_; }
  uint64_t seed() const { return seed_; }
  ProgressSink& progress() { return *progress_; }

  // Runs fn(begin, end) over [0, n) split into threads() contiguous chunks, chunk t on thread t.
  // Rethrows the first (lowest chunk) exception after every chunk has finished.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn) const;

 private:
  int threads_;
  uint64_t seed_;
  ProgressSink* progress_;
  NullProgress null_progress_;
  std::unique_ptr<ThreadPool> pool_;  // started on first use
};

}  // namespace ct
