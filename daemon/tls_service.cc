#include "daemon/tls_service.h"

#include "daemon/log.h"
#include "daemon/tls_process.h"
#include "sys/process.h"

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace failover::daemon {

namespace channel = tls::channel;
using namespace std::chrono_literals;

namespace {

// The channel's socket buffers: a burst of handshakes (or a re-seed) queues here first.
constexpr int CHANNEL_BUFFER = 8 << 20;
// A process that has not taken this much of what the agent sent is stuck: it is restarted.
constexpr std::size_t MAX_OUTBOUND = 256u << 20;
// Restarts after a failure wait 100 ms, then twice as long each time, up to 5 s; a process
// that served for a minute resets the wait.
constexpr auto FIRST_BACKOFF = 100ms;
constexpr auto MAX_BACKOFF = 5000ms;
constexpr auto STABLE_AFTER = 60s;
// How long stop() waits for the process beyond its drain bound.
constexpr auto EXIT_GRACE = 1000ms;
// How long a reload waits for the process to use new certificates: parsing a few PEM files
// takes milliseconds, and the agent's loop must not stall near the VIP guard's bound.
constexpr auto CERTIFICATES_WAIT = 50ms;

std::string exitDescription(int status) {
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return std::string("was killed by signal ") + ::strsignal(WTERMSIG(status));
  }
  return "ended";
}

sys::TimerFd timerOrThrow() {
  auto timer = sys::TimerFd::create();
  if (!timer) {
    throw std::runtime_error("TLS service: " + timer.error().message);
  }
  return std::move(*timer);
}

} // namespace

sys::Result<sys::SharedMemory> TlsService::createCounters() {
  auto memory = sys::SharedMemory::create("failoverd-tls-counters", sizeof(tls::TlsCounters));
  if (memory) {
    new (memory->data()) tls::TlsCounters{};
  }
  return memory;
}

TlsService::TlsService(tls::TlsServer& mirror, sys::SharedMemory counters, std::function<std::string()> configuration,
                       sys::EventLoop& loop, Callbacks callbacks)
    : mirror_(mirror), counters_(std::move(counters)), configuration_(std::move(configuration)), loop_(loop),
      callbacks_(std::move(callbacks)), restart_timer_(timerOrThrow()) {
  auto listeners = mirror_.openListeners();
  if (!listeners) {
    throw std::runtime_error("TLS service: " + listeners.error().message);
  }
  listeners_ = std::move(*listeners);
  if (auto added = loop_.add(restart_timer_.fd(), EPOLLIN,
                             [this](std::uint32_t) {
                               restart_timer_.acknowledge();
                               restart();
                             });
      !added) {
    throw std::runtime_error("TLS service: " + added.error().message);
  }
}

TlsService::~TlsService() {
  loop_.remove(restart_timer_.fd());
  if (process_) {
    loop_.remove(process_->channel.get());
    loop_.remove(process_->pidfd.get());
    ::kill(process_->pid, SIGKILL);
    ::waitpid(process_->pid, nullptr, 0);
  }
}

sys::Status TlsService::start() { return spawn(); }

void TlsService::restart() {
  if (process_ || stopping_) {
    return;
  }
  if (auto spawned = spawn(); !spawned) {
    Log{LogLevel::Error, "tls-service"} << spawned.error().message;
    scheduleRestart();
  }
}

sys::Status TlsService::spawn() {
  if (listeners_.empty()) {
    auto listeners = mirror_.openListeners();
    if (!listeners) {
      return sys::fail(listeners.error().code, "cannot restart the TLS service: " + listeners.error().message);
    }
    listeners_ = std::move(*listeners);
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0) {
    return std::unexpected(sys::systemError("socketpair(TLS service channel)"));
  }
  sys::UniqueFd ours(pair[0]);
  sys::UniqueFd theirs(pair[1]);
  for (const int fd : pair) {
    // As root, past net.core.wmem_max: a burst must not find the channel full.
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &CHANNEL_BUFFER, sizeof CHANNEL_BUFFER);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &CHANNEL_BUFFER, sizeof CHANNEL_BUFFER);
  }
  const auto text = configuration_();
  auto configuration = sys::SharedMemory::create("failoverd-tls-config", text.size());
  if (!configuration) {
    return std::unexpected(configuration.error());
  }
  std::copy(text.begin(), text.end(), static_cast<char*>(configuration->data()));
  std::vector<int> passed{theirs.get(), counters_.fd(), configuration->fd()};
  for (const auto& listener : listeners_) {
    passed.push_back(listener.get());
  }
  // This very binary (/proc/self/exe), even if an upgrade replaced the file meanwhile.
  auto pid = sys::spawnProcess({"/proc/self/exe", "--tls-service", std::to_string(listeners_.size()), "--config",
                                TLS_CONFIG_PATH},
                               -1, {}, passed);
  if (!pid) {
    return sys::fail(pid.error().code, "cannot start the TLS service process: " + pid.error().message);
  }
  listeners_.clear(); // the process holds them alone from here on (see the member)
  auto process = std::make_unique<Process>();
  process->pid = *pid;
  process->channel = std::move(ours);
  process->pidfd = sys::UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0)));
  process->started_at = std::chrono::steady_clock::now();
  if (!process->pidfd || !loop_.add(process->pidfd.get(), EPOLLIN, [this](std::uint32_t) { onExit(); }) ||
      !loop_.add(process->channel.get(), EPOLLIN, [this](std::uint32_t events) { onChannel(events); })) {
    loop_.remove(process->pidfd.get());
    ::kill(*pid, SIGKILL);
    ::waitpid(*pid, nullptr, 0);
    return std::unexpected(sys::systemError("watching the TLS service process"));
  }
  process_ = std::move(process);
  ++stats_.starts;
  seed();
  Log{LogLevel::Info, "tls-service"} << "process " << process_->pid << " started; seeding it with "
                                     << mirror_.cache().stats().entries << " sessions";
  return {};
}

