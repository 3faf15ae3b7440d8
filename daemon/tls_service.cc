#include "daemon/tls_service.h"

#include "daemon/log.h"
#include "sys/process.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

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
// How long stop() waits for the processes beyond their drain bound.
constexpr auto EXIT_GRACE = 1000ms;

std::string exitDescription(int status) {
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return std::string("was killed by signal ") + ::strsignal(WTERMSIG(status));
  }
  return "ended";
}

} // namespace

sys::Result<sys::SharedMemory> TlsService::createCounters() {
  auto memory = sys::SharedMemory::create("failoverd-tls-counters", sizeof(tls::TlsCounters));
  if (memory) {
    new (memory->data()) tls::TlsCounters{};
  }
  return memory;
}

TlsService::TlsService(tls::TlsServer& mirror, sys::SharedMemory counters, std::vector<std::string> arguments,
                       sys::EventLoop& loop, Callbacks callbacks)
    : mirror_(mirror), counters_(std::move(counters)), arguments_(std::move(arguments)), loop_(loop),
      callbacks_(std::move(callbacks)), restart_timer_([] {
        auto timer = sys::TimerFd::create();
        if (!timer) {
          throw std::runtime_error("TLS service: " + timer.error().message);
        }
        return std::move(*timer);
      }()) {
  auto listeners = mirror_.openListeners();
  if (!listeners) {
    throw std::runtime_error("TLS service: " + listeners.error().message);
  }
  listeners_ = std::move(*listeners);
  if (auto added = loop_.add(restart_timer_.fd(), EPOLLIN,
                             [this](std::uint32_t) {
                               restart_timer_.acknowledge();
                               if (auto spawned = spawn(); !spawned) {
                                 Log{LogLevel::Error, "tls-service"} << spawned.error().message;
                                 backoff_ = std::min<std::chrono::milliseconds>(backoff_ * 2, MAX_BACKOFF);
                                 (void)restart_timer_.arm(backoff_);
                               }
                             });
      !added) {
    throw std::runtime_error("TLS service: " + added.error().message);
  }
}

TlsService::~TlsService() {
  loop_.remove(restart_timer_.fd());
  for (auto& process : processes_) {
    loop_.remove(process->channel.get());
    loop_.remove(process->pidfd.get());
    ::kill(process->pid, SIGKILL);
    ::waitpid(process->pid, nullptr, 0);
  }
}

sys::Status TlsService::start() { return spawn(); }

sys::Status TlsService::spawn() {
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
  std::vector<int> passed{theirs.get(), counters_.fd()};
  for (const auto& listener : listeners_) {
    passed.push_back(listener.get());
  }
  auto argv = arguments_;
  argv[0] = "/proc/self/exe"; // this very binary, even if an upgrade replaced the file meanwhile
  argv.push_back("--tls-service");
  argv.push_back(std::to_string(listeners_.size()));
  auto pid = sys::spawnProcess(argv, -1, {}, passed);
  if (!pid) {
    return sys::fail(pid.error().code, "cannot start the TLS service process: " + pid.error().message);
  }
  auto process = std::make_unique<Process>();
  process->pid = *pid;
  process->channel = std::move(ours);
  process->pidfd = sys::UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0)));
  process->started_at = std::chrono::steady_clock::now();
  auto& p = *process;
  if (!p.pidfd || !loop_.add(p.pidfd.get(), EPOLLIN, [this, &p](std::uint32_t) { onExit(p); }) ||
      !loop_.add(p.channel.get(), EPOLLIN, [this, &p](std::uint32_t events) { onChannel(p, events); })) {
    ::kill(*pid, SIGKILL);
    ::waitpid(*pid, nullptr, 0);
    loop_.remove(p.pidfd.get());
    return std::unexpected(sys::systemError("watching the TLS service process"));
  }
  processes_.push_back(std::move(process));
  ++stats_.starts;
  seed(p);
  Log{LogLevel::Info, "tls-service"} << "process " << p.pid << " started; seeding it with "
                                     << mirror_.cache().stats().entries << " sessions";
  return {};
}

