#pragma once

#include "sys/event_loop.h"
#include "sys/secret_buffer.h"
#include "sys/shared_memory.h"
#include "sys/unique_fd.h"
#include "tls/server.h"
#include "tls/service_channel.h"

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace failover::daemon {

// The agent's side of the unprivileged TLS service process (tls_process.h). It opens the
// listening sockets, starts the process (failoverd --tls-service N, with its channel, the
// shared counters and the sockets as fds 3, 4, 5...), seeds it with the ticket keys and every
// session, relays sessions both ways, translates sync-mode confirmations into the process's
// own session numbers, and restarts it when it dies or breaks the channel's format (with a
// bounded backoff, re-seeding it: sessions survive). Its `mirror` is the agent's own TLS
// server, never started: the authoritative copy of the cache and the keyring, the
// certificates shown in the status, and the counters, which live in memory the process
// writes and the agent reads.
class TlsService {
public:
  struct Callbacks {
    // A session the process's handshakes created: replicate it. Returns its number for
    // confirmations (0: it will never be confirmed).
    std::function<std::uint64_t(const tls::SessionRecord&)> session_created;
    std::function<void(std::span<const std::uint8_t>)> session_removed;
  };
  struct Stats {
    std::uint64_t starts = 0;         // processes started, the first one included
    std::uint64_t channel_errors = 0; // processes cut off for what they sent
    pid_t pid = -1;                   // the serving process (confined, seeded), -1 while none is
  };

  // Throws std::runtime_error when the sockets, the counters or the process cannot be set up.
  TlsService(tls::TlsServer& mirror, sys::SharedMemory counters, std::vector<std::string> arguments,
             sys::EventLoop& loop, Callbacks callbacks);
  ~TlsService();
  TlsService(const TlsService&) = delete;
  TlsService& operator=(const TlsService&) = delete;

  // Starts the first process.
  sys::Status start();
  // The shared counters, to create the mirror with before this object exists.
  static sys::Result<sys::SharedMemory> createCounters();

  // What the cluster decided about sessions (replication's numbers, see Callbacks).
  void sessionsConfirmed(std::uint64_t through);
  void sessionsAbandoned(std::uint64_t through);
  // A session from another member, already in the mirror.
  void importSession(const tls::SessionRecord& record);
  void removeSession(std::span<const std::uint8_t> id);
  // If the mirror's keyring changed (rotation, import, expiry), the process gets all of it.
  void syncKeyring();
  void closeConnections();
  // New certificates: a new process starts (reading them as root), the old one drains.
  void replace();
  // Drains every process for at most `bound` and waits for them to exit (bounded too).
  void stop(std::chrono::milliseconds bound);

  const Stats& stats() const noexcept { return stats_; }

private:
  struct Process {
    pid_t pid = -1;
    sys::UniqueFd pidfd;
    sys::UniqueFd channel;
    std::deque<sys::SecretBuffer> outbound; // what the channel could not take yet
    std::size_t outbound_bytes = 0;
    // (replication's number, the process's number) of each reported session not settled yet.
    std::deque<std::pair<std::uint64_t, std::uint64_t>> unsettled;
    std::chrono::steady_clock::time_point started_at;
    bool retiring = false;
    bool cut_off = false; // killed for what it sent: nothing more is read from it or sent to it
  };

  sys::Status spawn();
  void seed(Process& process);
  tls::channel::Message keyringMessage() const;
  void send(Process& process, const tls::channel::Message& message);
  void flush(Process& process);
  void onChannel(Process& process, std::uint32_t events);
  void onMessage(Process& process, tls::channel::Message message);
  void onExit(Process& process);
  // Cuts a process off (it exits; onExit then restarts it if it was serving).
  void cutOff(Process& process, const std::string& why);
  void settle(std::uint64_t through, bool confirmed);
  void forget(Process& process);

  tls::TlsServer& mirror_;
  sys::SharedMemory counters_;
  std::vector<sys::UniqueFd> listeners_;
  std::vector<std::string> arguments_;
  sys::EventLoop& loop_;
  Callbacks callbacks_;
  std::vector<std::unique_ptr<Process>> processes_; // the serving one last
  sys::TimerFd restart_timer_;
  std::chrono::milliseconds backoff_{0};
  sys::SecretBuffer receive_buffer_;
  std::uint64_t keyring_sent_ = 0; // the mirror keyring's generation the processes have
  Stats stats_;
  bool stopping_ = false;
};

} // namespace failover::daemon
