#pragma once

#include "sys/error.h"
#include "sys/unique_fd.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <unordered_map>

namespace failover::sys {

// A single-threaded epoll loop: every source (sockets, signals, timers, netlink, corosync) is
// an fd with a handler. One loop per thread; nothing here is thread-safe.
class EventLoop {
public:
  using Handler = std::function<void(std::uint32_t events)>;

  static Result<EventLoop> create();

  // Registers fd; the loop does not own it. Removing an fd from inside any handler is safe.
  Status add(int fd, std::uint32_t events, Handler handler);
  Status modify(int fd, std::uint32_t events);
  void remove(int fd) noexcept;

  // Dispatches until stop() is called or epoll fails. `after_each_round`, if given, runs after
  // the handlers of each round of ready events, before the loop waits again.
  Status run(const std::function<void()>& after_each_round = {});
  // Dispatches the events ready within timeout; returns how many handlers ran.
  Result<int> runOnce(std::chrono::milliseconds timeout);
  void stop() noexcept { stopping_ = true; }

private:
  explicit EventLoop(UniqueFd epoll) : epoll_(std::move(epoll)) {}

  UniqueFd epoll_;
  // shared_ptr so a handler that removes itself is not destroyed while it runs.
  std::unordered_map<int, std::shared_ptr<Handler>> handlers_;
  bool stopping_ = false;
};

// Delivers the given signals through an fd instead of asynchronous handlers; they are blocked
// for the calling thread (call it before starting other threads so they inherit the mask).
class SignalFd {
public:
  static Result<SignalFd> create(std::initializer_list<int> signals);
  int fd() const noexcept { return fd_.get(); }
  // The next pending signal number, or 0 when none is pending.
  Result<int> next();

private:
  explicit SignalFd(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// A one-shot CLOCK_MONOTONIC timer as an fd.
class TimerFd {
public:
  static Result<TimerFd> create();
  int fd() const noexcept { return fd_.get(); }
  Status arm(std::chrono::nanoseconds after);
  Status disarm();
  // Consumes the expiry count so that the fd stops being readable.
  void acknowledge() noexcept;

private:
  explicit TimerFd(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

} // namespace failover::sys
