#include "tls/connection.h"

#include "tls/http.h"
#include "tls/proxy_protocol.h"
#include "tls/server.h"
#include "tls/worker.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>

#include <array>

namespace failover::tls {

namespace {

// Bounds on what one connection buffers: reading stops while a buffer is this full.
constexpr std::size_t BUFFER_LIMIT = 256 * 1024;
constexpr std::size_t IO_CHUNK = 16 * 1024;
// Passes per event: enough for bytes read in one stage to reach the next, and bounded so one
// busy connection cannot starve the others on the worker.
constexpr int MAX_PASSES = 4;

} // namespace

Connection::Connection(Worker& worker, sys::UniqueFd client, SslPtr ssl, std::shared_ptr<TlsContext> context,
                       const sockaddr_storage& peer, const sockaddr_storage& local)
    : worker_(worker), server_(worker.server()), client_(std::move(client)), context_(std::move(context)),
      ssl_(std::move(ssl)),
      peer_(peer), local_(local), last_activity_(std::chrono::steady_clock::now()) {
  TlsContext::attachFacts(ssl_.get(), &facts_);
  reading_early_data_ = context_->settings().early_data;
  if (server_.config().sync.enabled) {
    staged_ = BIO_new(BIO_s_mem());
    if (staged_ != nullptr) {
      SSL_set0_wbio(ssl_.get(), staged_); // drops one reference to the socket BIO, the rbio keeps its own
    }
  }
}

Connection::~Connection() {
  if (backend_) {
    worker_.loop().remove(backend_.get());
  }
  worker_.loop().remove(client_.get());
  TlsCounters::add(server_.counters().connections_closed);
}

bool Connection::expired(std::chrono::steady_clock::time_point now) const {
  const auto limit = phase_ == Phase::Handshake ? server_.config().handshake_timeout
                                                : server_.config().idle_timeout;
  return now - last_activity_ > limit;
}

void Connection::beginDrain() {
  draining_ = true;
  // Only a keep-alive connection between requests closes at once (its client reopens, as
  // HTTP allows). A new one gets its first request answered: closing it would fail it.
  // HTTP/2 connections get a GOAWAY instead, from the next progress(), and close once their
  // streams are done.
  const bool idle = from_client_.empty() && to_client_.empty() && responses_ > 0;
  if (phase_ == Phase::Service && idle && !http2_ &&
      server_.config().service.kind == ServiceConfig::Kind::StaticFiles) {
    phase_ = Phase::Closing;
  }
}

bool Connection::sslProgress(int result) {
  switch (SSL_get_error(ssl_.get(), result)) {
  case SSL_ERROR_WANT_READ:
    return true;
  case SSL_ERROR_WANT_WRITE:
    tls_wants_write_ = true;
    return true;
  case SSL_ERROR_ZERO_RETURN:
    client_eof_ = true;
    return true;
  case SSL_ERROR_SYSCALL:
    if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET || errno == EPIPE)) {
      // The peer closed without close_notify: end of stream, as browsers do.
      client_eof_ = true;
      ERR_clear_error();
      return phase_ != Phase::Handshake;
    }
    [[fallthrough]];
  default:
    ERR_clear_error();
    return false;
  }
}

bool Connection::readEarlyData() {
  std::array<char, IO_CHUNK> buffer;
  while (reading_early_data_) {
    ERR_clear_error();
    std::size_t n = 0;
    switch (SSL_read_early_data(ssl_.get(), buffer.data(), buffer.size(), &n)) {
    case SSL_READ_EARLY_DATA_SUCCESS:
      from_client_.append(buffer.data(), n);
      break;
    case SSL_READ_EARLY_DATA_FINISH:
      reading_early_data_ = false;
      break;
    default: {
      const int error = SSL_get_error(ssl_.get(), -1);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        tls_wants_write_ = error == SSL_ERROR_WANT_WRITE;
        return true;
      }
      ERR_clear_error();
      return false;
    }
    }
  }
  return true;
}

bool Connection::handshake() {
  if (reading_early_data_) {
    if (!readEarlyData()) {
      TlsCounters::add(server_.counters().handshake_failures);
      return false;
    }
    if (reading_early_data_) {
      return true;
    }
  }
  ERR_clear_error();
  tls_wants_write_ = false;
  const int result = SSL_do_handshake(ssl_.get());
  if (result == 1) {
    phase_ = Phase::Service;
    return finishHandshake();
  }
  if (!sslProgress(result) || client_eof_) {
    TlsCounters::add(server_.counters().handshake_failures);
    return false;
  }
  return true;
}