channel::Message TlsService::keyringMessage() const {
  const auto keys = mirror_.keyring().exportKeys();
  return channel::Keyring{sys::SecretBuffer(keys.view().begin(), keys.view().end())};
}

void TlsService::seed() {
  keyring_sent_ = mirror_.keyring().generation();
  send(keyringMessage());
  for (auto& record : mirror_.cache().snapshot(static_cast<std::int64_t>(std::time(nullptr)))) {
    send(channel::ImportSession{std::move(record)});
  }
  send(channel::Seeded{});
}

void TlsService::send(const channel::Message& message) {
  if (!process_ || process_->cut_off) {
    return; // a restarted process gets the whole state in its seed
  }
  auto& process = *process_;
  auto datagram = channel::encode(message);
  if (process.outbound.empty()) {
    auto sent = channel::sendDatagram(process.channel.get(), datagram);
    if (sent) {
      return;
    }
    if (sent.error().sys_errno != EAGAIN) {
      cutOff(sent.error().message);
      return;
    }
    (void)loop_.modify(process.channel.get(), EPOLLIN | EPOLLOUT);
  }
  process.outbound_bytes += datagram.size();
  process.outbound.push_back(std::move(datagram));
  if (process.outbound_bytes > MAX_OUTBOUND) {
    cutOff("it has not read " + std::to_string(process.outbound_bytes) + " bytes sent to it");
  }
}

void TlsService::flush() {
  auto& process = *process_;
  while (!process.outbound.empty() && !process.cut_off) {
    auto sent = channel::sendDatagram(process.channel.get(), process.outbound.front());
    if (!sent) {
      if (sent.error().sys_errno != EAGAIN) {
        cutOff(sent.error().message);
      }
      return;
    }
    process.outbound_bytes -= process.outbound.front().size();
    process.outbound.pop_front();
  }
  (void)loop_.modify(process.channel.get(), EPOLLIN);
}

void TlsService::onChannel(std::uint32_t events) {
  if ((events & EPOLLOUT) != 0) {
    flush();
  }
  readMessages();
  callbacks_.reported();
}

void TlsService::readMessages() {
  channel::Message message;
  while (process_ && !process_->cut_off) {
    auto received = channel::receive(process_->channel.get(), receive_buffer_, message);
    if (!received) {
      if (received.error().code == sys::Errc::Unavailable) {
        loop_.remove(process_->channel.get()); // it is ending: its exit is handled on its pidfd
        return;
      }
      cutOff(received.error().message);
      return;
    }
    if (!*received) {
      return;
    }
    if (!channel::fromService(message)) {
      cutOff("it sent a message only the agent may send (type " + std::to_string(message.index()) + ")");
      return;
    }
    onMessage(std::move(message));
  }
}

void TlsService::onMessage(channel::Message message) {
  auto& process = *process_;
  if (auto* created = std::get_if<channel::SessionCreated>(&message)) {
    if (!process.unsettled.empty() && created->number <= process.unsettled.back().second) {
      cutOff("session number " + std::to_string(created->number) + " after " +
             std::to_string(process.unsettled.back().second));
      return;
    }
    (void)mirror_.cache().insert(created->record, static_cast<std::int64_t>(std::time(nullptr)));
    const auto number = callbacks_.session_created(created->record);
    // Only a process that holds handshakes (sync mode, fixed until a restart) waits to hear how
    // its sessions fared: elsewhere the answer would wake its channel thread per session for
    // nothing.
    if (mirror_.config().sync.enabled) {
      if (number == 0) {
        send(channel::Abandoned{created->number});
      } else {
        process.unsettled.emplace_back(number, created->number);
      }
    }
  } else if (auto* removed = std::get_if<channel::SessionRemoved>(&message)) {
    mirror_.cache().remove(removed->id);
    callbacks_.session_removed(removed->id);
  } else if (std::holds_alternative<channel::Started>(message)) {
    stats_.pid = process.pid;
    Log{LogLevel::Notice, "tls-service"} << "process " << process.pid << " serves on port " << mirror_.port()
                                         << ", unprivileged and confined";
  } else if (auto* loaded = std::get_if<channel::CertificatesLoaded>(&message)) {
    certificates_answer_ = std::move(loaded->error);
  }
}

