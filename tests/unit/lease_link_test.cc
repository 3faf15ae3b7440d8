// The lease's UDP link on loopback addresses (127.0.0.0/8): delivery, copies over two links,
// and every kind of datagram it must refuse, counted by reason.
#include "daemon/cluster/lease_link.h"
#include "sys/clock.h"

#include <doctest/doctest.h>

#include <unistd.h>

using namespace failover;
using namespace failover::daemon;
using cluster::LeaseLink;
using cluster::LeaseVoter;
using cluster::RejectReason;

namespace {

const std::uint16_t PORT = static_cast<std::uint16_t>(41000 + ::getpid() % 2000);

cluster::Sealer sealer(std::uint8_t fill = 0x5a) { return cluster::Sealer::create(std::vector<std::uint8_t>(32, fill)).value(); }

sys::SocketAddress at(const std::string& address, std::uint16_t port = PORT) {
  return sys::SocketAddress::parse(address, port).value();
}

std::vector<LeaseVoter> voters(bool two_links) {
  std::vector<LeaseVoter> list{{1, "n1", {at("127.0.0.1")}}, {2, "n2", {at("127.0.0.2")}}};
  if (two_links) {
    list[0].addresses.push_back(at("127.0.0.3"));
    list[1].addresses.push_back(at("127.0.0.4"));
  }
  return list;
}

struct Pair {
  explicit Pair(bool two_links = false) {
    one = LeaseLink::create(sealer(), 1, voters(two_links), clock, *loop, [](auto, const auto&) {}).value();
    two = LeaseLink::create(sealer(), 2, voters(two_links), clock, *loop,
                            [this](std::uint32_t from, const lease::Message& message) {
                              delivered.emplace_back(from, message);
                            })
              .value();
  }
  // Runs the loop until `count` messages were delivered or refused, at most 2 s.
  void settle(std::size_t count) {
    for (int i = 0; i < 200 && handled() < count; ++i) {
      REQUIRE(loop->runOnce(std::chrono::milliseconds(10)));
    }
  }
  std::size_t handled() const {
    std::size_t total = delivered.size() + two->stats().duplicates;
    for (const auto rejected : two->stats().rejected) {
      total += rejected;
    }
    return total;
  }
  std::uint64_t rejected(RejectReason reason) const { return two->stats().rejected[static_cast<std::size_t>(reason)]; }

  sys::SystemClock clock;
  sys::Result<sys::EventLoop> loop = sys::EventLoop::create();
  std::unique_ptr<LeaseLink> one;
  std::unique_ptr<LeaseLink> two;
  std::vector<std::pair<std::uint32_t, lease::Message>> delivered;
};

// A datagram as a voter would seal it, sent from `from` (any port) to n2's link.
void inject(const std::string& from, const cluster::Message& message, const cluster::Sealer& key = sealer()) {
  const auto socket = sys::UdpSocket::bind(at(from, 0)).value();
  REQUIRE(socket.send(at("127.0.0.2"), cluster::encodeMessage(message, key)));
}

cluster::Message request(std::uint32_t sender, std::uint64_t incarnation, std::uint64_t sequence, std::int64_t sent_ms) {
  return {{cluster::MessageType::LeaseRequest, sender, incarnation, sequence, sent_ms},
          cluster::LeaseRequestMessage{sequence, 0}};
}

} // namespace

TEST_CASE("a lease message reaches its voter, as the sender's message; copies over a second link count once") {
  Pair pair(true);
  pair.one->send({2, lease::Request{1, 7, 3}});
  pair.settle(2);
  REQUIRE(pair.delivered.size() == 1);
  CHECK(pair.delivered[0].first == 1);
  const auto* asked = std::get_if<lease::Request>(&pair.delivered[0].second);
  REQUIRE(asked != nullptr);
  CHECK(asked->requester == 1);
  CHECK(asked->round == 7);
  CHECK(asked->successor == 3);
  CHECK(pair.two->stats().duplicates == 1);
  CHECK(pair.one->stats().sent == 2);
}

TEST_CASE("refused and counted: another key, a sender at the wrong address, replays, an older process, a replication message") {
  Pair pair;
  const auto now = pair.clock.wallMs();
  inject("127.0.0.1", request(1, 77, 1, now), sealer(0x11));
  pair.settle(1);
  CHECK(pair.rejected(RejectReason::Unauthenticated) == 1);
  inject("127.0.0.9", request(1, 77, 1, now));
  pair.settle(2);
  CHECK(pair.rejected(RejectReason::WrongSender) == 1);
  inject("127.0.0.1", request(1, 77, 1, now - 200'000));
  pair.settle(3);
  CHECK(pair.rejected(RejectReason::Stale) == 1);
  // In order, then the same one again (a copy: dropped, not a rejection), then one that fell
  // out of the 64-message window, then one from an older process of the same node.
  for (std::uint64_t sequence = 1; sequence <= 70; ++sequence) {
    inject("127.0.0.1", request(1, 77, sequence, now));
  }
  pair.settle(73);
  CHECK(pair.delivered.size() == 70);
  inject("127.0.0.1", request(1, 77, 70, now));
  pair.settle(74);
  CHECK(pair.two->stats().duplicates == 1);
  inject("127.0.0.1", request(1, 77, 2, now));
  pair.settle(75);
  CHECK(pair.rejected(RejectReason::Replayed) == 1);
  inject("127.0.0.1", request(1, 76, 100, now - 1000));
  pair.settle(76);
  CHECK(pair.rejected(RejectReason::Replayed) == 2);
  // A restarted process (a later start) is accepted from its first message.
  inject("127.0.0.1", request(1, 78, 1, now + 1));
  pair.settle(77);
  CHECK(pair.delivered.size() == 71);
  inject("127.0.0.1", {{cluster::MessageType::State, 1, 78, 2, now + 1}, cluster::StateMessage{"n1"}});
  pair.settle(78);
  CHECK(pair.rejected(RejectReason::Malformed) == 1);
  CHECK(pair.delivered.size() == 71);
}
