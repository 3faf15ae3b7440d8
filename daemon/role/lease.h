#pragma once

#include "daemon/role/role_machine.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <variant>
#include <vector>

// The majority lease (docs/lease.md): who may answer for the VIP between two Corosync
// membership rounds. Pure like the role machine: messages and time in, messages out; each
// node's own CLOCK_MONOTONIC is the time, and the agent (or the simulator) carries the
// messages over UDP on the cluster links.
namespace failover::daemon::lease {

using Nanos = std::chrono::nanoseconds;

struct Settings {
  std::uint32_t self = 0;
  bool votes = true;                  // every node votes; a witness only votes
  std::vector<std::uint32_t> voters;  // every voter's id, this node's included if it votes
  Nanos renew_interval = std::chrono::milliseconds(10); // h: a holder asks this often
  Nanos length = std::chrono::milliseconds(60);         // L: how long a voter's grant binds it
  unsigned missed_renewals = 3;       // a holder unheard for this many intervals is silent
  std::uint32_t drift_ppm = 1000;     // rho: the bound on any clock's rate error
};

// A holder (or a node that wants to be one) asks every voter to grant it the lease. It may name
// a successor: the node a planned switchover hands over to, which voters then grant too.
struct Request {
  std::uint32_t requester = 0;
  std::uint64_t round = 0;
  std::uint32_t successor = 0; // 0: none
};
// A voter's promise, for one request: no grant to any other node (but the requester's named
// successor) until the voter's own clock has run `length` past the request's arrival.
struct Grant {
  std::uint32_t voter = 0;
  std::uint32_t requester = 0;
  std::uint64_t round = 0;
};
// A holder gives the lease back; it has stopped answering for the VIP before it sends this.
struct Release {
  std::uint32_t requester = 0;
};
using Message = std::variant<Request, Grant, Release>;
struct Outgoing {
  std::uint32_t to = 0;
  Message message;
};

// How long a lease granted for a request sent at `sent` lasts on the holder's own clock:
// voters bind themselves for `length` of their time from a later instant; the holder's clock
// may run fast, a voter's slow, each by at most rho.
Nanos leaseEnd(Nanos sent, const Settings& settings);
// How many voters make a majority.
std::size_t majority(const Settings& settings);

// A voter's promises. A restarted voter has forgotten what it promised: it grants nothing
// for `length` after it starts.
class Voter {
public:
  Voter(Nanos started, Nanos length) : grace_end_(started + length), length_(length) {}
  // Grants the request (and binds itself) unless it is bound to another node that did not
  // name the requester as its successor.
  bool consider(const Request& request, Nanos now);
  void release(std::uint32_t requester);
  // The node this voter is bound to now, if any (the longest-bound one), for status.
  std::optional<std::uint32_t> boundTo(Nanos now) const;

private:
  struct Promise {
    Nanos until{0};
    std::uint32_t successor = 0;
  };
  Nanos grace_end_;
  Nanos length_;
  std::map<std::uint32_t, Promise> promises_;
};

// Counters for metrics and status.
struct Stats {
  std::uint64_t requests_sent = 0;
  std::uint64_t renewals = 0;        // a majority granted a request: the lease was extended
  std::uint64_t missed_renewals = 0; // a request no majority granted within the interval
  std::uint64_t losses = 0;          // the lease ended while wanted
  std::uint64_t grants_given = 0;
  std::uint64_t requests_refused = 0;
  std::uint64_t stood_back = 0;      // contended two lease lengths without a majority, and let go
};

// One node's part in the lease: its voter, its holder side (while it holds or wants the lease)
// and what it hears of the others' holders.
class Lease {
public:
  Lease(Settings settings, Nanos started);

  // Start asking for the lease (a takeover), or stop and give it back (the node released the
  // VIP first). `successor`: the node a switchover hands over to (0: none).
  std::vector<Outgoing> want(Nanos now);
  std::vector<Outgoing> giveUp(Nanos now);
  void nameSuccessor(std::uint32_t successor) { successor_ = successor; }

  // Renewals due by now. Call at nextDue() at the latest.
  std::vector<Outgoing> tick(Nanos now);
  std::vector<Outgoing> receive(std::uint32_t from, const Message& message, Nanos now);
  // When tick() must run next: a renewal, the lease's end, a holder going silent.
  std::optional<Nanos> nextDue(Nanos now) const;

  bool wanted() const noexcept { return wanted_; }
  bool held(Nanos now) const noexcept { return wanted_ && now < end_; }
  // The end of the lease on this node's clock (0: never held). The kernel's gate shuts then.
  Nanos end() const noexcept { return wanted_ ? end_ : Nanos{0}; }
  // Nodes that were asking for the lease and have not been heard for missed_renewals
  // intervals (they released it if they said so: those are not silent).
  bool silent(std::uint32_t node, Nanos now) const;
  // How many voters granted the last request that a majority granted.
  std::size_t grants() const noexcept { return last_grants_; }
  std::optional<std::uint32_t> boundTo(Nanos now) const { return voter_.boundTo(now); }
  const Stats& stats() const noexcept { return stats_; }
  const Settings& settings() const noexcept { return settings_; }

private:
  std::vector<Outgoing> request(Nanos now);
  std::vector<Outgoing> releaseVotes();
  void onGrant(const Grant& grant, Nanos now);
  void noteLoss(Nanos now);

  struct Round {
    Nanos sent{0};
    std::vector<std::uint32_t> granted_by;
    bool counted = false;
  };
  Settings settings_;
  Voter voter_;
  bool wanted_ = false;
  bool loss_noted_ = false;
  std::uint32_t successor_ = 0;
  std::uint64_t round_ = 0;
  Nanos next_request_{0};
  Nanos end_{0};
  // Contending: since when without a majority, and until when it stands back (votes split
  // between contenders would otherwise stay split, each renewing its minority's promises).
  Nanos contending_since_{0};
  Nanos standing_back_until_{0};
  std::map<std::uint64_t, Round> rounds_; // the recent ones, by number
  std::size_t last_grants_ = 0;
  std::map<std::uint32_t, Nanos> heard_; // requesters, when last heard
  Stats stats_;
};

// What the decision core learns from the lease: whether this node holds it, and which members
// went silent on it.
void addLeaseFacts(ClusterFacts& facts, const Lease& lease, Nanos now);

} // namespace failover::daemon::lease
