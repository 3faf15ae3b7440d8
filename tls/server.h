#pragma once

#include "sys/error.h"
#include "sys/unique_fd.h"
#include "tls/context.h"
#include "tls/counters.h"
#include "tls/http.h"
#include "tls/session_confirmations.h"
#include "tls/session_cache.h"
#include "tls/ticket_keys.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace failover::tls {

// What runs behind TLS on a listener.
struct ServiceConfig {
  enum class Kind { StaticFiles, Relay };
  Kind kind = Kind::StaticFiles;
  std::filesystem::path document_root;         // StaticFiles
  std::size_t max_document_bytes = 64u << 20;  // StaticFiles
  std::string backend_address;                 // Relay: an IPv4 or IPv6 literal (HTTP/1.1)
  std::uint16_t backend_port = 0;              // Relay
  // Relay: where connections that chose h2 go, an h2c backend (HTTP/2 with prior knowledge);
  // required when the listener offers h2.
  std::string h2_backend_address;
  std::uint16_t h2_backend_port = 0;
  bool proxy_protocol = false;                 // Relay: send a PROXY v2 header first
};

// Sync mode: a handshake that created a session (a TLS 1.2 full handshake, a TLS 1.3 stateful
// ticket) keeps its final flight (ChangeCipherSpec/Finished, or NewSessionTicket) in memory
// until SessionConfirmations says the session is on every member, so a client never holds a
// session the cluster could lose. Tickets under the shared keyring need no wait: the keyring
// reaches every member before a key is used.
struct SyncHold {
  bool enabled = false;
  // The longest a handshake waits; then it completes unprotected (counted), or is closed.
  std::chrono::milliseconds bound{100};
  bool close_unconfirmed = false; // true: consistency first, the client retries
};

struct ListenerConfig {
  std::string address = "::"; // "::" listens on IPv4 and IPv6
  std::uint16_t port = 443;   // 0: any free port (tests)
  // Bind an address this node does not have yet (the VIP of a standby), so a takeover never
  // waits for the listener.
  bool freebind = true;
  TlsSettings tls;
  ServiceConfig service;
  unsigned workers = 0; // 0: one per CPU
  std::chrono::seconds handshake_timeout{10};
  std::chrono::seconds idle_timeout{60};
  std::size_t cache_entries = 100'000;
  std::size_t cache_bytes = 64u << 20;
  std::chrono::seconds ticket_rotation{3600};
  SyncHold sync;
};

class Worker;

// The hosted TLS server of one listener: worker threads, each with its own epoll loop and
// its own SO_REUSEPORT socket, sharing the TLS contexts, the session cache and the keyring.
class TlsServer {
public:
  // `counters`: where the counters live (memory shared with another process), or null for
  // the server's own.
  static sys::Result<std::unique_ptr<TlsServer>> create(ListenerConfig config, SessionHooks* hooks,
                                                        TlsCounters* counters = nullptr);
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  // The listening sockets, one per worker (SO_REUSEPORT); IP_FREEBIND as configured. With
  // port 0, the first one picks the port and the others share it.
  sys::Result<std::vector<sys::UniqueFd>> openListeners();
  // Opens the sockets and starts the workers.
  sys::Status start();
  // Starts one worker per socket given (opened by openListeners(), maybe in another process).
  sys::Status start(std::vector<sys::UniqueFd> listeners);
  // Stops accepting, lets open connections finish (keep-alive ones close after their current
  // response) for at most `bound`, then closes what is left and joins the workers.
  void drain(std::chrono::milliseconds bound);
  // Closes idle keep-alive connections now and busy ones after their current response, but
  // keeps listening (a node handing the VIP over goes on as a standby).
  void closeConnections();

  std::uint16_t port() const noexcept { return port_; }
  const ListenerConfig& config() const noexcept { return config_; }
  // The contexts new connections start on; a connection keeps the one it started with.
  std::shared_ptr<TlsContext> context() const noexcept { return context_.load(); }
  // Builds contexts from new certificate settings and makes new connections use them; open
  // connections go on with theirs. The cache and the keyring stay: sessions still resume.
  sys::Status reloadTls(const TlsSettings& settings);
  // The same from certificates already read (readCertificates, maybe by another process).
  sys::Status reloadTls(const TlsSettings& settings, const std::vector<CertificatePem>& certificates);
  SessionCache& cache() noexcept { return cache_; }
  SessionHooks* hooks() noexcept { return hooks_; }
  TicketKeyring& keyring() noexcept { return keyring_; }
  TlsCounters& counters() noexcept { return counters_; }
  const TlsCounters& counters() const noexcept { return counters_; }
  const StaticFiles* files() const noexcept { return files_.get(); }
  std::size_t openConnections() const noexcept;

  // Sync mode: how far the sessions given to SessionHooks are on every member, or up to where
  // they never will be. Thread-safe; wakes the workers that hold a handshake.
  void sessionsConfirmed(std::uint64_t through);
  void sessionsAbandoned(std::uint64_t through);
  const SessionConfirmations& confirmations() const noexcept { return confirmations_; }

private:
  TlsServer(ListenerConfig config, TlsCounters* counters);
  sys::Result<sys::UniqueFd> openListener();
  void wakeHolders();

  ListenerConfig config_;
  SessionCache cache_;
  TicketKeyring keyring_;
  TlsCounters own_counters_;
  TlsCounters& counters_; // own_counters_, or shared ones
  SessionConfirmations confirmations_;
  std::atomic<std::shared_ptr<TlsContext>> context_;
  SessionHooks* hooks_ = nullptr;
  std::shared_ptr<const StaticFiles> files_;
  std::optional<sockaddr_storage> backend_;
  std::optional<sockaddr_storage> h2_backend_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::uint16_t port_ = 0;
  bool started_ = false;

  friend class Worker;
  friend class Connection;
};

} // namespace failover::tls
