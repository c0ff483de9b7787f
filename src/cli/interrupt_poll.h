// SIGINT / SIGTERM as a polled request to stop, for the long commands (crosscoder train, harvest
// --data): the constructor blocks both signals in the calling thread, so construct it before any
// worker thread starts (an ExecContext's pool inherits the mask); the command polls pending()
// between units of work (no handler, no global flag), finishes the unit in flight, writes what it
// has and exits 130. The destructor consumes a pending signal and restores the old mask.
//
// Ownership: scoped to the command. Thread-safety: one thread; pending() may be called any time.
// Failure: none.
#pragma once

#include <signal.h>

#include <ctime>

namespace ct::cli {

class InterruptPoll {
 public:
  InterruptPoll() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~InterruptPoll() {
    // Consume a pending signal so unblocking does not kill the process after a clean stop.
    if (pending()) {
      timespec zero{0, 0};
      sigtimedwait(&set_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  InterruptPoll(const InterruptPoll&) = delete;
  InterruptPoll& operator=(const InterruptPoll&) = delete;

  bool pending() const {
    sigset_t p;
    sigpending(&p);
    return sigismember(&p, SIGINT) == 1 || sigismember(&p, SIGTERM) == 1;
  }

 private:
  sigset_t set_, old_;
};

}  // namespace ct::cli
