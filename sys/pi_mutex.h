#pragma once

#include <pthread.h>

namespace failover::sys {

// A mutex with priority inheritance (PTHREAD_PRIO_INHERIT, a PI futex): while the agent's
// real-time thread waits for it, the default-scheduled thread holding it runs at the waiter's
// priority until it unlocks. With a plain mutex, a TLS worker preempted by CPU load in the
// middle of a short critical section stalls the real-time loop for as long as the load keeps
// the worker off the CPU (priority inversion), which past the VIP guard's bound hands the VIP
// over for nothing. For the locks the agent's loop shares with the workers; a BasicLockable
// and Lockable, so std::lock_guard and std::unique_lock take it.
class PiMutex {
public:
  PiMutex() noexcept;
  ~PiMutex();
  PiMutex(const PiMutex&) = delete;
  PiMutex& operator=(const PiMutex&) = delete;

  void lock() noexcept;
  bool try_lock() noexcept;
  void unlock() noexcept;

private:
  pthread_mutex_t mutex_;
};

} // namespace failover::sys
