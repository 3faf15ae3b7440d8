#pragma once

#include "sys/error.h"

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace failover::sys {

struct CommandResult {
  int exit_code = -1; // -1 when killed by a signal
  std::string output; // stdout and stderr together, for error messages
};

// Starts argv[0] (looked up in PATH) with no shell: stdin from /dev/null, stdout and stderr to
// `output` (or inherited if it is -1), and no signal blocked (the daemon blocks the signals it
// reads through a signalfd; a child must not inherit that). `environment` ("NAME=VALUE") is
// added to the daemon's own, replacing a variable of the same name. The fds in `passed` are the
// child's 3, 4, 5, ... in that order (every other fd is close-on-exec). Returns the child's pid.
Result<pid_t> spawnProcess(const std::vector<std::string>& argv, int output = -1,
                           const std::vector<std::string>& environment = {}, const std::vector<int>& passed = {});

// Runs argv[0] (looked up in PATH) with no shell, waits at most `timeout` (then kills it),
// and returns its exit code and output. For short administrative commands (iptables).
Result<CommandResult> runCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout);

// Puts the calling thread under SCHED_RR at `priority` (1-99), with SCHED_RESET_ON_FORK so
// that the threads and processes it starts later run under the default scheduler again.
Status setThreadRealtime(int priority);

} // namespace failover::sys