channel::Message TlsService::keyringMessage() const {
  const auto keys = mirror_.keyring().exportKeys();
  return channel::Keyring{sys::SecretBuffer(keys.view().begin(), keys.view().end())};
}

void TlsService::seed(Process& process) {
  syncKeyring(); // the others first, so that every process has the generation recorded
  send(process, keyringMessage());
  for (auto& record : mirror_.cache().snapshot(static_cast<std::int64_t>(std::time(nullptr)))) {
    send(process, channel::ImportSession{std::move(record)});
  }
  send(process, channel::Seeded{});
}

void TlsService::send(Process& process, const channel::Message& message) {
  if (process.cut_off) {
    return;
  }
  auto datagram = channel::encode(message);
  if (process.outbound.empty()) {
    auto sent = channel::sendDatagram(process.channel.get(), datagram);
    if (sent) {
      return;
    }
    if (sent.error().sys_errno != EAGAIN) {
      cutOff(process, sent.error().message);
      return;
    }
    (void)loop_.modify(process.channel.get(), EPOLLIN | EPOLLOUT);
  }
  process.outbound_bytes += datagram.size();
  process.outbound.push_back(std::move(datagram));
  if (process.outbound_bytes > MAX_OUTBOUND) {
    cutOff(process, "it has not read " + std::to_string(process.outbound_bytes) + " bytes sent to it");
  }
}

void TlsService::flush(Process& process) {
  while (!process.outbound.empty()) {
    auto sent = channel::sendDatagram(process.channel.get(), process.outbound.front());
    if (!sent) {
      if (sent.error().sys_errno != EAGAIN) {
        cutOff(process, sent.error().message);
      }
      return;
    }
    process.outbound_bytes -= process.outbound.front().size();
    process.outbound.pop_front();
  }
  (void)loop_.modify(process.channel.get(), EPOLLIN);
}

void TlsService::onChannel(Process& process, std::uint32_t events) {
  if ((events & EPOLLOUT) != 0) {
    flush(process);
  }
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0) {
    return;
  }
  channel::Message message;
  while (!process.cut_off) {
    auto received = channel::receive(process.channel.get(), receive_buffer_, message);
    if (!received) {
      if (received.error().code == sys::Errc::Unavailable) {
        loop_.remove(process.channel.get()); // it is ending: its exit is handled on its pidfd
        return;
      }
      cutOff(process, received.error().message);
      return;
    }
    if (!*received) {
      return;
    }
    if (!channel::fromService(message)) {
      cutOff(process, "it sent a message only the agent may send (type " + std::to_string(message.index()) + ")");
      return;
    }
    onMessage(process, std::move(message));
  }
}

void TlsService::onMessage(Process& process, channel::Message message) {
  if (auto* created = std::get_if<channel::SessionCreated>(&message)) {
    if (!process.unsettled.empty() && created->number <= process.unsettled.back().second) {
      cutOff(process, "session number " + std::to_string(created->number) + " after " +
                          std::to_string(process.unsettled.back().second));
      return;
    }
    (void)mirror_.cache().insert(created->record, static_cast<std::int64_t>(std::time(nullptr)));
    const auto number = callbacks_.session_created(created->record);
    if (number == 0) {
      send(process, channel::Abandoned{created->number});
    } else {
      process.unsettled.emplace_back(number, created->number);
    }
  } else if (auto* removed = std::get_if<channel::SessionRemoved>(&message)) {
    mirror_.cache().remove(removed->id);
    callbacks_.session_removed(removed->id);
  } else if (std::holds_alternative<channel::Started>(message)) {
    if (!process.retiring) {
      stats_.pid = process.pid;
    }
    Log{LogLevel::Notice, "tls-service"} << "process " << process.pid << " serves on port " << mirror_.port()
                                         << ", unprivileged and confined";
  }
}

void TlsService::cutOff(Process& process, const std::string& why) {
  if (process.cut_off) {
    return;
  }
  process.cut_off = true;
  ++stats_.channel_errors;
  Log{LogLevel::Error, "tls-service"} << "cutting off process " << process.pid << ": " << why;
  loop_.remove(process.channel.get());
  ::kill(process.pid, SIGKILL); // its pidfd reports the exit; a serving one is restarted then
}

