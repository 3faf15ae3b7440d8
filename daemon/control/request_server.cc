#include "daemon/control/request_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace failover::daemon {

sys::Result<std::unique_ptr<RequestServer>> RequestServer::listenUnix(const std::string& path, mode_t mode,
                                                                      gid_t group, sys::EventLoop& loop,
                                                                      Options options, Handler handler) {
  sockaddr_un address{};
  if (path.size() >= sizeof address.sun_path) {
    return sys::fail(sys::Errc::InvalidArgument, "control socket path '" + path + "' is too long");
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    return std::unexpected(sys::systemError("socket(AF_UNIX)"));
  }
  // A socket file left by a crashed run would make bind fail with EADDRINUSE.
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
    return std::unexpected(sys::systemError("cannot bind the control socket " + path +
                                            " (does its directory exist?)"));
  }
  if (::chown(path.c_str(), 0, group) < 0 || ::chmod(path.c_str(), mode) < 0 || ::listen(fd.get(), SOMAXCONN) < 0) {
    return std::unexpected(sys::systemError("cannot set up the control socket " + path));
  }
  return serve(std::move(fd), loop, std::move(options), std::move(handler), path);
}

sys::Result<std::unique_ptr<RequestServer>> RequestServer::listenTcp(const std::string& address, std::uint16_t port,
                                                                     sys::EventLoop& loop, Options options,
                                                                     Handler handler) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof *v4;
  } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof *v6;
  } else {
    return sys::fail(sys::Errc::InvalidArgument, "'" + address + "' is not an IP address");
  }
  sys::UniqueFd fd(::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int on = 1;
  if (!fd || ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
      ::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) < 0 || ::listen(fd.get(), SOMAXCONN) < 0) {
    return std::unexpected(sys::systemError("cannot listen on " + address + " port " + std::to_string(port)));
  }
  return serve(std::move(fd), loop, std::move(options), std::move(handler), "");
}

sys::Result<std::unique_ptr<RequestServer>> RequestServer::serve(sys::UniqueFd listener, sys::EventLoop& loop,
                                                                 Options options, Handler handler, std::string path) {
  auto timer = sys::TimerFd::create();
  if (!timer) {
    return std::unexpected(timer.error());
  }
  std::unique_ptr<RequestServer> server(new RequestServer(std::move(listener), std::move(*timer), loop,
                                                          std::move(options), std::move(handler), std::move(path)));
  auto* self = server.get();
  if (auto added = loop.add(self->listener_.get(), EPOLLIN, [self](std::uint32_t) { self->onAccept(); }); !added) {
    return std::unexpected(added.error());
  }
  if (auto added = loop.add(self->timer_.fd(), EPOLLIN, [self](std::uint32_t) { self->closeExpired(); }); !added) {
    loop.remove(self->listener_.get());
    return std::unexpected(added.error());
  }
  return server;
}

RequestServer::RequestServer(sys::UniqueFd listener, sys::TimerFd timer, sys::EventLoop& loop, Options options,
                             Handler handler, std::string path)
    : listener_(std::move(listener)), timer_(std::move(timer)), loop_(loop), options_(std::move(options)),
      handler_(std::move(handler)), path_(std::move(path)) {}

RequestServer::~RequestServer() {
  for (auto& [fd, client] : clients_) {
    loop_.remove(fd);
  }
  loop_.remove(timer_.fd());
  loop_.remove(listener_.get());
  if (!path_.empty()) {
    ::unlink(path_.c_str());
  }
}

void RequestServer::onAccept() {
  for (;;) {
    sys::UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      armForEarliest();
      return;
    }
    if (options_.allow) {
      ucred credentials{};
      socklen_t length = sizeof credentials;
      std::vector<gid_t> groups(256);
      socklen_t groups_length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
      const bool known = ::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 &&
                         ::getsockopt(fd.get(), SOL_SOCKET, SO_PEERGROUPS, groups.data(), &groups_length) == 0;
      groups.resize(groups_length / sizeof(gid_t));
      if (!known || !options_.allow(credentials, groups)) {
        ++counters_.refused;
        (void)!::send(fd.get(), options_.refused_answer.data(), options_.refused_answer.size(),
                      MSG_NOSIGNAL | MSG_DONTWAIT);
        continue;
      }
    }
    if (clients_.size() >= options_.max_connections) {
      closeOldest();
    }
    const int raw = fd.get();
    if (!loop_.add(raw, EPOLLIN, [this, raw](std::uint32_t) { onClient(raw); })) {
      continue;
    }
    auto& client = clients_[raw];
    client.fd = std::move(fd);
    client.deadline = std::chrono::steady_clock::now() + options_.timeout;
  }
}

void RequestServer::onClient(int fd) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) {
    return;
  }
  auto& client = it->second;
  if (!client.answered) {
    char buffer[1024];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      close(fd);
      return;
    }
    if (n > 0) {
      client.in.append(buffer, static_cast<std::size_t>(n));
    }
    const auto end = client.in.find(options_.terminator);
    if (end == std::string::npos && client.in.size() <= options_.max_request) {
      return;
    }
    if (end == std::string::npos) {
      ++counters_.too_large;
      client.out = options_.too_large_answer;
    } else {
      client.out = handler_(client.in.substr(0, end));
    }
    client.answered = true;
    (void)loop_.modify(fd, EPOLLOUT);
  }
  const ssize_t n = ::send(fd, client.out.data(), client.out.size(), MSG_NOSIGNAL);
  if (n > 0) {
    client.out.erase(0, static_cast<std::size_t>(n));
  }
  if (client.out.empty() || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    close(fd);
  }
}

void RequestServer::closeExpired() {
  timer_.acknowledge();
  const auto now = std::chrono::steady_clock::now();
  std::vector<int> expired;
  for (const auto& [fd, client] : clients_) {
    if (client.deadline <= now) {
      expired.push_back(fd);
    }
  }
  for (const int fd : expired) {
    ++counters_.timed_out;
    close(fd);
  }
  armForEarliest();
}

std::map<int, RequestServer::Client>::iterator RequestServer::oldest() {
  // Every connection gets the same timeout, so the oldest is the one with the earliest deadline.
  return std::ranges::min_element(clients_,
                                  [](const auto& a, const auto& b) { return a.second.deadline < b.second.deadline; });
}

void RequestServer::closeOldest() {
  if (const auto client = oldest(); client != clients_.end()) {
    ++counters_.evicted;
    close(client->first);
  }
}

void RequestServer::armForEarliest() {
  const auto earliest = oldest();
  if (earliest == clients_.end()) {
    (void)timer_.disarm();
  } else {
    (void)timer_.arm(earliest->second.deadline - std::chrono::steady_clock::now());
  }
}

void RequestServer::close(int fd) {
  loop_.remove(fd);
  clients_.erase(fd);
}

} // namespace failover::daemon