bool Connection::finishHandshake() {
  auto& counters = server_.counters();
  const unsigned char* protocol = nullptr;
  unsigned int protocol_length = 0;
  SSL_get0_alpn_selected(ssl_.get(), &protocol, &protocol_length);
  http2_ = std::string_view(reinterpret_cast<const char*>(protocol), protocol_length) == ALPN_HTTP2;
  TlsCounters::add(http2_ ? counters.connections_http2 : counters.connections_http11);
  const bool tls13 = SSL_version(ssl_.get()) == TLS1_3_VERSION;
  if (SSL_session_reused(ssl_.get()) == 0) {
    TlsCounters::add(tls13 ? counters.full_tls13 : counters.full_tls12);
  } else if (!tls13) {
    TlsCounters::add(facts_.resumed_from_ticket ? counters.resumed_tls12_ticket
                                                : counters.resumed_tls12_session_id);
  } else {
    TlsCounters::add(facts_.resumed_from_cache ? counters.resumed_tls13_stateful
                                               : counters.resumed_tls13_ticket);
  }
  if (!http2_) {
    return true;
  }
  if (server_.config().service.kind == ServiceConfig::Kind::Relay) {
    client_frames_.emplace(Http2FrameCursor::CLIENT_PREFACE);
    backend_frames_.emplace();
    return true;
  }
  auto h2 = Http2Server::create(server_.files(), 200, counters);
  if (!h2) {
    return false;
  }
  h2_ = std::move(*h2);
  return true;
}

Connection::Step Connection::awaitConfirmation() {
  const auto& sync = server_.config().sync;
  auto& counters = server_.counters();
  const auto now = std::chrono::steady_clock::now();
  auto outcome = server_.confirmations().outcome(facts_.session_number);
  if (outcome == SessionConfirmations::Outcome::Pending && !holding_) {
    holding_ = true;
    hold_started_ = now;
    TlsCounters::add(counters.sync_held);
    worker_.hold(client_.get(), now + sync.bound);
    // A confirmation that landed before the worker announced the hold did not wake it.
    outcome = server_.confirmations().outcome(facts_.session_number);
  }
  if (outcome == SessionConfirmations::Outcome::Pending && now - hold_started_ < sync.bound) {
    return Step::Waiting;
  }
  if (holding_) {
    TlsCounters::add(counters.sync_wait_us, static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - hold_started_).count()));
  }
  holding_ = false;
  hold_settled_ = true;
  if (outcome == SessionConfirmations::Outcome::Confirmed) {
    TlsCounters::add(counters.sync_confirmed);
    return Step::Done;
  }
  if (sync.close_unconfirmed) {
    TlsCounters::add(counters.sync_closed);
    return Step::Failed;
  }
  TlsCounters::add(counters.sync_unprotected);
  return Step::Done;
}

Connection::Step Connection::sendStaged() {
  if (facts_.session_created && !hold_settled_) {
    if (const auto settled = awaitConfirmation(); settled != Step::Done) {
      return settled;
    }
  }
  const auto step = writeStaged();
  if (step == Step::Failed) {
    TlsCounters::add(server_.counters().handshake_failures);
  }
  if (step == Step::Done && phase_ != Phase::Handshake) {
    BIO* socket = SSL_get_rbio(ssl_.get());
    BIO_up_ref(socket);
    SSL_set0_wbio(ssl_.get(), socket); // frees the memory BIO
    staged_ = nullptr;
  }
  return step;
}

Connection::Step Connection::writeStaged() {
  std::array<char, IO_CHUNK> chunk;
  for (int n = 0; (n = BIO_read(staged_, chunk.data(), static_cast<int>(chunk.size()))) > 0;) {
    unsent_.append(chunk.data(), static_cast<std::size_t>(n));
  }
  while (!unsent_.empty()) {
    const ssize_t n = ::send(client_.get(), unsent_.data(), unsent_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      unsent_.erase(0, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return Step::Waiting;
    } else {
      return Step::Failed;
    }
  }
  return Step::Done;
}

bool Connection::sessionSettled() const noexcept {
  return server_.confirmations().outcome(facts_.session_number) != SessionConfirmations::Outcome::Pending;
}

bool Connection::readTls() {
  std::array<char, IO_CHUNK> buffer;
  while (!client_eof_ && phase_ == Phase::Service && from_client_.size() < BUFFER_LIMIT) {
    ERR_clear_error();
    const int n = SSL_read(ssl_.get(), buffer.data(), static_cast<int>(buffer.size()));
    if (n > 0) {
      from_client_.append(buffer.data(), static_cast<std::size_t>(n));
      continue;
    }
    tls_wants_write_ = false;
    const int error = SSL_get_error(ssl_.get(), n);
    if (!sslProgress(n)) {
      return false;
    }
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      break;
    }
  }
  return true;
}

