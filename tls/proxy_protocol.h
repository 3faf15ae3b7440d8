#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <vector>

namespace failover::tls {

// The PROXY protocol version 2 header (haproxy's proxy-protocol.txt, section 2.2) that tells
// a plain-text backend the client's address: the 12-byte signature, version 2 / PROXY,
// TCP over IPv4 or IPv6, and source then destination address and port. An IPv4-mapped IPv6
// address is sent as IPv4. Empty for a family it cannot describe.
std::vector<std::uint8_t> proxyV2Header(const sockaddr_storage& client, const sockaddr_storage& local);

} // namespace failover::tls
