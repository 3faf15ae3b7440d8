#pragma once

#include "sys/event_loop.h"
#include "sys/unique_fd.h"

#include <chrono>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

namespace failover::daemon {

// Runs the operator's notify program on role changes: "PROGRAM OLD_ROLE NEW_ROLE REASON",
// one at a time and in order (so a hook sees transitions as they happened), each bounded by
// a timeout after which it is killed. It never blocks the event loop: the child is watched
// through a pidfd and the timeout is a timerfd.
class HookRunner {
public:
  static constexpr std::size_t MAX_QUEUED = 16;

  HookRunner(std::filesystem::path program, std::chrono::milliseconds timeout, sys::EventLoop& loop);
  ~HookRunner();
  HookRunner(const HookRunner&) = delete;
  HookRunner& operator=(const HookRunner&) = delete;

  void notify(std::vector<std::string> arguments);
  // A reload: the next run uses this program and timeout (one running now finishes as it was).
  void reconfigure(std::filesystem::path program, std::chrono::milliseconds timeout) {
    program_ = std::move(program);
    timeout_ = timeout;
  }
  const std::filesystem::path& program() const noexcept { return program_; }
  std::chrono::milliseconds timeout() const noexcept { return timeout_; }

private:
  void startNext();
  void onExit();
  void onTimeout();

  std::filesystem::path program_;
  std::chrono::milliseconds timeout_;
  sys::EventLoop& loop_;
  sys::TimerFd timer_;
  std::deque<std::vector<std::string>> queue_;
  pid_t child_ = -1;
  sys::UniqueFd pidfd_;
  bool killed_ = false;
};

} // namespace failover::daemon