void TlsService::onExit(Process& process) {
  int status = 0;
  ::waitpid(process.pid, &status, 0);
  const bool serving = !process.retiring && !stopping_;
  const auto served = std::chrono::steady_clock::now() - process.started_at;
  if (process.pid == stats_.pid) {
    stats_.pid = -1;
  }
  if (serving) {
    backoff_ = served >= STABLE_AFTER || backoff_ == 0ms ? FIRST_BACKOFF
                                                         : std::min<std::chrono::milliseconds>(backoff_ * 2, MAX_BACKOFF);
    Log{LogLevel::Error, "tls-service"} << "process " << process.pid << " " << exitDescription(status)
                                        << ": starting another in " << backoff_.count() << " ms";
    (void)restart_timer_.arm(backoff_);
  } else {
    Log{LogLevel::Info, "tls-service"} << "process " << process.pid << " " << exitDescription(status);
  }
  forget(process);
}

void TlsService::forget(Process& process) {
  loop_.remove(process.channel.get());
  loop_.remove(process.pidfd.get());
  std::erase_if(processes_, [&process](const auto& p) { return p.get() == &process; });
}

void TlsService::settle(std::uint64_t through, bool confirmed) {
  for (auto& process : processes_) {
    std::uint64_t own = 0;
    while (!process->unsettled.empty() && process->unsettled.front().first <= through) {
      own = process->unsettled.front().second;
      process->unsettled.pop_front();
    }
    if (own != 0) {
      send(*process, confirmed ? channel::Message{channel::Confirmed{own}} : channel::Message{channel::Abandoned{own}});
    }
  }
}

void TlsService::sessionsConfirmed(std::uint64_t through) { settle(through, true); }
void TlsService::sessionsAbandoned(std::uint64_t through) { settle(through, false); }

void TlsService::importSession(const tls::SessionRecord& record) {
  for (auto& process : processes_) {
    send(*process, channel::ImportSession{record});
  }
}

void TlsService::removeSession(std::span<const std::uint8_t> id) {
  for (auto& process : processes_) {
    send(*process, channel::SessionRemoved{{id.begin(), id.end()}});
  }
}

void TlsService::syncKeyring() {
  if (mirror_.keyring().generation() == keyring_sent_) {
    return;
  }
  keyring_sent_ = mirror_.keyring().generation();
  const auto keys = keyringMessage();
  for (auto& process : processes_) {
    send(*process, keys);
  }
}

void TlsService::closeConnections() {
  for (auto& process : processes_) {
    send(*process, channel::CloseConnections{});
  }
}

void TlsService::replace() {
  for (auto& process : processes_) {
    if (!process->retiring) {
      process->retiring = true;
      send(*process, channel::Drain{2000});
    }
  }
  if (auto spawned = spawn(); !spawned) {
    Log{LogLevel::Error, "tls-service"} << spawned.error().message;
    backoff_ = FIRST_BACKOFF;
    (void)restart_timer_.arm(backoff_);
  }
}

void TlsService::stop(std::chrono::milliseconds bound) {
  stopping_ = true;
  (void)restart_timer_.disarm();
  for (auto& process : processes_) {
    send(*process, channel::Drain{static_cast<std::uint32_t>(bound.count())});
    flush(*process);
  }
  const auto deadline = std::chrono::steady_clock::now() + bound + EXIT_GRACE;
  while (!processes_.empty()) {
    auto& process = *processes_.front();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd exited{process.pidfd.get(), POLLIN, 0};
    if (left <= 0ms || ::poll(&exited, 1, static_cast<int>(left.count())) <= 0) {
      Log{LogLevel::Warning, "tls-service"} << "process " << process.pid << " did not drain in time: killing it";
      ::kill(process.pid, SIGKILL);
    }
    int status = 0;
    ::waitpid(process.pid, &status, 0);
    forget(process);
  }
  stats_.pid = -1;
}

} // namespace failover::daemon
