#include "sys/udp.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>

namespace failover::sys {

Result<SocketAddress> SocketAddress::parse(const std::string& address, std::uint16_t port) {
  SocketAddress result;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&result.storage);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    result.length = sizeof(sockaddr_in);
    return result;
  }
  if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    result.length = sizeof(sockaddr_in6);
    return result;
  }
  return fail(Errc::InvalidArgument, "'" + address + "' is not an IPv4 or IPv6 address");
}

bool SocketAddress::sameHost(const SocketAddress& other) const noexcept {
  if (family() != other.family()) {
    return false;
  }
  if (family() == AF_INET) {
    return std::memcmp(&reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr,
                       &reinterpret_cast<const sockaddr_in*>(&other.storage)->sin_addr, sizeof(in_addr)) == 0;
  }
  return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr,
                     &reinterpret_cast<const sockaddr_in6*>(&other.storage)->sin6_addr, sizeof(in6_addr)) == 0;
}

std::string SocketAddress::toString() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(v4->sin_port));
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
  ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
  return "[" + std::string(text) + "]:" + std::to_string(ntohs(v6->sin6_port));
}

Result<UdpSocket> UdpSocket::bind(const SocketAddress& local) {
  UniqueFd fd(::socket(local.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    return fail(Errc::System, std::string("socket: ") + std::strerror(errno));
  }
  if (local.family() == AF_INET6) {
    const int only = 1;
    (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only);
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local.storage), local.length) != 0) {
    return fail(Errc::System, "bind " + local.toString() + ": " + std::strerror(errno) +
                                  " (is the address on this node, and the port free?)");
  }
  return UdpSocket(std::move(fd));
}

Status UdpSocket::send(const SocketAddress& to, std::span<const std::uint8_t> datagram) const {
  if (::sendto(fd_.get(), datagram.data(), datagram.size(), MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&to.storage), to.length) < 0) {
    return fail(Errc::System, "send to " + to.toString() + ": " + std::strerror(errno));
  }
  return {};
}

Result<std::optional<UdpSocket::Received>> UdpSocket::receive(std::span<std::uint8_t> buffer) const {
  Received received;
  received.from.length = sizeof received.from.storage;
  const auto size = ::recvfrom(fd_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT | MSG_TRUNC,
                               reinterpret_cast<sockaddr*>(&received.from.storage), &received.from.length);
  if (size < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return std::optional<Received>{};
    }
    return fail(Errc::System, std::string("receive: ") + std::strerror(errno));
  }
  received.size = static_cast<std::size_t>(size);
  return std::optional<Received>{received};
}

} // namespace failover::sys
