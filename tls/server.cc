#include "tls/server.h"

#include "tls/connection.h"
#include "tls/worker.h"
#include "sys/cpu_set.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>

namespace failover::tls {

using sys::Errc;
using sys::fail;
using namespace std::chrono_literals;

namespace {

constexpr int LISTEN_BACKLOG = 4096;
// Accepts per wake-up, so one flood of connections cannot starve the established ones.
constexpr int ACCEPT_BATCH = 64;
constexpr auto SWEEP_INTERVAL = 1s;

sys::Result<sockaddr_storage> socketAddress(const std::string& address, std::uint16_t port) {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
  } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
  } else {
    return fail(Errc::InvalidArgument, "'" + address + "' is not an IPv4 or IPv6 address");
  }
  return storage;
}

socklen_t lengthOf(const sockaddr_storage& storage) {
  return storage.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

std::int64_t nanosecondsOf(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

} // namespace

TlsServer::TlsServer(ListenerConfig config, TlsCounters* counters)
    : config_(std::move(config)), cache_(config_.cache_entries, config_.cache_bytes),
      keyring_(config_.ticket_rotation, config_.tls.session_timeout),
      counters_(counters != nullptr ? *counters : own_counters_) {}

sys::Result<std::unique_ptr<TlsServer>> TlsServer::create(ListenerConfig config, SessionHooks* hooks,
                                                          TlsCounters* counters) {
  std::unique_ptr<TlsServer> server(new TlsServer(std::move(config), counters));
  auto& c = server->config_;
  auto context = TlsContext::create(c.tls, server->cache_, server->keyring_, server->counters_, hooks);
  if (!context) {
    return std::unexpected(context.error());
  }
  server->context_.store(std::shared_ptr<TlsContext>(std::move(*context)));
  server->hooks_ = hooks;
  if (c.service.kind == ServiceConfig::Kind::StaticFiles) {
    auto files = StaticFiles::load(c.service.document_root, c.service.max_document_bytes);
    if (!files) {
      return std::unexpected(files.error());
    }
    server->files_ = std::move(*files);
  } else {
    auto backend = socketAddress(c.service.backend_address, c.service.backend_port);
    if (!backend) {
      return std::unexpected(backend.error());
    }
    server->backend_ = *backend;
    const bool offers_h2 = std::ranges::find(c.tls.alpn, ALPN_HTTP2) != c.tls.alpn.end();
    if (offers_h2 != !c.service.h2_backend_address.empty()) {
      return sys::fail(sys::Errc::InvalidArgument,
                       offers_h2 ? "the relay offers h2 but has no h2 backend: give one, or offer only http/1.1"
                                 : "the relay has an h2 backend but does not offer h2: offer h2, or drop the h2 backend");
    }
    if (offers_h2) {
      auto h2_backend = socketAddress(c.service.h2_backend_address, c.service.h2_backend_port);
      if (!h2_backend) {
        return std::unexpected(h2_backend.error());
      }
      server->h2_backend_ = *h2_backend;
    }
  }
  if (auto generated = server->keyring_.generate(static_cast<std::int64_t>(std::time(nullptr)));
      !generated) {
    return std::unexpected(generated.error());
  }
  if (c.workers == 0) {
    // One per CPU this process may run on (tls-cpus, a unit's CPUAffinity=), not per CPU online.
    const auto cpus = sys::CpuSet::ofThisThread();
    c.workers = cpus ? static_cast<unsigned>(std::max<std::size_t>(1, cpus->count()))
                     : std::max(1u, std::thread::hardware_concurrency());
  }
  return server;
}

TlsServer::~TlsServer() { drain(0ms); }

sys::Result<sys::UniqueFd> TlsServer::openListener() {
  auto address = socketAddress(config_.address, port_ != 0 ? port_ : config_.port);
  if (!address) {
    return std::unexpected(address.error());
  }
  sys::UniqueFd fd(::socket(address->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    return std::unexpected(sys::systemError("socket"));
  }
  const int on = 1;
  const int off = 0;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) {
    return std::unexpected(sys::systemError("setsockopt(SO_REUSEPORT)"));
  }
  if (address->ss_family == AF_INET6) {
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  if (config_.freebind) {
    ::setsockopt(fd.get(), IPPROTO_IP, IP_FREEBIND, &on, sizeof on);
    if (address->ss_family == AF_INET6) {
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_FREEBIND, &on, sizeof on);
    }
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*address), lengthOf(*address)) < 0) {
    auto error = sys::systemError("cannot listen on " + config_.address + " port " +
                                  std::to_string(config_.port));
    if (error.code == Errc::PermissionDenied) {
      error.message += " (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
    }
    return std::unexpected(error);
  }
  if (::listen(fd.get(), LISTEN_BACKLOG) < 0) {
    return std::unexpected(sys::systemError("listen"));
  }
  if (port_ == 0) {
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length);
    port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in&>(bound).sin_port
                                             : reinterpret_cast<sockaddr_in6&>(bound).sin6_port);
  }
  return fd;
}

