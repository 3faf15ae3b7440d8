#include "daemon/tls_process.h"

#include "daemon/exit_codes.h"
#include "daemon/log.h"
#include "daemon/session_reports.h"
#include "sys/event_loop.h"
#include "sys/shared_memory.h"
#include "tls/service_channel.h"

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>

namespace failover::daemon {

namespace {

namespace channel = tls::channel;

// Applies one message from the agent; returns false when the process should end.
bool apply(tls::TlsServer& server, const tls::TlsSettings& settings, int channel_fd, const channel::Message& message,
           bool& seeded) {
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  return std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, channel::ImportSession>) {
          // Checked here, unprivileged: its DER parses as a session for this ID and context.
          (void)server.context()->importSession(body.record, now);
        } else if constexpr (std::is_same_v<T, channel::SessionRemoved>) {
          server.cache().remove(body.id);
        } else if constexpr (std::is_same_v<T, channel::Keyring>) {
          if (auto imported = server.keyring().importKeys(body.keys); !imported) {
            Log{LogLevel::Error, "tls-service"} << "ticket keys from the agent refused: " << imported.error().message;
          }
        } else if constexpr (std::is_same_v<T, channel::Seeded>) {
          seeded = true;
        } else if constexpr (std::is_same_v<T, channel::Confirmed>) {
          server.sessionsConfirmed(body.through);
        } else if constexpr (std::is_same_v<T, channel::Abandoned>) {
          server.sessionsAbandoned(body.through);
        } else if constexpr (std::is_same_v<T, channel::CloseConnections>) {
          server.closeConnections();
        } else if constexpr (std::is_same_v<T, channel::Drain>) {
          server.drain(std::chrono::milliseconds(body.bound_ms));
          return false;
        } else if constexpr (std::is_same_v<T, channel::Certificates>) {
          auto reloaded = server.reloadTls(settings, body.certificates);
          (void)channel::sendDatagram(channel_fd, channel::encode(channel::CertificatesLoaded{
                                                      reloaded ? std::string() : reloaded.error().message}));
        } else {
          Log{LogLevel::Error, "tls-service"} << "the agent sent a message meant for it; ignored";
        }
        return true;
      },
      message);
}

// Reads what the agent sent, until nothing is waiting. False: stop (drained). The agent gone
// (its end closed) ends this process at once, as if it had died with it: a handshake held
// for its session's confirmation must not complete after the agent that would have
// replicated it is gone (the client would hold a session no other node has).
bool readChannel(tls::TlsServer& server, const tls::TlsSettings& settings, int fd, sys::SecretBuffer& buffer,
                 bool& seeded) {
  channel::Message message;
  for (;;) {
    auto received = channel::receive(fd, buffer, message);
    if (!received) {
      Log{LogLevel::Error, "tls-service"} << received.error().message << ": exiting";
      std::_Exit(EXIT_RUNTIME_FAILURE);
    }
    if (!*received) {
      return true;
    }
    if (!apply(server, settings, fd, message, seeded)) {
      return false;
    }
  }
}

} // namespace

sys::SystemCallPolicy tlsProcessPolicy() {
  return {{// the data path: sockets it was given or accepted, backends it connects to
           "accept4", "connect", "read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg",
           "sendmmsg",
           "shutdown", "close", "setsockopt", "getsockopt", "getsockname", "getpeername", "fcntl", "ioctl",
           // its loops and timers
           "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "timerfd_settime", "timerfd_gettime",
           "poll", "ppoll",
           // memory, threads' waits, time, randomness, signals, leaving
           "mmap", "munmap", "mprotect", "madvise", "mremap", "brk", "futex", "clock_gettime", "clock_nanosleep",
           "nanosleep", "gettimeofday", "getrandom", "gettid", "getpid", "sched_yield", "rt_sigprocmask",
           "rt_sigaction", "rt_sigreturn", "sigaltstack", "tgkill", "exit", "exit_group", "restart_syscall",
           "fstat", "newfstatat", "lseek",
           // what a thread does as it begins: the workers may still be starting when the
           // filter goes on (glibc aborts if it cannot register rseq)
           "rseq", "set_robust_list",
#if defined(__SANITIZE_ADDRESS__)
           // The sanitizers' own needs (test builds): reading the process's maps for a report,
           // and probing whether memory is readable through a pipe (UBSan's vptr check).
           "openat", "readlink", "getdents64", "prctl", "sched_getaffinity", "getrlimit", "prlimit64", "uname",
           "pipe", "pipe2",
#endif
          },
          {AF_INET, AF_INET6}};
}

