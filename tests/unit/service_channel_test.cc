#include "tls/service_channel.h"

#include "sys/unique_fd.h"

#include <doctest/doctest.h>

#include <sys/socket.h>

using namespace failover;
namespace channel = failover::tls::channel;

namespace {

tls::SessionRecord record(std::uint8_t seed) {
  tls::SessionRecord r;
  r.id.assign(32, seed);
  r.der = sys::SecretBuffer(300, static_cast<std::uint8_t>(seed + 1));
  r.expires_at = 1'800'000'000 + seed;
  return r;
}

std::vector<channel::Message> everyKind() {
  return {channel::SessionCreated{7, record(1)},
          channel::SessionRemoved{{1, 2, 3}},
          channel::Started{},
          channel::ImportSession{record(2)},
          channel::Keyring{sys::SecretBuffer(178, 0x5a)},
          channel::Seeded{},
          channel::Confirmed{41},
          channel::Abandoned{42},
          channel::CloseConnections{},
          channel::Drain{2000},
          channel::Certificates{{{"/etc/a.crt", "/etc/a.key", "-----BEGIN CERTIFICATE-----\n", sys::SecretBuffer(40, 7)},
                                 {"/etc/b.crt", "/etc/b.key", "chain b", sys::SecretBuffer(3, 9)}}},
          channel::CertificatesLoaded{"cannot load private key /etc/a.key"}};
}

std::pair<sys::UniqueFd, sys::UniqueFd> socketPair() {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0);
  return {sys::UniqueFd(fds[0]), sys::UniqueFd(fds[1])};
}

} // namespace

TEST_CASE("every channel message decodes to what was encoded") {
  for (const auto& message : everyKind()) {
    const auto wire = channel::encode(message);
    CHECK(wire[0] == channel::VERSION);
    CHECK(wire[1] == message.index());
    auto decoded = channel::decode(wire);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == message);
  }
}

TEST_CASE("a channel message cut short anywhere, or with a byte too many, is refused, never read past") {
  for (const auto& message : everyKind()) {
    const auto wire = channel::encode(message);
    for (std::size_t length = 0; length < wire.size(); ++length) {
      const auto decoded = channel::decode(std::span(wire.data(), length));
      REQUIRE_FALSE(decoded.has_value());
      CHECK(decoded.error().code == sys::Errc::Protocol);
    }
    auto longer = wire;
    longer.push_back(0);
    const auto decoded = channel::decode(longer);
    REQUIRE_FALSE(decoded.has_value());
    CHECK(decoded.error().message.find("1 bytes after the message") != std::string::npos);
  }
}

TEST_CASE("the channel refuses another version, an unknown type, number 0 and a bad session ID, saying which") {
  auto wire = channel::encode(channel::Confirmed{1});
  wire[0] = 2;
  CHECK(channel::decode(wire).error().message.find("version 2 (this build speaks 1)") != std::string::npos);
  const std::vector<std::uint8_t> unknown{1, 99};
  CHECK(channel::decode(unknown).error().message.find("unknown message type 99") != std::string::npos);
  CHECK(channel::decode(channel::encode(channel::SessionCreated{0, record(3)}))
            .error()
            .message.find("session number 0") != std::string::npos);
  CHECK_FALSE(channel::decode(channel::encode(channel::SessionRemoved{{}})).has_value());
  CHECK_FALSE(channel::decode(channel::encode(channel::SessionRemoved{std::vector<std::uint8_t>(33, 1)})).has_value());
  CHECK(channel::decode(channel::encode(channel::Certificates{})).error().message.find("0 certificates") !=
        std::string::npos);
  const std::vector<std::uint8_t> huge(channel::MAX_MESSAGE + 1, 1);
  CHECK(channel::decode(huge).error().message.find("longer than " + std::to_string(channel::MAX_MESSAGE) +
                                                   " bytes") != std::string::npos);
}

TEST_CASE("only sessions, Started and a reload's answer may come from the TLS service") {
  for (const auto& message : everyKind()) {
    const bool from_service = std::holds_alternative<channel::SessionCreated>(message) ||
                              std::holds_alternative<channel::SessionRemoved>(message) ||
                              std::holds_alternative<channel::Started>(message) ||
                              std::holds_alternative<channel::CertificatesLoaded>(message);
    CHECK(channel::fromService(message) == from_service);
  }
}

TEST_CASE("over a SOCK_SEQPACKET pair: each message arrives whole, an empty socket says so, a closed peer is an error") {
  auto [agent, service] = socketPair();
  sys::SecretBuffer buffer;
  channel::Message received;
  const auto nothing = channel::receive(agent.get(), buffer, received);
  REQUIRE(nothing.has_value());
  CHECK_FALSE(*nothing);
  for (const auto& message : everyKind()) {
    REQUIRE(channel::sendDatagram(service.get(), channel::encode(message)).has_value());
  }
  for (const auto& message : everyKind()) {
    auto got = channel::receive(agent.get(), buffer, received);
    REQUIRE(got.has_value());
    REQUIRE(*got);
    CHECK(received == message);
  }
  const std::vector<std::uint8_t> garbage{1, 99, 0};
  REQUIRE(channel::sendDatagram(service.get(), garbage).has_value());
  auto refused = channel::receive(agent.get(), buffer, received);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == sys::Errc::Protocol);
  service.reset();
  auto closed = channel::receive(agent.get(), buffer, received);
  REQUIRE_FALSE(closed.has_value());
  CHECK(closed.error().code == sys::Errc::Unavailable);
}

TEST_CASE("a full channel is an EAGAIN error for the sender, not a block") {
  auto [agent, service] = socketPair();
  const int small = 4096;
  REQUIRE(::setsockopt(service.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  const auto wire = channel::encode(channel::ImportSession{record(4)});
  sys::Status sent;
  for (int i = 0; i < 10'000 && sent; ++i) {
    sent = channel::sendDatagram(service.get(), wire);
  }
  REQUIRE_FALSE(sent.has_value());
  CHECK(sent.error().sys_errno == EAGAIN);
}
