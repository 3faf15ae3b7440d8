#pragma once

#include "daemon/config.h"

namespace failover::daemon {

// The file descriptors the agent gives the TLS service process, at these numbers.
inline constexpr int TLS_CHANNEL_FD = 3;  // the channel (SOCK_SEQPACKET)
inline constexpr int TLS_COUNTERS_FD = 4; // the shared counters (memfd)
// The agent's running configuration (memfd), read as --config /proc/self/fd/5: the settings
// the agent accepted, not whatever the file says now (an edit the agent refused to reload).
inline constexpr int TLS_CONFIG_FD = 5;
inline constexpr const char* TLS_CONFIG_PATH = "/proc/self/fd/5";
inline constexpr int TLS_FIRST_LISTENER_FD = 6; // then one listening socket per worker

// The TLS service process (failoverd --tls-service N --config /proc/self/fd/5, started by the
// agent): it builds the TLS
// server from the configuration while still root (certificates and keys are readable only to
// root), becomes tls-user with no capabilities and no way back, takes the seed (ticket keys
// and sessions) from the agent, starts its workers on the N listening sockets it inherited,
// confines itself to the system calls the data path makes, and then serves, applying what
// the agent sends and reporting the sessions its handshakes create. It never opens the
// cluster key, Corosync or a netlink or packet socket. Returns the process's exit code.
int runTlsProcess(const Config& config, unsigned listeners);

// What the TLS service may still do once confined (tests read it too).
sys::SystemCallPolicy tlsProcessPolicy();

} // namespace failover::daemon
