#include "sys/event_loop.h"

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <array>
#include <csignal>
#include <string>

namespace failover::sys {

Result<EventLoop> EventLoop::create() {
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) {
    return std::unexpected(systemError("epoll_create1"));
  }
  return EventLoop(std::move(epoll));
}

Status EventLoop::add(int fd, std::uint32_t events, Handler handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    return std::unexpected(systemError("epoll_ctl(ADD, fd " + std::to_string(fd) + ")"));
  }
  handlers_[fd] = std::make_shared<Handler>(std::move(handler));
  return {};
}

Status EventLoop::modify(int fd, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) < 0) {
    return std::unexpected(systemError("epoll_ctl(MOD, fd " + std::to_string(fd) + ")"));
  }
  return {};
}

void EventLoop::remove(int fd) noexcept {
  if (handlers_.erase(fd) > 0) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  }
}

Result<int> EventLoop::runOnce(std::chrono::milliseconds timeout) {
  std::array<epoll_event, 64> events{};
  const int ready = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                                 static_cast<int>(timeout.count()));
  if (ready < 0) {
    if (errno == EINTR) {
      return 0;
    }
    return std::unexpected(systemError("epoll_wait"));
  }
  int dispatched = 0;
  for (int i = 0; i < ready; ++i) {
    const auto& ev = events[static_cast<std::size_t>(i)];
    // Looked up per event: an earlier handler in this batch may have removed this fd.
    auto it = handlers_.find(ev.data.fd);
    if (it == handlers_.end()) {
      continue;
    }
    const auto handler = it->second;
    (*handler)(ev.events);
    ++dispatched;
  }
  return dispatched;
}

Status EventLoop::run(const std::function<void()>& after_each_round) {
  stopping_ = false;
  while (!stopping_) {
    if (auto r = runOnce(std::chrono::milliseconds(-1)); !r) {
      return std::unexpected(r.error());
    }
    if (after_each_round) {
      after_each_round();
    }
  }
  return {};
}

Result<SignalFd> SignalFd::create(std::initializer_list<int> signals) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : signals) {
    sigaddset(&mask, sig);
  }
  if (::pthread_sigmask(SIG_BLOCK, &mask, nullptr) != 0) {
    return std::unexpected(systemError("pthread_sigmask"));
  }
  UniqueFd fd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) {
    return std::unexpected(systemError("signalfd"));
  }
  return SignalFd(std::move(fd));
}

Result<int> SignalFd::next() {
  signalfd_siginfo info{};
  const ssize_t n = ::read(fd_.get(), &info, sizeof info);
  if (n < 0) {
    if (errno == EAGAIN) {
      return 0;
    }
    return std::unexpected(systemError("read(signalfd)"));
  }
  if (static_cast<std::size_t>(n) != sizeof info) {
    return fail(Errc::System, "read(signalfd): short read of " + std::to_string(n) + " bytes");
  }
  return static_cast<int>(info.ssi_signo);
}

Result<TimerFd> TimerFd::create() {
  UniqueFd fd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!fd) {
    return std::unexpected(systemError("timerfd_create"));
  }
  return TimerFd(std::move(fd));
}

Status TimerFd::arm(std::chrono::nanoseconds after) {
  // A zero it_value would disarm the timer; the earliest expiry is one nanosecond.
  const auto ns = std::max<std::chrono::nanoseconds::rep>(after.count(), 1);
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  if (::timerfd_settime(fd_.get(), 0, &spec, nullptr) < 0) {
    return std::unexpected(systemError("timerfd_settime"));
  }
  return {};
}

Status TimerFd::disarm() {
  itimerspec spec{};
  if (::timerfd_settime(fd_.get(), 0, &spec, nullptr) < 0) {
    return std::unexpected(systemError("timerfd_settime"));
  }
  return {};
}

void TimerFd::acknowledge() noexcept {
  std::uint64_t expirations = 0;
  // EAGAIN (nothing expired) is the only expected failure and needs no action.
  (void)!::read(fd_.get(), &expirations, sizeof expirations);
}

} // namespace failover::sys