void TlsService::cutOff(const std::string& why) {
  auto& process = *process_;
  if (process.cut_off) {
    return;
  }
  process.cut_off = true;
  ++stats_.channel_errors;
  Log{LogLevel::Error, "tls-service"} << "cutting off process " << process.pid << ": " << why;
  loop_.remove(process.channel.get());
  ::kill(process.pid, SIGKILL); // its pidfd reports the exit, and it is restarted then
}

void TlsService::onExit() {
  int status = 0;
  ::waitpid(process_->pid, &status, 0);
  const auto served = std::chrono::steady_clock::now() - process_->started_at;
  Log{stopping_ ? LogLevel::Info : LogLevel::Error, "tls-service"}
      << "process " << process_->pid << " " << exitDescription(status);
  loop_.remove(process_->channel.get());
  loop_.remove(process_->pidfd.get());
  process_.reset();
  stats_.pid = -1;
  if (!stopping_) {
    if (served >= STABLE_AFTER) {
      backoff_ = 0ms;
    }
    scheduleRestart();
  }
}

void TlsService::scheduleRestart() {
  backoff_ = backoff_ == 0ms ? FIRST_BACKOFF : std::min<std::chrono::milliseconds>(backoff_ * 2, MAX_BACKOFF);
  Log{LogLevel::Notice, "tls-service"} << "starting another process in " << backoff_.count() << " ms";
  (void)restart_timer_.arm(backoff_);
}

void TlsService::settle(std::uint64_t through, bool confirmed) {
  if (!process_) {
    return;
  }
  std::uint64_t own = 0;
  while (!process_->unsettled.empty() && process_->unsettled.front().first <= through) {
    own = process_->unsettled.front().second;
    process_->unsettled.pop_front();
  }
  if (own != 0) {
    send(confirmed ? channel::Message{channel::Confirmed{own}} : channel::Message{channel::Abandoned{own}});
  }
}

void TlsService::sessionsConfirmed(std::uint64_t through) { settle(through, true); }
void TlsService::sessionsAbandoned(std::uint64_t through) { settle(through, false); }
void TlsService::importSession(const tls::SessionRecord& record) { send(channel::ImportSession{record}); }
void TlsService::removeSession(std::span<const std::uint8_t> id) {
  send(channel::SessionRemoved{{id.begin(), id.end()}});
}
void TlsService::closeConnections() { send(channel::CloseConnections{}); }

void TlsService::syncKeyring() {
  if (mirror_.keyring().generation() != keyring_sent_) {
    keyring_sent_ = mirror_.keyring().generation();
    send(keyringMessage());
  }
}

sys::Status TlsService::reloadCertificates(std::vector<tls::CertificatePem> certificates) {
  if (!process_) {
    return sys::fail(sys::Errc::Unavailable, "no TLS service process runs now: the next one loads them");
  }
  certificates_answer_.reset();
  send(channel::Certificates{std::move(certificates)});
  const auto deadline = std::chrono::steady_clock::now() + CERTIFICATES_WAIT;
  // The answer comes in order behind whatever the process sent before it: those are handled
  // as the loop would, and so is its end if it ends now.
  while (process_ && !process_->cut_off && !certificates_answer_) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd readable{process_->channel.get(), POLLIN, 0};
    if (left <= 0ms || ::poll(&readable, 1, static_cast<int>(left.count()) + 1) <= 0) {
      return sys::fail(sys::Errc::Timeout, "the TLS service process has not answered within " +
                                               std::to_string(CERTIFICATES_WAIT.count()) + " ms");
    }
    onChannel(EPOLLIN);
  }
  if (!certificates_answer_) {
    return sys::fail(sys::Errc::Unavailable, "the TLS service process ended: the next one loads them");
  }
  if (!certificates_answer_->empty()) {
    return sys::fail(sys::Errc::InvalidArgument, "the TLS service process refused them: " + *certificates_answer_);
  }
  return {};
}

void TlsService::stop(std::chrono::milliseconds bound) {
  stopping_ = true;
  (void)restart_timer_.disarm();
  if (!process_) {
    return;
  }
  send(channel::Drain{static_cast<std::uint32_t>(bound.count())});
  flush();
  pollfd exited{process_->pidfd.get(), POLLIN, 0};
  if (::poll(&exited, 1, static_cast<int>((bound + EXIT_GRACE).count())) <= 0) {
    Log{LogLevel::Warning, "tls-service"} << "process " << process_->pid << " did not drain in time: killing it";
    ::kill(process_->pid, SIGKILL);
  }
  onExit();
}

} // namespace failover::daemon
