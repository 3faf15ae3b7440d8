// The TLS service channel's receive() against a datagram longer than any message, which only
// root can send on a socketpair (its buffers must be forced past net.core.wmem_max).
#include "tls/service_channel.h"

#include "sys/unique_fd.h"

#include <doctest/doctest.h>

#include <sys/socket.h>

#include <vector>

using namespace failover;
namespace channel = failover::tls::channel;

TEST_CASE("a datagram longer than any channel message shows as such (MSG_TRUNC), not as a truncated one") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0);
  const sys::UniqueFd agent(fds[0]);
  const sys::UniqueFd service(fds[1]);
  sys::SecretBuffer buffer;
  channel::Message received;
  const int large = 16 << 20;
  REQUIRE(::setsockopt(service.get(), SOL_SOCKET, SO_SNDBUFFORCE, &large, sizeof large) == 0);
  REQUIRE(::setsockopt(agent.get(), SOL_SOCKET, SO_RCVBUFFORCE, &large, sizeof large) == 0);
  const std::vector<std::uint8_t> oversized(channel::MAX_MESSAGE + 100, 1);
  REQUIRE(channel::sendDatagram(service.get(), oversized).has_value());
  const auto refused = channel::receive(agent.get(), buffer, received);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message.find(std::to_string(channel::MAX_MESSAGE + 100) + " bytes (at most " +
                                     std::to_string(channel::MAX_MESSAGE) + ")") != std::string::npos);
}
