#pragma once

#include "sys/error.h"
#include "sys/unique_fd.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace failover::sys {

// An IPv4 or IPv6 address with a port, as the socket calls take it.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  // "198.18.0.1" or "fd00:198:18::1" (no names: a cluster link is configured by address).
  static Result<SocketAddress> parse(const std::string& address, std::uint16_t port);
  int family() const noexcept { return storage.ss_family; }
  // The address alone (no port), comparable: what a datagram's sender is checked against.
  bool sameHost(const SocketAddress& other) const noexcept;
  std::string toString() const;
};

// A non-blocking UDP socket bound to one local address (one cluster link).
class UdpSocket {
public:
  static Result<UdpSocket> bind(const SocketAddress& local);
  int fd() const noexcept { return fd_.get(); }
  // A datagram that cannot be sent now (a full buffer, an unreachable peer) is an error the
  // caller counts; UDP promises nothing more.
  Status send(const SocketAddress& to, std::span<const std::uint8_t> datagram) const;
  struct Received {
    std::size_t size = 0;
    SocketAddress from;
  };
  // nullopt once nothing more is waiting.
  Result<std::optional<Received>> receive(std::span<std::uint8_t> buffer) const;

private:
  explicit UdpSocket(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

} // namespace failover::sys