namespace {

int serve(const Config& config, unsigned listener_count) {
  // The agent stops this process through the channel; SIGTERM from the service manager (the
  // whole unit being stopped) must leave the draining to the agent, and a vanished agent is
  // noticed on the channel.
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  setLogLevel(config.log_level);
  auto counters_memory = sys::SharedMemory::attach(sys::UniqueFd(TLS_COUNTERS_FD), sizeof(tls::TlsCounters));
  if (!counters_memory) {
    Log{LogLevel::Error, "tls-service"} << counters_memory.error().message;
    return EXIT_RUNTIME_FAILURE;
  }
  auto* counters = static_cast<tls::TlsCounters*>(counters_memory->data());
  const sys::UniqueFd channel_fd(TLS_CHANNEL_FD);
  std::vector<sys::UniqueFd> listeners;
  for (unsigned i = 0; i < listener_count; ++i) {
    listeners.emplace_back(TLS_FIRST_LISTENER_FD + static_cast<int>(i));
  }
  // Before the workers start, so that they inherit it.
  if (config.tls_cpus) {
    if (auto pinned = config.tls_cpus->pinThisThread(); !pinned) {
      Log{LogLevel::Error, "tls-service"} << "tls-cpus = " << config.tls_cpus->toString() << ": "
                                          << pinned.error().message;
      return EXIT_RUNTIME_FAILURE;
    }
  }
  SessionReports hooks(channel_fd.get(), *counters);
  auto server = tls::TlsServer::create(config.listener, &hooks, counters);
  if (!server) {
    Log{LogLevel::Error, "tls-service"} << "cannot start: " << server.error().message;
    return EXIT_RUNTIME_FAILURE;
  }
  const pid_t agent = ::getppid();
  if (auto dropped = sys::becomeAccount(config.tls_user); !dropped) {
    Log{LogLevel::Error, "tls-service"} << "cannot become user '" << config.tls_user.name
                                        << "': " << dropped.error().message;
    return EXIT_RUNTIME_FAILURE;
  }
  // Dies with the agent, at once (see readChannel). Set after the change of user, which
  // clears it; an agent already gone shows as another parent.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || ::getppid() != agent) {
    Log{LogLevel::Error, "tls-service"} << "the agent is gone: exiting";
    return EXIT_RUNTIME_FAILURE;
  }
  auto loop = sys::EventLoop::create();
  if (!loop) {
    Log{LogLevel::Error, "tls-service"} << loop.error().message;
    return EXIT_RUNTIME_FAILURE;
  }
  sys::SecretBuffer buffer;
  bool seeded = false;
  bool ended = false;
  if (auto added = loop->add(channel_fd.get(), EPOLLIN,
                             [&](std::uint32_t) {
                               if (!readChannel(**server, config.listener.tls, channel_fd.get(), buffer, seeded)) {
                                 ended = true;
                                 loop->stop();
                               }
                             });
      !added) {
    Log{LogLevel::Error, "tls-service"} << added.error().message;
    return EXIT_RUNTIME_FAILURE;
  }
  // The seed first, so that the first client already resumes.
  while (!seeded && !ended) {
    if (auto ran = loop->runOnce(std::chrono::milliseconds(-1)); !ran) {
      Log{LogLevel::Error, "tls-service"} << ran.error().message;
      return EXIT_RUNTIME_FAILURE;
    }
  }
  if (ended) {
    return EXIT_OK;
  }
  if (auto started = (*server)->start(std::move(listeners)); !started) {
    Log{LogLevel::Error, "tls-service"} << "cannot start the workers: " << started.error().message;
    return EXIT_RUNTIME_FAILURE;
  }
  if (auto confined = sys::confineSystemCalls(tlsProcessPolicy()); !confined) {
    Log{LogLevel::Error, "tls-service"} << confined.error().message;
    return EXIT_RUNTIME_FAILURE;
  }
  if (auto sent = channel::sendDatagram(channel_fd.get(), channel::encode(channel::Started{})); !sent) {
    Log{LogLevel::Error, "tls-service"} << sent.error().message;
    return EXIT_RUNTIME_FAILURE;
  }
  if (auto ran = loop->run(); !ran) {
    Log{LogLevel::Error, "tls-service"} << ran.error().message;
    (*server)->drain(std::chrono::milliseconds(0));
    return EXIT_RUNTIME_FAILURE;
  }
  return EXIT_OK;
}

} // namespace

int runTlsProcess(const Config& config, unsigned listener_count) {
  const int code = serve(config, listener_count);
#if defined(__SANITIZE_ADDRESS__)
  // Test builds: LeakSanitizer's check at exit stops every thread with ptrace, which this
  // process's filter and change of user forbid (the check aborts). Its TLS server's leaks are
  // checked where the same code runs unconfined: the unit tests and tls-tool's lab tests.
  std::_Exit(code);
#endif
  return code;
}

} // namespace failover::daemon