sys::Result<std::vector<sys::UniqueFd>> TlsServer::openListeners() {
  std::vector<sys::UniqueFd> listeners;
  for (unsigned i = 0; i < config_.workers; ++i) {
    auto listener = openListener();
    if (!listener) {
      return std::unexpected(listener.error());
    }
    listeners.push_back(std::move(*listener));
  }
  return listeners;
}

sys::Status TlsServer::start() {
  auto listeners = openListeners();
  if (!listeners) {
    return std::unexpected(listeners.error());
  }
  return start(std::move(*listeners));
}

sys::Status TlsServer::start(std::vector<sys::UniqueFd> listeners) {
  if (started_) {
    return {};
  }
  for (auto& listener : listeners) {
    auto worker = Worker::create(*this, std::move(listener));
    if (!worker) {
      return std::unexpected(worker.error());
    }
    workers_.push_back(std::move(*worker));
  }
  for (auto& worker : workers_) {
    worker->start();
  }
  started_ = true;
  return {};
}

void TlsServer::drain(std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (auto& worker : workers_) {
    worker->drain(deadline);
  }
  for (auto& worker : workers_) {
    worker->join();
  }
  workers_.clear();
}

sys::Status TlsServer::reloadTls(const TlsSettings& settings) {
  auto certificates = readCertificates(settings);
  if (!certificates) {
    return std::unexpected(certificates.error());
  }
  return reloadTls(settings, *certificates);
}

sys::Status TlsServer::reloadTls(const TlsSettings& settings, const std::vector<CertificatePem>& certificates) {
  auto context = TlsContext::create(settings, certificates, cache_, keyring_, counters_, hooks_);
  if (!context) {
    return std::unexpected(context.error());
  }
  context_.store(std::shared_ptr<TlsContext>(std::move(*context)));
  return {};
}

void TlsServer::closeConnections() {
  for (auto& worker : workers_) {
    worker->closeConnections();
  }
}

void TlsServer::sessionsConfirmed(std::uint64_t through) {
  confirmations_.confirm(through);
  wakeHolders();
}

void TlsServer::sessionsAbandoned(std::uint64_t through) {
  confirmations_.abandon(through);
  wakeHolders();
}

void TlsServer::wakeHolders() {
  for (auto& worker : workers_) {
    worker->sessionsSettled();
  }
}

std::size_t TlsServer::openConnections() const noexcept {
  return counters_.open_connections.load(std::memory_order_relaxed);
}

