#pragma once

#include "sys/event_loop.h"
#include "sys/secret_buffer.h"
#include "sys/shared_memory.h"
#include "sys/unique_fd.h"
#include "tls/server.h"
#include "tls/service_channel.h"

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace failover::daemon {

// The agent's side of the unprivileged TLS service process (tls_process.h). It opens the
// listening sockets, starts the process (failoverd --tls-service N, with its channel, the
// shared counters, the running configuration and the sockets as fds 3, 4, 5, 6...), seeds it
// with the ticket keys and every session, relays sessions both ways, translates sync-mode
// confirmations into the process's own session numbers, and restarts it when it dies or
// breaks the channel's format (with a bounded backoff, re-seeding it: sessions survive). Its
// `mirror` is the agent's own TLS server, never started: the authoritative copy of the cache
// and the keyring, the certificates shown in the status, and the counters, which live in
// memory the process writes and the agent reads.
class TlsService {
public:
  struct Callbacks {
    // A session the process's handshakes created: replicate it. Returns its number for
    // confirmations (0: it will never be confirmed).
    std::function<std::uint64_t(const tls::SessionRecord&)> session_created;
    std::function<void(std::span<const std::uint8_t>)> session_removed;
    // The sessions read from the channel in one turn of the loop were all reported: send them
    // (one replication message for the whole batch).
    std::function<void()> reported;
  };
  struct Stats {
    std::uint64_t starts = 0;         // processes started, the first one included
    std::uint64_t channel_errors = 0; // processes cut off for what they sent
    pid_t pid = -1;                   // the serving process (confined, seeded), -1 while none is
  };

  // The shared counters, to create the mirror with before this object exists.
  static sys::Result<sys::SharedMemory> createCounters();

  // Opens the listening sockets. `configuration`: the running configuration as
  // configuration-file text, for each start. Throws std::runtime_error if it cannot.
  TlsService(tls::TlsServer& mirror, sys::SharedMemory counters, std::function<std::string()> configuration,
             sys::EventLoop& loop, Callbacks callbacks);
  ~TlsService();
  TlsService(const TlsService&) = delete;
  TlsService& operator=(const TlsService&) = delete;

  // Starts the first process.
  sys::Status start();

  // What the cluster decided about sessions (replication's numbers, see Callbacks).
  void sessionsConfirmed(std::uint64_t through);
  void sessionsAbandoned(std::uint64_t through);
  // A session from another member, already in the mirror.
  void importSession(const tls::SessionRecord& record);
  void removeSession(std::span<const std::uint8_t> id);
  // If the mirror's keyring changed (rotation, import, expiry), the process gets all of it.
  void syncKeyring();
  void closeConnections();
  // A reload's certificates (already in the mirror): the process uses them for new
  // connections. Waits for its answer, at most a few tens of milliseconds (it takes no file
  // access, only parsing), so that the reload's answer means new connections get them. An
  // error: the process refused them, or it is not running (a restart loads them anyway).
  sys::Status reloadCertificates(std::vector<tls::CertificatePem> certificates);
  // Drains the process for at most `bound` and waits for it to exit (bounded too).
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
    bool cut_off = false; // killed for what it sent: nothing more is read from it or sent to it
  };

  sys::Status spawn();
  void seed();
  tls::channel::Message keyringMessage() const;
  void send(const tls::channel::Message& message);
  void flush();
  void onChannel(std::uint32_t events);
  // Handles every message waiting on the channel.
  void readMessages();
  void onMessage(tls::channel::Message message);
  void onExit();
  // Kills the process for what it sent (onExit then restarts it).
  void cutOff(const std::string& why);
  void settle(std::uint64_t through, bool confirmed);
  // Starts the next process (its backoff is over), or schedules another try.
  void restart();
  void scheduleRestart();

  tls::TlsServer& mirror_;
  sys::SharedMemory counters_;
  // Opened for the next process and handed to it: the agent keeps no copy while a process
  // serves. A killed agent closes its files only after the RCU grace periods its packet
  // sockets wait for (about 15 ms), and a listener it still held would meanwhile accept
  // connections nobody serves, then reset them. Held by the process alone, the listeners
  // close when it dies, within a millisecond of the agent (PR_SET_PDEATHSIG: the process dies
  // when the thread that started it ends, this loop's, the agent's main thread); the VIP guard
  // then drops SYNs no socket takes, and clients retransmit them to the new active. The
  // price: a process that crashes takes the connections it had not accepted with it.
  std::vector<sys::UniqueFd> listeners_;
  std::function<std::string()> configuration_;
  sys::EventLoop& loop_;
  Callbacks callbacks_;
  std::unique_ptr<Process> process_; // none between a process's end and its replacement
  sys::TimerFd restart_timer_;
  std::chrono::milliseconds backoff_{0};
  sys::SecretBuffer receive_buffer_;
  std::uint64_t keyring_sent_ = 0; // the mirror keyring's generation the process has
  std::optional<std::string> certificates_answer_; // a CertificatesLoaded, while reloadCertificates waits
  Stats stats_;
  bool stopping_ = false;
};

} // namespace failover::daemon
