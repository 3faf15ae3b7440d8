#include "tls/proxy_protocol.h"

#include <netinet/in.h>

#include <cstring>

namespace failover::tls {

namespace {

constexpr std::uint8_t SIGNATURE[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                        0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
constexpr std::uint8_t VERSION_2_PROXY = 0x21;
constexpr std::uint8_t TCP_OVER_IPV4 = 0x11;
constexpr std::uint8_t TCP_OVER_IPV6 = 0x21;

struct Endpoint {
  bool v4 = false;
  std::uint8_t address[16] = {};
  std::uint16_t port_be = 0;
};

bool endpointOf(const sockaddr_storage& storage, Endpoint& out) {
  if (storage.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(storage);
    out.v4 = true;
    std::memcpy(out.address, &in.sin_addr, 4);
    out.port_be = in.sin_port;
    return true;
  }
  if (storage.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(storage);
    out.port_be = in6.sin6_port;
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
      out.v4 = true;
      std::memcpy(out.address, in6.sin6_addr.s6_addr + 12, 4);
    } else {
      std::memcpy(out.address, in6.sin6_addr.s6_addr, 16);
    }
    return true;
  }
  return false;
}

} // namespace

std::vector<std::uint8_t> proxyV2Header(const sockaddr_storage& client, const sockaddr_storage& local) {
  Endpoint source, destination;
  if (!endpointOf(client, source) || !endpointOf(local, destination) || source.v4 != destination.v4) {
    return {};
  }
  const std::size_t address_size = source.v4 ? 4 : 16;
  const auto length = static_cast<std::uint16_t>(2 * address_size + 4);
  std::vector<std::uint8_t> header(SIGNATURE, SIGNATURE + sizeof SIGNATURE);
  header.push_back(VERSION_2_PROXY);
  header.push_back(source.v4 ? TCP_OVER_IPV4 : TCP_OVER_IPV6);
  header.push_back(static_cast<std::uint8_t>(length >> 8));
  header.push_back(static_cast<std::uint8_t>(length & 0xff));
  header.insert(header.end(), source.address, source.address + address_size);
  header.insert(header.end(), destination.address, destination.address + address_size);
  const auto* sp = reinterpret_cast<const std::uint8_t*>(&source.port_be);
  const auto* dp = reinterpret_cast<const std::uint8_t*>(&destination.port_be);
  header.insert(header.end(), sp, sp + 2);
  header.insert(header.end(), dp, dp + 2);
  return header;
}

} // namespace failover::tls
