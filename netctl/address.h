#pragma once

#include "sys/error.h"

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace failover::netctl {

enum class Family : std::uint8_t { V4 = AF_INET, V6 = AF_INET6 };

struct IpAddress {
  Family family = Family::V4;
  // Network byte order; an IPv4 address uses the first 4 bytes.
  std::array<std::uint8_t, 16> bytes{};

  std::size_t size() const noexcept { return family == Family::V4 ? 4 : 16; }
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct IpPrefix {
  IpAddress address;
  std::uint8_t length = 0;
  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};

sys::Result<IpAddress> parseIpAddress(std::string_view text);
// "198.18.1.10/24" or "fd00:198:18::10/64"; the prefix length is required, because the
// kernel derives the VIP's subnet route from it.
sys::Result<IpPrefix> parseIpPrefix(std::string_view text);

std::string toString(const IpAddress& address);
std::string toString(const IpPrefix& prefix);

// Checks the kernel's rules for an interface name (1-15 bytes, no '/', no whitespace) without
// looking it up, so that a configuration can be checked on another machine.
sys::Status validateInterfaceName(std::string_view name);
// The ifindex of an existing interface in the caller's network namespace.
sys::Result<unsigned> interfaceIndex(std::string_view name);

} // namespace failover::netctl
