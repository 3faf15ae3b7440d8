#pragma once

#include "sys/unique_fd.h"
#include "tls/context.h"
#include "tls/http2.h"
#include "tls/http2_frames.h"
#include "tls/openssl_ptr.h"

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace failover::tls {

class TlsServer;
class Worker;

// One client connection on a worker: the TLS handshake, then the service (the HTTP
// responder, or a relay to the backend). Level-triggered: every event runs progress(), which
// moves bytes as far as they go without blocking and then sets the epoll interest from what
// is pending. Owned and destroyed by its worker.
class Connection {
public:
  Connection(Worker& worker, sys::UniqueFd client, SslPtr ssl, std::shared_ptr<TlsContext> context,
             const sockaddr_storage& peer, const sockaddr_storage& local);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Returns false once the connection is finished and should be destroyed.
  bool progress();
  // Drain: an idle keep-alive connection closes now; a busy one after its current response.
  void beginDrain();
  bool expired(std::chrono::steady_clock::time_point now) const;
  int fd() const noexcept { return client_.get(); }
  int backendFd() const noexcept { return backend_.get(); }
  // Sync mode: the final handshake flight waits for its session's confirmation.
  bool holding() const noexcept { return holding_; }
  // Sync mode: the held session is confirmed or abandoned (its hold may end before its bound).
  bool sessionSettled() const noexcept;

private:
  enum class Phase { Handshake, Service, Closing };
  enum class Step { Done, Waiting, Failed };

  bool handshake();
  // TLS 1.3 0-RTT: reads early data into from_client_ before the handshake completes.
  bool readEarlyData();
  bool readTls();
  bool writeTls();
  // The service, by the protocol ALPN chose: HTTP/1.1 or HTTP/2 from the files, or the relay.
  bool serve();
  void serveHttp();
  bool serveHttp2();
  bool relay();
  bool openBackend();
  // The relay's backend cannot be reached: the client gets a 502 in its protocol.
  bool backendDown();
  void answerBackendDownHttp11();
  // While draining an h2 relay: a GOAWAY between two of the backend's frames.
  void sendRelayGoAway();
  bool finishHandshake();
  // Sync mode: sends what OpenSSL wrote to the memory BIO, once any session the handshake
  // created is settled; after the handshake, hands the socket back to OpenSSL. A flight the
  // socket refuses is a failed handshake.
  Step sendStaged();
  // Moves the memory BIO's bytes to the socket, as far as it takes them.
  Step writeStaged();
  Step awaitConfirmation();
  void updateInterest();
  // Classifies an OpenSSL result; returns false when the connection failed.
  bool sslProgress(int result);

  Worker& worker_;
  TlsServer& server_;
  sys::UniqueFd client_;
  sys::UniqueFd backend_;
  // Declared before ssl_ so that it outlives it: OpenSSL's callbacks for this connection
  // find their owner through the context's ex_data, even after a reload replaced it.
  std::shared_ptr<TlsContext> context_;
  SslPtr ssl_;
  TlsContext::HandshakeFacts facts_;
  sockaddr_storage peer_{};
  sockaddr_storage local_{};
  Phase phase_ = Phase::Handshake;
  std::string from_client_; // plaintext read from TLS
  std::string to_client_;   // plaintext to write into TLS
  std::string to_backend_;
  bool tls_wants_write_ = false;
  bool reading_early_data_ = false;
  bool client_eof_ = false;
  bool backend_connecting_ = false;
  bool backend_eof_ = false;
  bool backend_write_shut_ = false;
  bool draining_ = false;
  bool http2_ = false;         // ALPN chose h2
  bool backend_failed_ = false;
  std::unique_ptr<Http2Server> h2_; // HTTP/2 from the files, or the relay's 502 answers
  // An h2 relay follows both directions' frame boundaries, to send a GOAWAY when draining.
  std::optional<Http2FrameCursor> client_frames_;
  std::optional<Http2FrameCursor> backend_frames_;
  bool relay_goaway_sent_ = false;
  std::uint64_t responses_ = 0;
  std::uint32_t client_interest_ = 0;
  std::uint32_t backend_interest_ = 0;
  std::chrono::steady_clock::time_point last_activity_;
  // Sync mode: OpenSSL writes into this memory BIO (owned by ssl_) until the handshake's
  // output is out; unsent_ is what the socket did not take yet.
  BIO* staged_ = nullptr;
  std::string unsent_;
  bool holding_ = false;
  bool hold_settled_ = false;
  std::chrono::steady_clock::time_point hold_started_;
};

} // namespace failover::tls
