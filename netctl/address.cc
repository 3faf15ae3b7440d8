#include "netctl/address.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <algorithm>
#include <charconv>
#include <string>

namespace failover::netctl {

using sys::Errc;
using sys::fail;

sys::Result<IpAddress> parseIpAddress(std::string_view text) {
  const std::string copy(text);
  IpAddress address;
  if (::inet_pton(AF_INET, copy.c_str(), address.bytes.data()) == 1) {
    address.family = Family::V4;
    return address;
  }
  if (::inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) == 1) {
    address.family = Family::V6;
    return address;
  }
  return fail(Errc::InvalidArgument,
              "'" + copy + "' is not an IPv4 or IPv6 address (e.g. 198.18.1.10 or fd00:198:18::10)");
}

sys::Result<IpPrefix> parseIpPrefix(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return fail(Errc::InvalidArgument, "'" + std::string(text) +
                                           "' has no prefix length: write it as address/length, "
                                           "e.g. 198.18.1.10/24 or fd00:198:18::10/64");
  }
  auto address = parseIpAddress(text.substr(0, slash));
  if (!address) {
    return std::unexpected(address.error());
  }
  const auto length_text = text.substr(slash + 1);
  unsigned length = 0;
  const auto [end, ec] =
      std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
  const unsigned max_length = address->family == Family::V4 ? 32 : 128;
  if (ec != std::errc{} || end != length_text.data() + length_text.size() ||
      length_text.empty() || length > max_length) {
    return fail(Errc::InvalidArgument, "'" + std::string(text) + "' has an invalid prefix length '" +
                                           std::string(length_text) + "' (0-" +
                                           std::to_string(max_length) + ")");
  }
  return IpPrefix{*address, static_cast<std::uint8_t>(length)};
}

std::string toString(const IpAddress& address) {
  char buffer[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(static_cast<int>(address.family), address.bytes.data(), buffer, sizeof buffer);
  return buffer;
}

std::string toString(const IpPrefix& prefix) {
  return toString(prefix.address) + "/" + std::to_string(prefix.length);
}

sys::Status validateInterfaceName(std::string_view name) {
  const bool bad_char = std::any_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || static_cast<unsigned char>(c) <= ' ';
  });
  if (name.empty() || name.size() >= IFNAMSIZ || bad_char || name == "." || name == "..") {
    return fail(Errc::InvalidArgument, "'" + std::string(name) +
                                           "' is not a valid interface name (1-15 characters, "
                                           "no '/', ':' or whitespace)");
  }
  return {};
}

sys::Result<unsigned> interfaceIndex(std::string_view name) {
  if (auto valid = validateInterfaceName(name); !valid) {
    return std::unexpected(valid.error());
  }
  const std::string copy(name);
  const unsigned index = ::if_nametoindex(copy.c_str());
  if (index == 0) {
    return fail(Errc::NotFound, "interface '" + copy +
                                    "' does not exist in this network namespace (see 'ip link')");
  }
  return index;
}

} // namespace failover::netctl
