#pragma once

#include "daemon/config.h"
#include "netctl/sys/event_loop.h"

#include <memory>

namespace failover::daemon {

// The node agent: owns the event loop's sources and the current configuration, and reacts
// to signals (SIGTERM/SIGINT stop, SIGHUP reloads the configuration).
class Agent {
public:
  // Throws std::runtime_error when the node cannot start (start-up is the only place that may).
  // command_line is kept so that a reload applies the same overrides to the re-read file.
  Agent(Config config, boost::program_options::variables_map command_line, sys::EventLoop& loop);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  const Config& config() const noexcept { return *config_; }

private:
  void onSignal();
  void reload();

  std::shared_ptr<const Config> config_;
  boost::program_options::variables_map command_line_;
  sys::EventLoop& loop_;
  sys::SignalFd signals_;
};

} // namespace failover::daemon
