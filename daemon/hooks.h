#pragma once

#include "sys/event_loop.h"
#include "sys/unique_fd.h"

#include <chrono>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

namespace failover::daemon {

// What a notify program is told: a role change, or the daemon stopping (new_role "stopped").
struct HookEvent {
  enum class Kind { Transition, Stop } kind = Kind::Transition;
  std::string old_role;
  std::string new_role;
  std::string reason;
};

// Runs the operator's notify program on role changes and at stop: "PROGRAM OLD_ROLE NEW_ROLE
// REASON", with the same facts, the event and the node's name in FAILOVERD_* environment
// variables (as Pacemaker's alert agents get theirs). One at a time and in order (so a hook
// sees transitions as they happened), each bounded by a timeout after which it is killed. It
// never blocks the event loop: the child is watched through a pidfd, the timeout is a timerfd.
class HookRunner {
public:
  static constexpr std::size_t MAX_QUEUED = 16;

  HookRunner(std::filesystem::path program, std::chrono::milliseconds timeout, std::string node_name,
             sys::EventLoop& loop);
  ~HookRunner();
  HookRunner(const HookRunner&) = delete;
  HookRunner& operator=(const HookRunner&) = delete;

  void notify(HookEvent event);
  // At stop, when the event loop no longer runs: runs what is queued, in order, waiting for
  // at most one timeout in all; kills and reports what did not finish.
  void finish();
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
  void reap();
  void onTimeout();

  std::filesystem::path program_;
  std::chrono::milliseconds timeout_;
  const std::string node_name_;
  sys::EventLoop& loop_;
  sys::TimerFd timer_;
  std::deque<HookEvent> queue_;
  pid_t child_ = -1;
  sys::UniqueFd pidfd_;
  bool killed_ = false;
};

} // namespace failover::daemon