sys::Result<std::unique_ptr<Worker>> Worker::create(TlsServer& server, sys::UniqueFd listener) {
  auto loop = sys::EventLoop::create();
  if (!loop) {
    return std::unexpected(loop.error());
  }
  auto wake = sys::Wakeup::create();
  if (!wake) {
    return std::unexpected(wake.error());
  }
  auto sweep = sys::TimerFd::create();
  if (!sweep) {
    return std::unexpected(sweep.error());
  }
  auto hold_timer = sys::TimerFd::create();
  if (!hold_timer) {
    return std::unexpected(hold_timer.error());
  }
  std::unique_ptr<Worker> worker(new Worker(server, std::move(listener), std::move(*loop), std::move(*wake),
                                            std::move(*sweep), std::move(*hold_timer)));
  auto& w = *worker;
  for (auto added : {w.loop_.add(w.listener_.get(), EPOLLIN, [&w](std::uint32_t) { w.onAccept(); }),
                     w.loop_.add(w.wake_.fd(), EPOLLIN, [&w](std::uint32_t) { w.onWake(); }),
                     w.loop_.add(w.sweep_.fd(), EPOLLIN, [&w](std::uint32_t) { w.onSweep(); }),
                     w.loop_.add(w.hold_timer_.fd(), EPOLLIN, [&w](std::uint32_t) {
                       w.hold_timer_.acknowledge();
                       w.progressHeld();
                     })}) {
    if (!added) {
      return std::unexpected(added.error());
    }
  }
  if (auto armed = w.sweep_.arm(SWEEP_INTERVAL); !armed) {
    return std::unexpected(armed.error());
  }
  return worker;
}

Worker::Worker(TlsServer& server, sys::UniqueFd listener, sys::EventLoop loop, sys::Wakeup wake,
               sys::TimerFd sweep, sys::TimerFd hold_timer)
    : server_(server), listener_(std::move(listener)), loop_(std::move(loop)),
      wake_(std::move(wake)), sweep_(std::move(sweep)), hold_timer_(std::move(hold_timer)) {}

Worker::~Worker() {
  join();
  connections_.clear();
  countOpen(0);
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::run() {
  // OpenSSL writes to sockets with write(), so a client that hangs up mid-write raises
  // SIGPIPE, which would kill the process. It is sent to the writing thread: blocking it here
  // turns it into EPIPE without changing the process's signal handling.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  (void)loop_.run([hooks = server_.hooks()] {
    if (hooks != nullptr) {
      hooks->flush();
    }
  });
}

void Worker::drain(std::chrono::steady_clock::time_point deadline) {
  drain_deadline_ns_.store(nanosecondsOf(deadline));
  drain_requested_.store(true);
  wake_.notify();
}

void Worker::closeConnections() {
  close_requested_.store(true);
  wake_.notify();
}

void Worker::sessionsSettled() {
  if (holding_.load() == 0) {
    return;
  }
  settled_.store(true);
  wake_.notify();
}

void Worker::hold(int client_fd, std::chrono::steady_clock::time_point deadline) {
  held_.push_back({client_fd, deadline});
  holding_.store(held_.size());
  if (held_.size() == 1) {
    armHoldTimer();
  }
}

void Worker::armHoldTimer() {
  if (held_.empty()) {
    (void)hold_timer_.disarm();
    return;
  }
  (void)hold_timer_.arm(std::max<std::chrono::nanoseconds>(held_.front().deadline - std::chrono::steady_clock::now(),
                                                           std::chrono::microseconds(1)));
}

void Worker::progressHeld() {
  std::deque<Held> waiting;
  auto held = std::move(held_);
  held_.clear();
  const auto now = std::chrono::steady_clock::now();
  for (const auto& entry : held) {
    const auto it = connections_.find(entry.client_fd);
    if (it == connections_.end()) {
      continue;
    }
    // Only the holds that can end run: a wake-up settles a few sessions of the many held.
    if (now < entry.deadline && !it->second->sessionSettled()) {
      waiting.push_back(entry);
    } else if (!it->second->progress()) {
      close(entry.client_fd);
    } else if (it->second->holding()) {
      waiting.push_back(entry);
    }
  }
  // Holds begun while this ran were appended to held_; they come after the older ones.
  waiting.insert(waiting.end(), held_.begin(), held_.end());
  held_ = std::move(waiting);
  holding_.store(held_.size());
  armHoldTimer();
}

void Worker::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

sys::Status Worker::watchBackend(int backend_fd, int client_fd, std::uint32_t events) {
  return loop_.add(backend_fd, events, [this, client_fd](std::uint32_t) { onConnectionEvent(client_fd, 0); });
}