bool Connection::writeTls() {
  while (!to_client_.empty()) {
    ERR_clear_error();
    const int n = SSL_write(ssl_.get(), to_client_.data(),
                            static_cast<int>(std::min(to_client_.size(), BUFFER_LIMIT)));
    if (n > 0) {
      to_client_.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    const int error = SSL_get_error(ssl_.get(), n);
    if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
      tls_wants_write_ = error == SSL_ERROR_WANT_WRITE;
      return true;
    }
    ERR_clear_error();
    return false;
  }
  return true;
}

void Connection::serveHttp() {
  auto& counters = server_.counters();
  while (phase_ == Phase::Service && to_client_.size() < BUFFER_LIMIT) {
    const auto parsed = parseHttpRequest(from_client_);
    if (parsed.status == HttpParse::Status::Incomplete) {
      if (client_eof_ || (draining_ && from_client_.empty() && responses_ > 0)) {
        phase_ = Phase::Closing;
      }
      return;
    }
    if (parsed.status == HttpParse::Status::Bad) {
      respondError(parsed.error_status, to_client_);
      TlsCounters::add(counters.http_errors);
      phase_ = Phase::Closing;
      return;
    }
    TlsCounters::add(counters.http_requests);
    const bool close = !parsed.request.keep_alive || draining_ || client_eof_;
    const int status = respond(*server_.files(), parsed.request, close, to_client_);
    ++responses_;
    if (status >= 400) {
      TlsCounters::add(counters.http_errors);
    }
    from_client_.erase(0, parsed.consumed);
    if (close || status == 405) {
      phase_ = Phase::Closing;
    }
  }
}

bool Connection::serveHttp2() {
  if (!from_client_.empty()) {
    const bool http2 = h2_->receive(from_client_);
    from_client_.clear();
    if (!http2) {
      return false;
    }
  }
  if (draining_) {
    h2_->goAway();
  }
  if (!h2_->send(to_client_, BUFFER_LIMIT)) {
    return false;
  }
  if (h2_->finished()) {
    phase_ = Phase::Closing;
  }
  return true;
}

bool Connection::backendDown() {
  TlsCounters::add(server_.counters().backend_connect_failures);
  if (backend_) {
    worker_.loop().remove(backend_.get());
    backend_.reset();
  }
  backend_failed_ = true;
  to_backend_.clear();
  if (http2_) {
    auto h2 = Http2Server::create(nullptr, 502, server_.counters());
    if (!h2) {
      return false;
    }
    h2_ = std::move(*h2);
    return serveHttp2();
  }
  answerBackendDownHttp11();
  return true;
}

void Connection::answerBackendDownHttp11() {
  if (parseHttpRequest(from_client_).status == HttpParse::Status::Incomplete && !client_eof_) {
    return; // answered once the request is in
  }
  from_client_.clear();
  TlsCounters::add(server_.counters().http_errors);
  respondError(502, to_client_);
  phase_ = Phase::Closing;
}

bool Connection::serve() {
  if (h2_) {
    return serveHttp2();
  }
  if (server_.config().service.kind == ServiceConfig::Kind::StaticFiles) {
    serveHttp();
    return true;
  }
  if (backend_failed_) {
    answerBackendDownHttp11();
    return true;
  }
  return relay();
}

void Connection::sendRelayGoAway() {
  if (draining_ && !relay_goaway_sent_ && backend_frames_ && backend_frames_->atBoundary()) {
    to_client_ += http2GoAwayFrame(client_frames_->highestStream());
    relay_goaway_sent_ = true;
  }
}

bool Connection::openBackend() {
  const auto& address = http2_ ? *server_.h2_backend_ : *server_.backend_;
  sys::UniqueFd fd(::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    return false;
  }
  const auto length = address.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address),
                static_cast<socklen_t>(length)) < 0 &&
      errno != EINPROGRESS) {
    return false;
  }
  if (server_.config().service.proxy_protocol) {
    const auto header = proxyV2Header(peer_, local_);
    to_backend_.assign(header.begin(), header.end());
  }
  backend_ = std::move(fd);
  backend_connecting_ = true;
  backend_interest_ = EPOLLOUT;
  return static_cast<bool>(worker_.watchBackend(backend_.get(), client_.get(), backend_interest_));
}

