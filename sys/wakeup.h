#pragma once

#include "sys/error.h"
#include "sys/unique_fd.h"

namespace failover::sys {

// An eventfd that any thread may signal and one event loop waits on: how work queued by
// other threads reaches a loop without a lock held across it.
class Wakeup {
public:
  static Result<Wakeup> create();
  // Thread-safe and async-signal-safe; wake-ups before the loop reads coalesce.
  void notify() const noexcept;
  // Called by the loop when fd() is readable.
  void acknowledge() const noexcept;
  int fd() const noexcept { return fd_.get(); }

private:
  explicit Wakeup(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

} // namespace failover::sys