void Worker::onAccept() {
  for (int i = 0; i < ACCEPT_BATCH && listener_; ++i) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    sys::UniqueFd client(::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&peer), &length,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!client) {
      return; // EAGAIN, or a connection that died in the queue (ECONNABORTED)
    }
    TlsCounters::add(server_.counters_.connections_accepted);
    const int on = 1;
    ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    sockaddr_storage local{};
    length = sizeof local;
    ::getsockname(client.get(), reinterpret_cast<sockaddr*>(&local), &length);
    auto context = server_.context();
    SslPtr ssl(SSL_new(context->initial()));
    if (!ssl || SSL_set_fd(ssl.get(), client.get()) != 1) {
      continue;
    }
    SSL_set_accept_state(ssl.get());
    const int fd = client.get();
    auto connection =
        std::make_unique<Connection>(*this, std::move(client), std::move(ssl), std::move(context), peer, local);
    if (!loop_.add(fd, EPOLLIN, [this, fd](std::uint32_t events) { onConnectionEvent(fd, events); })) {
      continue;
    }
    connections_.emplace(fd, std::move(connection));
    countOpen(connections_.size());
    if (draining_) {
      connections_[fd]->beginDrain();
    }
  }
}

void Worker::countOpen(std::size_t open) {
  const auto before = std::exchange(open_, open);
  server_.counters_.open_connections.fetch_add(open - before, std::memory_order_relaxed); // wraps down as well
}

void Worker::onConnectionEvent(int client_fd, std::uint32_t client_events) {
  const auto it = connections_.find(client_fd);
  if (it == connections_.end()) {
    return;
  }
  // A held connection listens for nothing, so its client's socket reports only a hang-up.
  if (it->second->holding() && (client_events & (EPOLLHUP | EPOLLERR)) != 0) {
    TlsCounters::add(server_.counters_.handshake_failures);
    close(client_fd);
  } else if (!it->second->progress()) {
    close(client_fd);
  }
}

void Worker::close(int client_fd) {
  connections_.erase(client_fd);
  // The fd may be reused at once: a stale hold must not apply to the next connection.
  std::erase_if(held_, [client_fd](const Held& entry) { return entry.client_fd == client_fd; });
  holding_.store(held_.size());
  countOpen(connections_.size());
  if (draining_ && connections_.empty()) {
    loop_.stop();
  }
}

void Worker::stopListening() {
  if (!listener_) {
    return;
  }
  // Take in what is already queued on this socket: closing a SO_REUSEPORT listener resets
  // the connections still waiting in its backlog.
  onAccept();
  loop_.remove(listener_.get());
  listener_.reset();
}

void Worker::drainConnections() {
  std::vector<int> open;
  for (auto& [fd, connection] : connections_) {
    connection->beginDrain();
    open.push_back(fd);
  }
  // Idle keep-alive connections close at once; the rest progress to their end.
  for (int fd : open) {
    onConnectionEvent(fd, 0);
  }
}

void Worker::onWake() {
  wake_.acknowledge();
  if (settled_.exchange(false)) {
    progressHeld();
  }
  if (close_requested_.exchange(false)) {
    drainConnections();
  }
  if (!drain_requested_.load() || draining_) {
    return;
  }
  draining_ = true;
  stopListening();
  drainConnections();
  if (connections_.empty()) {
    loop_.stop();
  } else {
    onSweep();
  }
}

void Worker::onSweep() {
  sweep_.acknowledge();
  const auto now = std::chrono::steady_clock::now();
  if (draining_ && nanosecondsOf(now) >= drain_deadline_ns_.load()) {
    connections_.clear(); // the drain bound is over: close what is left
    held_.clear();
    holding_.store(0);
    countOpen(0);
    loop_.stop();
    return;
  }
  std::vector<int> expired;
  for (const auto& [fd, connection] : connections_) {
    if (connection->expired(now)) {
      expired.push_back(fd);
    }
  }
  for (int fd : expired) {
    close(fd);
  }
  std::chrono::nanoseconds next = SWEEP_INTERVAL;
  if (draining_) {
    const auto left = std::chrono::nanoseconds(drain_deadline_ns_.load() - nanosecondsOf(now));
    next = std::min<std::chrono::nanoseconds>(next, std::max<std::chrono::nanoseconds>(left, 1ms));
  }
  (void)sweep_.arm(next);
}

} // namespace failover::tls