bool Connection::relay() {
  auto& counters = server_.counters();
  if (!backend_ && !openBackend()) {
    return backendDown();
  }
  if (backend_connecting_) {
    pollfd writable{backend_.get(), POLLOUT, 0};
    if (::poll(&writable, 1, 0) <= 0) {
      return true;
    }
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(backend_.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      return backendDown();
    }
    backend_connecting_ = false;
  }
  if (client_frames_) {
    client_frames_->follow(from_client_);
  }
  to_backend_ += from_client_;
  from_client_.clear();
  while (!to_backend_.empty()) {
    const ssize_t n = ::send(backend_.get(), to_backend_.data(), to_backend_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      to_backend_.erase(0, static_cast<std::size_t>(n));
      TlsCounters::add(counters.bytes_relayed, static_cast<std::uint64_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      break;
    } else {
      return false;
    }
  }
  if (client_eof_ && to_backend_.empty() && !backend_write_shut_) {
    ::shutdown(backend_.get(), SHUT_WR);
    backend_write_shut_ = true;
  }
  std::array<char, IO_CHUNK> buffer;
  while (!backend_eof_ && to_client_.size() < BUFFER_LIMIT) {
    const ssize_t n = ::recv(backend_.get(), buffer.data(), buffer.size(), 0);
    if (n > 0) {
      to_client_.append(buffer.data(), static_cast<std::size_t>(n));
      TlsCounters::add(counters.bytes_relayed, static_cast<std::uint64_t>(n));
      if (backend_frames_) {
        backend_frames_->follow({buffer.data(), static_cast<std::size_t>(n)});
      }
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      break;
    } else {
      backend_eof_ = true;
    }
  }
  sendRelayGoAway();
  if (backend_eof_) {
    phase_ = Phase::Closing;
  }
  return true;
}

bool Connection::progress() {
  last_activity_ = std::chrono::steady_clock::now();
  if (phase_ == Phase::Handshake && !holding_ && !handshake()) {
    if (staged_ != nullptr) {
      (void)writeStaged(); // the alert, best effort
    }
    return false;
  }
  if (staged_ != nullptr) {
    const auto step = sendStaged();
    if (step == Step::Failed) {
      return false;
    }
    if (step == Step::Waiting) {
      updateInterest();
      return true;
    }
  }
  if (phase_ == Phase::Handshake) {
    updateInterest();
    return true;
  }
  const bool relaying = server_.config().service.kind == ServiceConfig::Kind::Relay;
  for (int pass = 0; pass < MAX_PASSES; ++pass) {
    const auto before = from_client_.size() + to_client_.size() + to_backend_.size();
    const bool was_eof = client_eof_;
    if (!readTls()) {
      return false;
    }
    if (!serve()) {
      return false;
    }
    if (!writeTls()) {
      return false;
    }
    if (before == from_client_.size() + to_client_.size() + to_backend_.size() && was_eof == client_eof_) {
      break;
    }
  }
  if (phase_ == Phase::Closing && to_client_.empty() && !tls_wants_write_) {
    ERR_clear_error();
    SSL_shutdown(ssl_.get()); // best effort close_notify; the socket closes either way
    ERR_clear_error();
    return false;
  }
  if ((!relaying || backend_failed_) && client_eof_ && to_client_.empty()) {
    return false;
  }
  updateInterest();
  return true;
}

void Connection::updateInterest() {
  std::uint32_t client = 0;
  if (phase_ == Phase::Handshake ||
      (!client_eof_ && phase_ == Phase::Service && from_client_.size() < BUFFER_LIMIT &&
       to_backend_.size() < BUFFER_LIMIT)) {
    client |= EPOLLIN;
  }
  if (!to_client_.empty() || tls_wants_write_ || !unsent_.empty() || (h2_ && h2_->wantsWrite())) {
    client |= EPOLLOUT;
  }
  if (holding_) {
    client = 0; // the worker wakes it; a hang-up still arrives (EPOLLHUP is always reported)
  }
  if (client != client_interest_) {
    (void)worker_.loop().modify(client_.get(), client);
    client_interest_ = client;
  }
  if (backend_) {
    std::uint32_t backend = 0;
    if (backend_connecting_ || !to_backend_.empty()) {
      backend |= EPOLLOUT;
    }
    if (!backend_connecting_ && !backend_eof_ && to_client_.size() < BUFFER_LIMIT) {
      backend |= EPOLLIN;
    }
    if (backend != backend_interest_) {
      (void)worker_.loop().modify(backend_.get(), backend);
      backend_interest_ = backend;
    }
  }
}

} // namespace failover::tls
