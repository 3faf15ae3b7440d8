#pragma once

#include "daemon/cluster/message.h"
#include "daemon/role/lease.h"
#include "sys/clock.h"
#include "sys/event_loop.h"
#include "sys/udp.h"

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace failover::daemon::cluster {

// A voter of the majority lease as configured: its node id (Corosync's, or the witness's
// own), its name, and its address on each cluster link, in the same order on every voter.
struct LeaseVoter {
  std::uint32_t id = 0;
  std::string name;
  std::vector<sys::SocketAddress> addresses;
};

// The lease's own heartbeat (docs/lease.md): its messages as UDP datagrams on every cluster
// link, sealed like replication (cluster key, sender, incarnation, sequence, send time) and
// decoded by the one replication decoder. A datagram is accepted only from an address of the
// voter it claims to come from, within the replay window of that voter's process; copies of
// one message over several links count once.
class LeaseLink {
public:
  using Deliver = std::function<void(std::uint32_t from, const lease::Message& message)>;
  struct Stats {
    std::uint64_t sent = 0;
    std::uint64_t send_errors = 0;
    std::uint64_t received = 0;
    std::uint64_t duplicates = 0; // the same message over another link
    std::array<std::uint64_t, 6> rejected{}; // by RejectReason
  };

  // Binds one socket per address of `self` in `voters`. Throws nothing: errors are returned.
  // Datagrams go in the lowest of `versions` (the voters keep no state to negotiate with), and
  // only those in one of them are accepted.
  static sys::Result<std::unique_ptr<LeaseLink>> create(Sealer sealer, std::uint32_t self,
                                                        std::vector<LeaseVoter> voters, const sys::Clock& clock,
                                                        sys::EventLoop& loop, Deliver deliver,
                                                        WireVersions versions = {});
  ~LeaseLink();
  LeaseLink(const LeaseLink&) = delete;
  LeaseLink& operator=(const LeaseLink&) = delete;

  void send(const lease::Outgoing& out);
  const Stats& stats() const noexcept { return stats_; }
  const std::vector<LeaseVoter>& voters() const noexcept { return voters_; }

private:
  LeaseLink(Sealer sealer, std::uint32_t self, std::vector<LeaseVoter> voters, const sys::Clock& clock,
            sys::EventLoop& loop, Deliver deliver, WireVersions versions);
  void onReadable(std::size_t link);
  void accept(std::span<const std::uint8_t> datagram, const sys::SocketAddress& from);
  void reject(RejectReason reason, const std::string& detail);

  // Per sending voter: its process (incarnation), and which recent sequences were seen.
  struct Window {
    std::uint64_t incarnation = 0;
    std::int64_t newest_sent_ms = 0;
    std::uint64_t highest = 0;
    std::uint64_t seen = 0; // bit i: highest - i was seen
  };
  enum class Fresh { Yes, Duplicate, Replayed };
  Fresh admit(const Header& header);

  Sealer sealer_;
  WireVersions versions_;
  std::uint32_t self_;
  std::vector<LeaseVoter> voters_;
  const sys::Clock& clock_;
  sys::EventLoop& loop_;
  Deliver deliver_;
  std::vector<sys::UdpSocket> sockets_; // one per cluster link, bound to this node's address on it
  std::uint64_t incarnation_;
  std::uint64_t sequence_ = 0;
  std::map<std::uint32_t, Window> windows_;
  Stats stats_;
};

} // namespace failover::daemon::cluster
