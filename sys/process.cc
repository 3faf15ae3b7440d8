#include "sys/process.h"

#include "sys/unique_fd.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string_view>

extern char** environ;

namespace failover::sys {

namespace {

std::string commandLine(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& arg : argv) {
    text += text.empty() ? "" : " ";
    text += arg;
  }
  return text;
}

} // namespace

Result<pid_t> spawnProcess(const std::vector<std::string>& argv, int output,
                           const std::vector<std::string>& environment, const std::vector<int>& passed) {
  if (argv.empty()) {
    return fail(Errc::InvalidArgument, "spawnProcess: empty command");
  }
  // Copies above the numbers they go to, so that no dup2 below overwrites a source still to be
  // copied (the copies are close-on-exec; the dup2 targets are not).
  const int first_free = 3 + static_cast<int>(passed.size());
  std::vector<UniqueFd> sources;
  for (const int fd : passed) {
    sources.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, first_free));
    if (!sources.back()) {
      return std::unexpected(systemError("fcntl(F_DUPFD_CLOEXEC)"));
    }
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (std::size_t i = 0; i < sources.size(); ++i) {
    posix_spawn_file_actions_adddup2(&actions, sources[i].get(), 3 + static_cast<int>(i));
  }
  if (output >= 0) {
    posix_spawn_file_actions_adddup2(&actions, output, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, output, STDERR_FILENO);
  }
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const auto& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  std::vector<char*> variables;
  const auto overridden = [&environment](std::string_view inherited) {
    const auto name = inherited.substr(0, inherited.find('=') + 1);
    return std::any_of(environment.begin(), environment.end(),
                       [&name](const std::string& added) { return added.starts_with(name); });
  };
  for (char** inherited = environ; *inherited != nullptr; ++inherited) {
    if (!overridden(*inherited)) {
      variables.push_back(*inherited);
    }
  }
  for (const auto& added : environment) {
    variables.push_back(const_cast<char*>(added.c_str()));
  }
  variables.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = ::posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), variables.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    return std::unexpected(systemError("cannot run '" + argv[0] + "'", spawned));
  }
  return pid;
}

Result<CommandResult> runCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) {
    return std::unexpected(systemError("pipe2"));
  }
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  auto spawned = spawnProcess(argv, write_end.get());
  write_end.reset();
  if (!spawned) {
    return std::unexpected(spawned.error());
  }
  const pid_t pid = *spawned;

  // Bounded wait: read output until EOF or the deadline, then reap (killing if late).
  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{read_end.get(), POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      timed_out = ready == 0;
      break;
    }
    char buffer[4096];
    const ssize_t n = ::read(read_end.get(), buffer, sizeof buffer);
    if (n <= 0) {
      break;
    }
    if (result.output.size() < 64 * 1024) {
      result.output.append(buffer, static_cast<std::size_t>(n));
    }
  }
  if (timed_out) {
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return fail(Errc::Timeout, "'" + commandLine(argv) + "' did not finish within " +
                                   std::to_string(timeout.count()) + " ms and was killed");
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

Status setThreadRealtime(int priority) {
  sched_param param{};
  param.sched_priority = priority;
  // pid 0: the calling thread (Linux schedules threads, not processes).
  if (sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &param) != 0) {
    return std::unexpected(systemError("SCHED_RR at priority " + std::to_string(priority)));
  }
  return {};
}

} // namespace failover::sys
