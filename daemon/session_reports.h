#pragma once

#include "sys/secret_buffer.h"
#include "tls/counters.h"
#include "tls/session_hooks.h"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

namespace failover::daemon {

// The TLS service process's SessionHooks: reports the sessions the workers' handshakes
// create and remove to the agent, over the channel. Called on the worker threads. The
// reports of a worker's round of events are queued and sent together when it has handled
// them (flush), so that the agent wakes once for them: a wake-up costs about as much as the
// report. Numbers are given and messages queued and sent under one lock, so they arrive in
// number order, without a gap. While the agent does not read (frozen, or gone) the channel
// fills, then the queue; past that a session is counted (sessions_unreported) and stays
// local: its number is not given, so a sync-mode handshake does not wait for a
// confirmation that cannot come.
class SessionReports final : public tls::SessionHooks {
public:
  // Beyond the channel's buffer (8 MiB from the agent: thousands of reports), this many more
  // wait here for the agent.
  static constexpr std::size_t MAX_QUEUED = 4096;

  SessionReports(int channel, tls::TlsCounters& counters) : channel_(channel), counters_(counters) {}

  std::uint64_t sessionCreated(const tls::SessionRecord& record) noexcept override;
  void sessionRemoved(std::span<const std::uint8_t> id) noexcept override;
  // What does not fit in the channel stays queued, in order, for the next round. An error
  // other than a full channel means the agent is gone, which ends this process when its
  // channel reads the end.
  void flush() noexcept override;

private:
  int channel_;
  tls::TlsCounters& counters_;
  std::mutex mutex_;
  std::vector<sys::SecretBuffer> queued_;
  std::uint64_t next_ = 1;
};

} // namespace failover::daemon
