#include "daemon/cluster/lease_link.h"

#include "daemon/cluster/replicator.h"
#include "daemon/log.h"

#include <sys/epoll.h>

#include <algorithm>

namespace failover::daemon::cluster {

namespace {
// As replication's: members' wall clocks are assumed synchronised to well within this.
constexpr std::int64_t STALE_AFTER_MS = 120'000;
// A lease message is small; anything larger is not one.
constexpr std::size_t MAX_DATAGRAM = 512;
constexpr std::uint64_t WINDOW_BITS = 64;
// The first rejections of each kind are logged; the counters say the rest.
constexpr std::uint64_t LOGGED_REJECTIONS = 5;

std::optional<lease::Message> toLease(std::uint32_t sender, const Payload& payload) {
  if (const auto* request = std::get_if<LeaseRequestMessage>(&payload)) {
    return lease::Request{sender, request->round, request->successor};
  }
  if (const auto* grant = std::get_if<LeaseGrantMessage>(&payload)) {
    return lease::Grant{sender, grant->requester, grant->round};
  }
  if (std::holds_alternative<LeaseReleaseMessage>(payload)) {
    return lease::Release{sender};
  }
  return std::nullopt;
}

Payload toPayload(const lease::Message& message) {
  if (const auto* request = std::get_if<lease::Request>(&message)) {
    return LeaseRequestMessage{request->round, request->successor};
  }
  if (const auto* grant = std::get_if<lease::Grant>(&message)) {
    return LeaseGrantMessage{grant->requester, grant->round};
  }
  return LeaseReleaseMessage{};
}
} // namespace

sys::Result<std::unique_ptr<LeaseLink>> LeaseLink::create(Sealer sealer, std::uint32_t self,
                                                          std::vector<LeaseVoter> voters, const sys::Clock& clock,
                                                          sys::EventLoop& loop, Deliver deliver,
                                                          WireVersions versions) {
  const auto me = std::find_if(voters.begin(), voters.end(), [self](const LeaseVoter& v) { return v.id == self; });
  if (me == voters.end()) {
    return sys::fail(sys::Errc::InvalidArgument, "this node (id " + std::to_string(self) + ") is not a lease voter");
  }
  std::unique_ptr<LeaseLink> link(new LeaseLink(std::move(sealer), self, std::move(voters), clock, loop,
                                                std::move(deliver), versions));
  const auto& own = std::find_if(link->voters_.begin(), link->voters_.end(),
                                 [self](const LeaseVoter& v) { return v.id == self; })
                        ->addresses;
  for (std::size_t i = 0; i < own.size(); ++i) {
    auto socket = sys::UdpSocket::bind(own[i]);
    if (!socket) {
      return std::unexpected(socket.error());
    }
    link->sockets_.push_back(std::move(*socket));
    auto* raw = link.get();
    if (auto added = loop.add(link->sockets_.back().fd(), EPOLLIN, [raw, i](std::uint32_t) { raw->onReadable(i); });
        !added) {
      return std::unexpected(added.error());
    }
  }
  return link;
}

LeaseLink::LeaseLink(Sealer sealer, std::uint32_t self, std::vector<LeaseVoter> voters, const sys::Clock& clock,
                     sys::EventLoop& loop, Deliver deliver, WireVersions versions)
    : sealer_(std::move(sealer)), versions_(versions), self_(self), voters_(std::move(voters)), clock_(clock), loop_(loop),
      deliver_(std::move(deliver)), incarnation_(Replicator::freshIncarnation()) {}

LeaseLink::~LeaseLink() {
  for (const auto& socket : sockets_) {
    loop_.remove(socket.fd());
  }
}

void LeaseLink::send(const lease::Outgoing& out) {
  const auto voter = std::find_if(voters_.begin(), voters_.end(), [&out](const LeaseVoter& v) { return v.id == out.to; });
  if (voter == voters_.end()) {
    return;
  }
  Header header;
  header.version = versions_.min;
  header.sender = self_;
  header.incarnation = incarnation_;
  header.sequence = ++sequence_;
  header.sent_ms = clock_.wallMs();
  const Message message{header, toPayload(out.message)}; // encodeMessage sets the type from the payload
  const auto wire = encodeMessage(message, sealer_);
  // The same message on every link: the first copy to arrive counts.
  for (std::size_t i = 0; i < sockets_.size() && i < voter->addresses.size(); ++i) {
    if (sockets_[i].send(voter->addresses[i], wire)) {
      ++stats_.sent;
    } else {
      ++stats_.send_errors;
    }
  }
}

void LeaseLink::onReadable(std::size_t link) {
  std::array<std::uint8_t, MAX_DATAGRAM + 1> buffer{};
  // Bounded: a flood cannot keep the loop here; what is left waits for the next round.
  for (int i = 0; i < 64; ++i) {
    auto received = sockets_[link].receive(buffer);
    if (!received || !*received) {
      return;
    }
    const auto& datagram = **received;
    if (datagram.size > MAX_DATAGRAM) {
      reject(RejectReason::Malformed, std::to_string(datagram.size) + " bytes from " + datagram.from.toString());
      continue;
    }
    accept(std::span(buffer.data(), datagram.size), datagram.from);
  }
}

void LeaseLink::reject(RejectReason reason, const std::string& detail) {
  if (++stats_.rejected[static_cast<std::size_t>(reason)] <= LOGGED_REJECTIONS) {
    Log{LogLevel::Warning, "lease"} << "dropped a datagram (" << toString(reason) << "): " << detail;
  }
}

void LeaseLink::accept(std::span<const std::uint8_t> datagram, const sys::SocketAddress& from) {
  auto message = decodeMessage(datagram, sealer_, versions_);
  if (!message) {
    return reject(message.error().reason, message.error().detail + " (from " + from.toString() + ")");
  }
  const auto& header = message->header;
  const auto lease_message = toLease(header.sender, message->payload);
  if (!lease_message) {
    return reject(RejectReason::Malformed, "a replication message on the lease port, from " + from.toString());
  }
  const auto voter = std::find_if(voters_.begin(), voters_.end(),
                                  [&header](const LeaseVoter& v) { return v.id == header.sender; });
  if (voter == voters_.end() || voter->id == self_ ||
      std::none_of(voter->addresses.begin(), voter->addresses.end(),
                   [&from](const sys::SocketAddress& a) { return a.sameHost(from); })) {
    return reject(RejectReason::WrongSender,
                  "claims node " + std::to_string(header.sender) + " but comes from " + from.toString());
  }
  if (const auto age = clock_.wallMs() - header.sent_ms; age > STALE_AFTER_MS) {
    return reject(RejectReason::Stale, "sent " + std::to_string(age / 1000) + " s ago by " + voter->name);
  }
  switch (admit(header)) {
  case Fresh::Duplicate:
    ++stats_.duplicates;
    return;
  case Fresh::Replayed:
    return reject(RejectReason::Replayed, "sequence " + std::to_string(header.sequence) + " of " + voter->name +
                                              " is outside its replay window, or from an older process");
  case Fresh::Yes:
    break;
  }
  ++stats_.received;
  deliver_(header.sender, *lease_message);
}

LeaseLink::Fresh LeaseLink::admit(const Header& header) {
  auto& window = windows_[header.sender];
  if (header.incarnation != window.incarnation) {
    // A restarted process: only one that started later than everything heard from the old.
    if (window.incarnation != 0 && header.sent_ms <= window.newest_sent_ms) {
      return Fresh::Replayed;
    }
    window = Window{header.incarnation, header.sent_ms, header.sequence, 1};
    return Fresh::Yes;
  }
  window.newest_sent_ms = std::max(window.newest_sent_ms, header.sent_ms);
  if (header.sequence > window.highest) {
    const auto shift = header.sequence - window.highest;
    window.seen = shift >= WINDOW_BITS ? 0 : window.seen << shift;
    window.seen |= 1;
    window.highest = header.sequence;
    return Fresh::Yes;
  }
  const auto back = window.highest - header.sequence;
  if (back >= WINDOW_BITS) {
    return Fresh::Replayed;
  }
  const auto bit = std::uint64_t{1} << back;
  if ((window.seen & bit) != 0) {
    return Fresh::Duplicate;
  }
  window.seen |= bit;
  return Fresh::Yes;
}

} // namespace failover::daemon::cluster
