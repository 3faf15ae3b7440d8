#include "daemon/hooks.h"

#include "daemon/log.h"
#include "sys/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace failover::daemon {

HookRunner::HookRunner(std::filesystem::path program, std::chrono::milliseconds timeout, sys::EventLoop& loop)
    : program_(std::move(program)), timeout_(timeout), loop_(loop), timer_([] {
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

void HookRunner::notify(std::vector<std::string> arguments) {
  if (queue_.size() >= MAX_QUEUED) {
    Log{LogLevel::Warning, "hook"} << program_.string() << " is falling behind: dropping the oldest queued notification";
    queue_.pop_front();
  }
  queue_.push_back(std::move(arguments));
  if (child_ < 0) {
    startNext();
  }
}

void HookRunner::startNext() {
  while (child_ < 0 && !queue_.empty()) {
    auto arguments = std::move(queue_.front());
    queue_.pop_front();
    std::vector<std::string> argv{program_.string()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    auto spawned = sys::spawnProcess(argv);
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
  startNext();
}

void HookRunner::onTimeout() {
  timer_.acknowledge();
  if (child_ > 0) {
    killed_ = true;
    ::kill(child_, SIGKILL); // the pidfd turns readable once it is gone
  }
}

} // namespace failover::daemon
