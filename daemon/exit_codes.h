#pragma once

namespace failover {

// Exit codes of failoverd and failoverctl (documented in their --help and man pages).
inline constexpr int EXIT_OK = 0;
inline constexpr int EXIT_RUNTIME_FAILURE = 1; // the environment failed: corosync, a syscall
inline constexpr int EXIT_USAGE = 2;           // bad command line or bad configuration
inline constexpr int EXIT_NOT_RUNNING = 3;     // failoverctl: the daemon is not running

} // namespace failover
