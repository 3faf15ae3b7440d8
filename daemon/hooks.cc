#include "daemon/hooks.h"

#include "daemon/log.h"
#include "sys/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace failover::daemon {

HookRunner::HookRunner(std::filesystem::path program, std::chrono::milliseconds timeout, std::string node_name,
                       sys::EventLoop& loop)
    : program_(std::move(program)), timeout_(timeout), node_name_(std::move(node_name)), loop_(loop), timer_([] {
        auto timer = sys::TimerFd::create();
        if (!timer) {
          throw std::runtime_error(timer.error().message);
        }
        return std::move(*timer);
      }()) {
  if (auto added = loop_.add(timer_.fd(), EPOLLIN, [this](std::uint32_t) { onTimeout(); }); !added) {
    throw std::runtime_error(added.error().message);
  }
}

HookRunner::~HookRunner() {
  loop_.remove(timer_.fd());
  if (pidfd_) {
    loop_.remove(pidfd_.get());
    ::kill(child_, SIGKILL);
    ::waitpid(child_, nullptr, 0);
  }
}

void HookRunner::notify(HookEvent event) {
  if (queue_.size() >= MAX_QUEUED) {
    Log{LogLevel::Warning, "hook"} << program_.string() << " is falling behind: dropping the oldest queued notification";
    queue_.pop_front();
  }
  queue_.push_back(std::move(event));
  if (child_ < 0) {
    startNext();
  }
}

void HookRunner::startNext() {
  while (child_ < 0 && !queue_.empty()) {
    const auto event = std::move(queue_.front());
    queue_.pop_front();
    auto spawned = sys::spawnProcess(
        {program_.string(), event.old_role, event.new_role, event.reason}, -1,
        {std::string("FAILOVERD_EVENT=") + (event.kind == HookEvent::Kind::Stop ? "stop" : "transition"),
         "FAILOVERD_OLD_ROLE=" + event.old_role, "FAILOVERD_NEW_ROLE=" + event.new_role,
         "FAILOVERD_REASON=" + event.reason, "FAILOVERD_NODE=" + node_name_});
    if (!spawned) {
      Log{LogLevel::Error, "hook"} << spawned.error().message;
      continue;
    }
    const pid_t pid = *spawned;
    sys::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd || !loop_.add(pidfd.get(), EPOLLIN, [this](std::uint32_t) { onExit(); })) {
      // Cannot watch it: wait for it here rather than leave a zombie (pidfd_open needs 5.3).
      ::waitpid(pid, nullptr, 0);
      continue;
    }
    child_ = pid;
    pidfd_ = std::move(pidfd);
    killed_ = false;
    (void)timer_.arm(timeout_);
  }
}

void HookRunner::onExit() {
  reap();
  startNext();
}

void HookRunner::finish() {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  startNext();
  while (child_ > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd exited{pidfd_.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&exited, 1, static_cast<int>(left.count())) != 1) {
      killed_ = true;
      ::kill(child_, SIGKILL);
    }
    reap();
    if (std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    startNext();
  }
  if (!queue_.empty()) {
    Log{LogLevel::Warning, "hook"} << program_.string() << ": " << queue_.size()
                                   << " notification(s) not run: failoverd stopped before their turn (notify-timeout-ms)";
    queue_.clear();
  }
}

void HookRunner::reap() {
  int status = 0;
  ::waitpid(child_, &status, 0);
  loop_.remove(pidfd_.get());
  pidfd_.reset();
  child_ = -1;
  (void)timer_.disarm();
  if (killed_) {
    Log{LogLevel::Warning, "hook"} << program_.string() << " was killed after " << timeout_.count()
                                   << " ms (notify-timeout-ms)";
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Log{LogLevel::Warning, "hook"} << program_.string() << " failed ("
                                   << (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                                         : "signal " + std::to_string(WTERMSIG(status)))
                                   << ")";
  }
}

void HookRunner::onTimeout() {
  timer_.acknowledge();
  if (child_ > 0) {
    killed_ = true;
    ::kill(child_, SIGKILL); // the pidfd turns readable once it is gone
  }
}

} // namespace failover::daemon
