#include "tests/sim/cluster_sim.h"

#include "daemon/cluster/replicator.h"
#include "daemon/log.h"
#include "daemon/replication_facts.h"
#include "daemon/role/lease.h"
#include "daemon/role/role_machine.h"
#include "tests/fakes/manual_clock.h"
#include "tests/fakes/map_session_store.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <tuple>
#include <variant>

namespace failover::sim {
namespace {

using daemon::ClusterFacts;
using daemon::Decision;
using daemon::HandoverStep;
using daemon::MemberInfo;
using daemon::Role;
using daemon::RoleMachine;
using daemon::RoleSettings;
using daemon::cluster::GroupMember;
using daemon::cluster::Replicator;
using Time = std::int64_t; // simulated milliseconds
namespace event = daemon::event;
namespace effect = daemon::effect;
namespace lease = daemon::lease;
using lease::Nanos;

constexpr Time GUARD_BOUND = 50;
constexpr Time TICK = 1000;
constexpr std::int64_t SESSION_LIFETIME_S = 86'400;
// The soonest a client is back after its final flight (a round trip and a new connection).
// Members deliver what a live sender sent within 23 ms here (1-3 ms, after a membership change
// up to skew_ms late); a node that answers must hold every session confirmed before that.
constexpr Time CLIENT_RETURN = 25;
constexpr Time FOREVER = INT64_MAX / 4;
constexpr std::size_t TRACE_KEPT = 80;
constexpr std::int64_t NS_PER_MS = 1'000'000;
// The simulated clocks' rate error bound (2 %, far above a real oscillator's, so that the
// lease's drift margin matters at the simulator's millisecond grain).
constexpr std::uint32_t DRIFT_PPM = 20'000;

// The PRNG: one engine, fixed arithmetic on its output, so that a seed replays exactly.
class Rng {
public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : engine_() % n; }
  Time between(Time low, Time high) { return low + static_cast<Time>(below(static_cast<std::uint64_t>(high - low + 1))); }
  bool chance(unsigned percent) { return below(100) < percent; }

private:
  std::mt19937_64 engine_;
};

// What travels in the group, in agreed order: the Replicator's sealed messages, and CPG
// membership changes, ordered with them as in Corosync.
struct Wire {
  GroupMember from;
  std::uint64_t sequence = 0; // the sender's, from the clear header
  std::vector<std::uint8_t> bytes;
};
struct Membership {
  std::vector<GroupMember> members;
  bool quorate = false;
};
using Payload = std::variant<Wire, Membership>;

enum class Vip { None, Taking, Held };

struct Node {
  std::uint32_t id = 0;
  unsigned priority = 0;
  // Processes and links.
  bool corosync_up = true;
  std::uint64_t corosync_stops = 0; // what it had still to deliver when it stopped is gone
  bool daemon_up = true;
  bool link_up = true;
  int component = 0; // nodes in the same component reach each other on the cluster network
  Time frozen_until = 0;
  std::uint64_t incarnation = 0;
  bool cpg_joined = false;
  // Corosync's side: the ring configuration this node's corosync is in.
  std::uint64_t ring = 0;
  Time last_delivery = 0;
  // The daemon's side: what it has processed.
  std::unique_ptr<RoleMachine> core;
  std::unique_ptr<daemon::cluster::GroupBus> bus;
  std::unique_ptr<fakes::MapSessionStore> store; // the TLS server's cache and keyring
  std::unique_ptr<Replicator> replicator;
  bool connected = false;
  bool quorate = false;
  std::vector<GroupMember> members; // the daemon's view of the CPG group
  bool noted_in_sync = false;
  std::uint64_t noted_cold_starts = 0;
  // Sync mode: sessions whose client waits for the final flight (number, serial).
  std::deque<std::pair<std::uint64_t, std::uint64_t>> awaiting;
  // Confirmed sessions already found in this process's store (it only grows).
  std::set<std::uint64_t> held_sessions;
    // Which own message confirmed which session numbers: (after, through] -> its sequence.
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> confirmed_by;
  std::deque<std::function<void()>> backlog; // inputs that wait while the daemon is frozen
  std::uint64_t timer_generation = 0;
  // The VIP as netctl and the kernel hold it.
  Vip vip = Vip::None;
  bool quiesced = false;
  Time gate_until = FOREVER; // when the guard shuts the gate (a stalled or dead daemon)
  std::uint64_t take_generation = 0;
  // Client connections open on this node (their end times).
  std::vector<Time> connections;
  Time handing_over_since = 0;
  std::optional<std::uint32_t> switchover_target;
  Time took_at = -1; // when it last completed a takeover
  // The majority lease: this process's part in it, and this node's clock (CLOCK_MONOTONIC
  // runs 1 + rate_ppm / 10^6 times as fast as real time, from an offset).
  std::unique_ptr<lease::Lease> lease;
  std::int64_t clock_offset_ns = 0;
  std::int64_t rate_ppm = 0;
  // The lease end the daemon last wrote into the guard's map, on this node's clock: the kernel
  // drops VIP traffic from then on. FOREVER without the lease.
  std::int64_t kernel_lease_end = FOREVER;
  bool lease_held_fed = false;
  std::set<std::uint32_t> silent_fed;
  Time lease_timer_at = FOREVER;
  std::uint64_t lease_timer_generation = 0;
  bool lease_in_blocked = false; // a one-way fault on its cluster links
  bool lease_out_blocked = false;
  bool lease_check_pending = false;

  GroupMember process() const { return {id, static_cast<std::uint32_t>(incarnation)}; }
  bool inSync() const { return replicator && replicator->inSync(); }
  bool live(Time now) const { return daemon_up && now >= frozen_until; }
  Nanos local(Time now) const { return Nanos{clock_offset_ns + now * (NS_PER_MS + rate_ppm)}; }
  bool answering(Time now) const {
    return vip == Vip::Held && !quiesced && now < gate_until && local(now).count() < kernel_lease_end;
  }
  std::string name() const { return "n" + std::to_string(id); }
};

// The lease's witness for a two-node cluster: a voter on a third machine, nothing else.
struct Witness {
  std::uint32_t id = 0;
  bool up = true;
  int component = 0;
  std::int64_t clock_offset_ns = 0;
  std::int64_t rate_ppm = 0;
  std::unique_ptr<lease::Lease> lease;
  Nanos local(Time now) const { return Nanos{clock_offset_ns + now * (NS_PER_MS + rate_ppm)}; }
};

class Simulation {
public:
  Simulation(std::uint64_t seed, const Options& options) : rng_(seed), options_(options) {
    lease_on_ = options.lease == LeaseMode::On || (options.lease == LeaseMode::Random && rng_.chance(50));
    // Two nodes only with the lease and a witness: Corosync's two_node keeps both halves of
    // a cut quorate, and only the lease's third vote tells them apart (docs/roles.md).
    const unsigned count = lease_on_ && rng_.chance(30) ? 2 : 3 + static_cast<unsigned>(rng_.below(3));
    two_node_ = count == 2;
    for (unsigned i = 0; i < count; ++i) {
      auto node = std::make_unique<Node>();
      node->id = i + 1;
      node->priority = 100 + static_cast<unsigned>(rng_.below(3)) * 50;
      nodes_.push_back(std::move(node));
    }
    if (lease_on_) {
      outcome_.lease = true;
      lease_settings_.renew_interval = std::chrono::milliseconds(rng_.chance(50) ? 10 : 20);
      lease_settings_.length = lease_settings_.renew_interval * rng_.between(4, 6);
      lease_settings_.missed_renewals = static_cast<unsigned>(rng_.between(2, 3));
      lease_settings_.drift_ppm = DRIFT_PPM;
      loss_percent_ = static_cast<unsigned>(std::array{0, 1, 5}[rng_.below(3)]);
      for (auto& node : nodes_) {
        lease_settings_.voters.push_back(node->id);
        node->clock_offset_ns = static_cast<std::int64_t>(rng_.below(1'000'000'000'000));
        node->rate_ppm = rng_.between(-static_cast<Time>(DRIFT_PPM), DRIFT_PPM);
      }
      if (two_node_) {
        witness_ = std::make_unique<Witness>();
        witness_->id = count + 1;
        witness_->clock_offset_ns = static_cast<std::int64_t>(rng_.below(1'000'000'000'000));
        witness_->rate_ppm = rng_.between(-static_cast<Time>(DRIFT_PPM), DRIFT_PPM);
        lease_settings_.voters.push_back(witness_->id);
        startWitness();
      }
    }
  }

  Outcome run();

private:
  // The agenda: what happens when; ties keep the order they were scheduled in.
  void at(Time when, std::function<void()> action) {
    agenda_.emplace(std::pair{std::max(when, now_), sequence_++}, std::move(action));
  }
  void advanceTo(Time until);
  void note(const std::string& line);
  void violation(const std::string& what);

  // Inputs to a daemon wait in its backlog while it is frozen (as in its sockets).
  void input(Node& node, std::uint64_t incarnation, std::function<void()> action);
  daemon::Decision feed(Node& node, const daemon::Event& event);
  ClusterFacts facts(const Node& node) const;
  void carryOut(Node& node, const Decision& decision);
  void armTimer(Node& node);
  void broadcast(Node& node, Payload payload);
  void deliver(Node& node, const Payload& payload);
  void onMembership(Node& node, const Membership& membership);
  void replicationChanged(Node& node);
  void forgetColdStarted(Node& node);
  // Sync mode, as a client sees it: a new session on the node answering for the VIP, and
  // the final flights released once the replicator confirms them.
  void createSession(Node& node);
  void observeClients(Node& node);
  void checkSessions(Node& node, const std::string& when);

  // Corosync.
  void reconfigure(Time delay);
  void cpgChange(Node& node);
  void announceMembership(const std::vector<Node*>& ring, Time delay);
  std::vector<Node*> ringOf(const Node& node);

  // Faults and commands.
  void startDaemon(Node& node);
  void stopDaemon(Node& node, bool clean);
  void thaw(Node& node, std::uint64_t incarnation);
  void tick(Node& node, std::uint64_t incarnation);
  void randomStep();
  void clientLoad();
  void healAll();
  void checkPlannedSwitchover(Node& active);
  std::uint64_t leaseLosses() const;

  void checkInvariants();
  Node* node(std::uint32_t id) { return nodes_[id - 1].get(); }

  // The majority lease: its messages over the simulated cluster links (loss, delay, one-way
  // faults, partitions), each node's timer, and what the decision core learns from it.
  void startWitness();
  void leaseSend(std::uint32_t from, const lease::Outgoing& out);
  bool leaseReachable(std::uint32_t from, std::uint32_t to) const;
  void leaseArrive(std::uint32_t from, const lease::Outgoing& out);
  void leaseChanged(Node& node);
  void armLease(Node& node);
  void leaseFactsCheck(Node& node);
  void addLeaseStats(const lease::Lease& lease);

  // The daemon's GroupBus: what its Replicator sends goes into the simulated Corosync.
  class SimBus final : public daemon::cluster::GroupBus {
  public:
    SimBus(Simulation& simulation, Node& node) : simulation_(simulation), node_(node) {}
    bool send(std::vector<std::uint8_t> message) override {
      if (!node_.connected) {
        return false;
      }
      const auto header = daemon::cluster::peekHeader(message);
      simulation_.broadcast(node_, Wire{node_.process(), header ? header->sequence : 0, std::move(message)});
      return true;
    }
    bool connected() const noexcept override { return node_.connected; }
    GroupMember self() const noexcept override { return node_.process(); }

  private:
    Simulation& simulation_;
    Node& node_;
  };

  Rng rng_;
  Options options_;
  bool lease_on_ = false;
  bool two_node_ = false;
  lease::Settings lease_settings_;
  unsigned loss_percent_ = 0;
  std::unique_ptr<Witness> witness_;
  fakes::ManualClock clock_;
  std::uint64_t session_serial_ = 0;
  std::uint64_t keyring_rotations_ = 0;
  bool clients_stopped_ = false;
  // Sessions whose client received the final flight in sync mode, by serial. Each must be
  // on whichever node answers when the client comes back, unless a cold start declared the
  // state gone.
  using MessageId = std::tuple<std::uint32_t, std::uint32_t, std::uint64_t>; // node, pid, sequence
  struct Confirmed {
    Time at = 0;
    MessageId message; // the sender's message that came back and confirmed it
  };
  std::map<std::uint64_t, Confirmed> confirmed_sessions_;
  // Messages a member of the sender's configuration never received: the ring broke first.
  std::set<MessageId> lost_in_partition_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::multimap<std::pair<Time, std::uint64_t>, std::function<void()>> agenda_;
  std::uint64_t sequence_ = 0;
  std::uint64_t ring_counter_ = 0;
  Time now_ = 0;
  Outcome outcome_;
  std::deque<std::string> recent_;
};

void Simulation::note(const std::string& line) {
  std::ostringstream out;
  out << now_ << " ms: " << line;
  if (options_.trace) {
    outcome_.trace.push_back(out.str());
    return;
  }
  recent_.push_back(out.str());
  if (recent_.size() > TRACE_KEPT) {
    recent_.pop_front();
  }
}

void Simulation::violation(const std::string& what) {
  if (!outcome_.ok) {
    return;
  }
  outcome_.ok = false;
  outcome_.violation = "at " + std::to_string(now_) + " ms: " + what;
}

void Simulation::input(Node& node, std::uint64_t incarnation, std::function<void()> action) {
  if (!node.daemon_up || node.incarnation != incarnation) {
    return; // sent to a process that is gone
  }
  if (now_ < node.frozen_until || !node.backlog.empty()) { // after a thaw, the backlog goes first
    node.backlog.push_back(std::move(action));
    return;
  }
  action();
}

ClusterFacts Simulation::facts(const Node& node) const {
  ClusterFacts facts;
  facts.connected = node.connected;
  facts.quorate = node.quorate && node.connected;
  facts.serviceable = node.link_up;
  facts.open_connections = static_cast<std::size_t>(
      std::count_if(node.connections.begin(), node.connections.end(), [this](Time end) { return end > now_; }));
  if (node.replicator) {
    daemon::addReplicationFacts(facts, *node.replicator);
  }
  if (node.lease) {
    lease::addLeaseFacts(facts, *node.lease, node.local(now_));
  }
  return facts;
}

daemon::Decision Simulation::feed(Node& node, const daemon::Event& event) {
  const auto before = node.core->role();
  const auto decision = node.core->handle(event, facts(node), daemon::Millis{now_});
  if (decision.refused && std::holds_alternative<event::HandoverReceived>(event)) {
    note(node.name() + " refused: " + *decision.refused);
  }
  carryOut(node, decision);
  if (before != node.core->role()) {
    if (node.core->role() == Role::HandingOver) {
      node.handing_over_since = now_;
      node.switchover_target = node.core->handoverTarget();
    }
    if (before == Role::HandingOver && decision.reason.find("switchover done") != std::string::npos) {
      ++outcome_.switchovers;
      // Done means the target took the VIP after this switchover began.
      const auto* target = node.switchover_target ? this->node(*node.switchover_target) : nullptr;
      if (target == nullptr || target->took_at < node.handing_over_since) {
        violation(node.name() + " ended a switchover as done, but its target never took the VIP");
      }
    } else if (before == Role::HandingOver) {
      ++outcome_.aborted;
      if (decision.reason.empty()) {
        violation(node.name() + " left handing-over without saying why");
      }
    }
  }
  return decision;
}

void Simulation::carryOut(Node& node, const Decision& decision) {
  if (decision.changed()) {
    note(node.name() + " " + std::string(daemon::toString(decision.from)) + " -> " +
         std::string(daemon::toString(decision.to)) + " (" + decision.reason + ")");
    if (decision.to == Role::Active && !node.inSync()) {
      violation(node.name() + " became active while not in sync");
    }

  }
  bool exit = false;
  for (const auto& effect : decision.effects) {
    if (const auto* take = std::get_if<effect::TakeVip>(&effect)) {
      node.vip = Vip::Taking;
      node.quiesced = false;
      const auto generation = ++node.take_generation;
      const auto incarnation = node.incarnation;
      const Time wait_out = options_.unsafe == Unsafe::NoWaitOut ? 0 : take->wait_out.count();
      const Time due = now_ + wait_out + rng_.between(1, 5);
      at(due, [this, &node, generation, incarnation, due] {
        input(node, incarnation, [this, &node, generation, due] {
          if (node.vip != Vip::Taking || node.take_generation != generation) {
            return;
          }
          if (now_ - due > GUARD_BOUND) {
            // VipOwner::onProbeTimeout: the process stalled while it waited; decide again.
            node.vip = Vip::None;
            feed(node, event::VipLost{"stalled while waiting to take the VIP"});
            return;
          }
          if (!node.link_up) {
            node.vip = Vip::None;
            feed(node, event::TakeoverFailed{"interface down"});
            return;
          }
          node.vip = Vip::Held;
          node.gate_until = FOREVER;
          node.took_at = now_;
          ++outcome_.takeovers;
          for (auto& other : nodes_) {
            if (lease_on_ && other->id != node.id && other->vip == Vip::Held && !other->quiesced &&
                std::any_of(node.members.begin(), node.members.end(),
                            [&other](const GroupMember& m) { return m.nodeid == other->id; })) {
              ++outcome_.lease_fast_takeovers; // Corosync had not yet seen the old one go
              break;
            }
          }
          note(node.name() + " holds the VIP and answers for it");
          // Clients resume on whichever node answers: it must hold what they were promised.
          checkSessions(node, "answers for the VIP");
          feed(node, event::VipTaken{{2, 0, 0, 0, 0, static_cast<std::uint8_t>(node.id)}});
        });
      });
    } else if (std::holds_alternative<effect::ReleaseVip>(effect)) {
      node.vip = Vip::None;
      node.quiesced = false;
      ++node.take_generation;
    } else if (const auto* stop = std::get_if<effect::StopAnswering>(&effect)) {
      node.quiesced = true;
      if (node.lease) {
        node.lease->nameSuccessor(stop->target);
      }
    } else if (std::holds_alternative<effect::AnswerAgain>(effect)) {
      node.quiesced = false;
      if (node.lease) {
        node.lease->nameSuccessor(0);
      }
    } else if (std::holds_alternative<effect::ContendLease>(effect)) {
      note(node.name() + " asks for the lease");
      for (const auto& out : node.lease->want(node.local(now_))) {
        leaseSend(node.id, out);
      }
      leaseChanged(node);
    } else if (std::holds_alternative<effect::ReleaseLease>(effect)) {
      note(node.name() + " gives the lease up");
      node.kernel_lease_end = 0; // the gate shuts before the voters hear that it may
      for (const auto& out : node.lease->giveUp(node.local(now_))) {
        leaseSend(node.id, out);
      }
      leaseChanged(node);
    } else if (std::holds_alternative<effect::Resync>(effect)) {
      node.replicator->resync();
    } else if (std::holds_alternative<effect::PublishKeyring>(effect)) {
      node.replicator->publishKeyring();
    } else if (const auto* send = std::get_if<effect::SendHandover>(&effect)) {
      static constexpr std::array<const char*, 5> PHASES{"?", "request", "released", "taken", "aborted"};
      note(node.name() + " sends the switchover step '" + PHASES.at(static_cast<std::size_t>(send->step.phase)) +
           "' (n" + std::to_string(send->step.from) + " to n" + std::to_string(send->step.to) + ")");
      node.replicator->sendHandover(daemon::toMessage(send->step));
    } else if (std::holds_alternative<effect::Exit>(effect)) {
      exit = true;
    }
  }
  if (decision.changed()) {
    node.replicator->announce(); // as the agent reports a transition
  }
  armTimer(node);
  if (exit) {
    note(node.name() + " exits");
    stopDaemon(node, true);
  }
}

void Simulation::armTimer(Node& node) {
  const auto generation = ++node.timer_generation;
  if (const auto deadline = node.core->deadline()) {
    const auto incarnation = node.incarnation;
    at(deadline->count(), [this, &node, generation, incarnation] {
      input(node, incarnation, [this, &node, generation] {
        if (node.timer_generation == generation) {
          feed(node, event::TimerFired{});
        }
      });
    });
  }
}

std::vector<Node*> Simulation::ringOf(const Node& node) {
  std::vector<Node*> ring;
  for (auto& other : nodes_) {
    if (other->corosync_up && other->ring == node.ring) {
      ring.push_back(other.get());
    }
  }
  return ring;
}

// Agreed order: every member of the sender's ring configuration gets the message in the
// order sent, itself included. Virtual synchrony: across a configuration change, it still
// reaches the members that stay with the sender; the others lose it.
void Simulation::broadcast(Node& node, Payload payload) {
  if (!node.corosync_up || !node.connected) {
    return;
  }
  const auto ring = node.ring;
  const auto sender = node.id;
  const auto shared = std::make_shared<const Payload>(std::move(payload));
  for (auto* receiver : ringOf(node)) {
    const Time when = std::max(receiver->last_delivery, now_ + rng_.between(1, 3));
    receiver->last_delivery = when;
    at(when, [this, receiver, ring, sender, shared] {
      const auto* from = this->node(sender);
      const bool together = receiver->ring == ring || (from->corosync_up && from->ring == receiver->ring);
      const auto* wire = std::get_if<Wire>(shared.get());
      if (!receiver->corosync_up || !receiver->cpg_joined) {
        return;
      }
      if (!together) {
        // The ring broke before it arrived: a member that did not stay with the sender never
        // gets it, though the sender may have had it back already (agreed delivery, the only
        // order CPG implements, does not wait for the others).
        if (wire != nullptr) {
          lost_in_partition_.insert({wire->from.nodeid, wire->from.pid, wire->sequence});
        }
        return;
      }
      input(*receiver, receiver->incarnation, [this, receiver, shared, wire, sender] {
        const auto confirmed_before = receiver->store->confirmed_through;
        deliver(*receiver, *shared);
        if (receiver->id == sender && receiver->store->confirmed_through > confirmed_before) {
          receiver->confirmed_by[{confirmed_before, receiver->store->confirmed_through}] = wire->sequence;
        }
      });
    });
  }
}

void Simulation::deliver(Node& node, const Payload& payload) {
  if (const auto* membership = std::get_if<Membership>(&payload)) {
    onMembership(node, *membership);
    return;
  }
  const auto& wire = std::get<Wire>(payload);
  if (std::find(node.members.begin(), node.members.end(), wire.from) == node.members.end()) {
    return; // not (or no longer) in this node's view of the group
  }
  node.replicator->onDeliver(wire.from, wire.bytes);
}

// As the agent's Corosync callbacks: the quorum and the CPG change come separately, in
// either order.
void Simulation::onMembership(Node& node, const Membership& membership) {
  const auto contains = [](const std::vector<GroupMember>& list, const GroupMember& member) {
    return std::find(list.begin(), list.end(), member) != list.end();
  };
  std::vector<GroupMember> joined;
  std::vector<GroupMember> left;
  for (const auto& member : membership.members) {
    if (!contains(node.members, member)) {
      joined.push_back(member);
    }
  }
  for (const auto& member : node.members) {
    if (!contains(membership.members, member)) {
      left.push_back(member);
    }
  }
  node.connected = true;
  const auto quorum = [&] {
    node.quorate = membership.quorate;
    node.replicator->onQuorum(membership.quorate);
    feed(node, event::FactsChanged{});
  };
  const auto group = [&] {
    node.members = membership.members;
    node.replicator->onMembership(membership.members, joined, left);
  };
  if (rng_.chance(50)) {
    quorum();
    group();
  } else {
    group();
    quorum();
  }
}

// A cold start declares the state gone: the sessions this node lacks cannot come back.
void Simulation::forgetColdStarted(Node& node) {
  const auto cold = node.replicator->stats().cold_starts.load();
  if (cold == node.noted_cold_starts) {
    return;
  }
  node.noted_cold_starts = cold;
  const auto before = confirmed_sessions_.size();
  std::erase_if(confirmed_sessions_, [&node](const auto& session) {
    return !node.store->has(static_cast<std::uint32_t>(session.first));
  });
  outcome_.sessions_lost_to_cold_starts += before - confirmed_sessions_.size();
  note(node.name() + " cold start: " + std::to_string(before - confirmed_sessions_.size()) +
       " confirmed sessions held by nobody are gone");
}

void Simulation::replicationChanged(Node& node) {
  forgetColdStarted(node);
  if (node.inSync() != node.noted_in_sync) {
    node.noted_in_sync = node.inSync();
    note(node.name() + (node.noted_in_sync ? " in sync" : " not in sync"));
  }
  feed(node, event::FactsChanged{});
}

void Simulation::createSession(Node& node) {
  const auto serial = ++session_serial_;
  const auto record = fakes::MapSessionStore::record(static_cast<std::uint32_t>(serial),
                                                     clock_.wallSeconds() + SESSION_LIFETIME_S);
  node.store->importSession(record, clock_.wallSeconds()); // the TLS server caches it itself
  if (const auto number = node.replicator->sessionCreated(record); number != 0) {
    node.awaiting.emplace_back(number, serial);
  }
}

void Simulation::observeClients(Node& node) {
  using Outcome = tls::SessionConfirmations::Outcome;
  while (!node.awaiting.empty()) {
    const auto [number, serial] = node.awaiting.front();
    const auto outcome = node.store->confirmations.outcome(number);
    if (outcome == Outcome::Pending) {
      return;
    }
    if (outcome == Outcome::Confirmed) {
      ++outcome_.sessions_confirmed;
      std::uint64_t sequence = 0;
      for (const auto& [range, by] : node.confirmed_by) {
        if (number > range.first && number <= range.second) {
          sequence = by;
        }
      }
      confirmed_sessions_.emplace(serial, Confirmed{now_, {node.id, node.process().pid, sequence}});
    }
    node.awaiting.pop_front();
  }
}

void Simulation::checkSessions(Node& node, const std::string& when) {
  for (auto it = confirmed_sessions_.begin(); it != confirmed_sessions_.end();) {
    const auto& [serial, confirmed] = *it;
    if (now_ - confirmed.at < CLIENT_RETURN || node.held_sessions.contains(serial)) {
      ++it; // its client cannot be back yet, or found here before (a store only grows)
      continue;
    }
    if (node.store->has(static_cast<std::uint32_t>(serial))) {
      node.held_sessions.insert(serial);
      ++it;
      continue;
    }
    if (lost_in_partition_.contains(confirmed.message)) {
      // Confirmed by a message the far side of a partition never received: the window of
      // agreed delivery (docs/simulation.md), counted, not a violation.
      ++outcome_.sessions_in_partition_window;
      it = confirmed_sessions_.erase(it);
      continue;
    }
    violation(node.name() + " " + when + " without session " + std::to_string(serial) +
              ", whose client got its final flight in sync mode");
    return;
  }
}

// Corosync forms new rings some time after a fault: each component of nodes whose corosync
// runs is one ring; the two sides learn of it up to `skew_ms` apart.
void Simulation::reconfigure(Time delay) {
  at(now_ + delay, [this] {
    std::map<int, std::vector<Node*>> components;
    for (auto& n : nodes_) {
      if (n->corosync_up) {
        components[n->component].push_back(n.get());
      }
    }
    for (auto& [component, ring] : components) {
      const auto id = ++ring_counter_;
      for (auto* n : ring) {
        n->ring = id;
      }
      announceMembership(ring, rng_.between(0, options_.skew_ms));
    }
  });
}

// A daemon joined or left the group: a CPG change, ordered with the ring's messages.
void Simulation::cpgChange(Node& changed) {
  if (changed.corosync_up) {
    announceMembership(ringOf(changed), rng_.between(1, 5));
  }
}

// Every daemon joined in the ring learns the ring's CPG members and quorum, `delay` from now
// and after what it was sent before.
void Simulation::announceMembership(const std::vector<Node*>& ring, Time delay) {
  // Corosync's two_node: either node alone is quorate (once both were seen, at the start).
  Membership membership{{}, two_node_ ? !ring.empty() : ring.size() * 2 > nodes_.size()};
  for (auto* n : ring) {
    if (n->cpg_joined) {
      membership.members.push_back(n->process());
    }
  }
  for (auto* receiver : ring) {
    if (!receiver->cpg_joined) {
      continue;
    }
    const Time when = std::max(receiver->last_delivery, now_ + delay);
    receiver->last_delivery = when;
    // Delivered even once a later ring replaced this one: Corosync delivers each ring's
    // configuration before the messages sent in it, and this one's may follow.
    at(when, [this, receiver, stops = receiver->corosync_stops, membership] {
      if (receiver->corosync_stops == stops && receiver->cpg_joined) {
        input(*receiver, receiver->incarnation, [this, receiver, membership] { deliver(*receiver, membership); });
      }
    });
  }
}

void Simulation::startDaemon(Node& node) {
  node.daemon_up = true;
  ++node.incarnation;
  node.frozen_until = 0;
  node.backlog.clear();
  RoleSettings settings;
  settings.self = node.id;
  settings.priority = node.priority;
  settings.guard_bound = daemon::Millis{GUARD_BOUND};
  settings.lease = lease_on_;
  node.core = std::make_unique<RoleMachine>(settings);
  node.connected = false;
  node.quorate = false;
  node.members.clear();
  node.awaiting.clear();
  node.confirmed_by.clear();
  node.held_sessions.clear();
  node.noted_in_sync = false;
  node.noted_cold_starts = 0;
  if (lease_on_) {
    if (node.lease) {
      addLeaseStats(*node.lease);
    }
    auto voting = lease_settings_;
    voting.self = node.id;
    if (options_.unsafe == Unsafe::LeaseNoVoters) {
      voting.voters = {node.id};
    }
    node.lease = std::make_unique<lease::Lease>(voting, node.local(now_));
    node.kernel_lease_end = 0; // netctl's start-up shuts the gate until a lease is granted
    node.lease_held_fed = false;
    node.silent_fed.clear();
    node.lease_timer_at = FOREVER;
    node.lease_check_pending = false;
  }
  // A new process: an empty cache, a new incarnation, its own replicator.
  node.store = std::make_unique<fakes::MapSessionStore>();
  node.bus = std::make_unique<SimBus>(*this, node);
  const std::vector<std::uint8_t> cluster_key(32, 0x5a);
  const auto incarnation_now = node.incarnation;
  node.replicator = std::make_unique<Replicator>(
      *daemon::cluster::Sealer::create(cluster_key), *node.bus, *node.store, clock_,
      Replicator::Settings{true, (std::uint64_t{node.id} << 32) | node.incarnation},
      Replicator::Callbacks{
          [this, &node] { return daemon::describeSelf(node.name(), node.priority, *node.core, facts(node)); },
          [this, &node] { replicationChanged(node); },
          [this, &node, incarnation_now] {
            at(now_, [this, &node, incarnation_now] {
              input(node, incarnation_now, [&node] { node.replicator->flushPending(); });
            });
          },
          [this, &node](const GroupMember& from, const daemon::cluster::HandoverMessage& message) {
            feed(node, daemon::toEvent(from, message));
          }});
  // netctl's start-up reconciles what a dead predecessor left: the VIP goes.
  node.vip = Vip::None;
  node.quiesced = false;
  node.gate_until = FOREVER;
  node.connections.clear();
  note(node.name() + " failoverd starts");
  const auto incarnation = node.incarnation;
  at(now_ + TICK, [this, &node, incarnation] { tick(node, incarnation); });
  if (node.corosync_up) {
    node.cpg_joined = true;
    cpgChange(node);
  } else {
    feed(node, event::FactsChanged{}); // not connected: fault
  }
}

void Simulation::stopDaemon(Node& node, bool clean) {
  if (!node.daemon_up) {
    return;
  }
  if (clean) {
    node.vip = Vip::None; // VipOwner::shutdown
    node.quiesced = false;
    if (lease_on_) {
      node.kernel_lease_end = 0;
    }
  } else if (node.vip != Vip::None) {
    // Killed: the address stays, but the guard shuts the gate within its bound of the last
    // refresh (every bound/5), and a takeover in progress stops where it was.
    node.gate_until = std::min(node.gate_until, now_ + GUARD_BOUND - rng_.between(0, GUARD_BOUND / 5));
    if (node.vip == Vip::Taking) {
      node.vip = Vip::None;
    }
  }
  node.daemon_up = false;
  node.backlog.clear();
  node.awaiting.clear(); // its clients' connections die with it
  node.connected = false;
  if (node.cpg_joined) {
    node.cpg_joined = false;
    cpgChange(node);
  }
}

void Simulation::thaw(Node& node, std::uint64_t incarnation) {
  if (!node.daemon_up || node.incarnation != incarnation || now_ < node.frozen_until) {
    return;
  }
  note(node.name() + " thaws (" + std::to_string(node.backlog.size()) + " inputs waiting)");
  // The event loop sees its guard timer and its sockets ready together, in either order.
  const bool guard_first = rng_.chance(50);
  const auto guard = [this, &node] {
    if (node.vip == Vip::Held && now_ >= node.gate_until) {
      // VipOwner::onGuardTimer: the gate shut while we slept; let the VIP go.
      node.vip = Vip::None;
      node.quiesced = false;
      node.gate_until = FOREVER;
      feed(node, event::VipLost{"the VIP guard shut the gate"});
    }
    node.gate_until = FOREVER;
  };
  if (guard_first) {
    guard();
  }
  auto backlog = std::move(node.backlog);
  node.backlog.clear();
  for (auto& action : backlog) {
    if (node.daemon_up && node.incarnation == incarnation) {
      action();
    }
  }
  if (!guard_first && node.daemon_up && node.incarnation == incarnation) {
    guard();
  }
}

void Simulation::tick(Node& node, std::uint64_t incarnation) {
  if (!node.daemon_up || node.incarnation != incarnation) {
    return;
  }
  at(now_ + TICK, [this, &node, incarnation] { tick(node, incarnation); });
  input(node, incarnation, [this, &node] {
    if (!node.corosync_up) {
      return;
    }
    if (!node.cpg_joined) {
      node.cpg_joined = true; // the agent reconnects to corosync
      cpgChange(node);
      return;
    }
    node.replicator->announce();
    feed(node, event::FactsChanged{});
  });
}

// Clients open connections to whichever node answers for the VIP.
void Simulation::clientLoad() {
  for (auto& n : nodes_) {
    if (n->answering(now_) && n->live(now_)) {
      checkSessions(*n, "answers a returning client"); // clients resume all the time
    }
    if (n->answering(now_) && n->live(now_) && rng_.chance(30)) {
      n->connections.push_back(now_ + rng_.between(1, 1500));
      if (rng_.chance(50) && !clients_stopped_) {
        createSession(*n); // a full handshake; the others resume
      }
    }
    std::erase_if(n->connections, [this](Time end) { return end <= now_; });
  }
  at(now_ + 50, [this] { clientLoad(); });
}

void Simulation::randomStep() {
  auto& n = *nodes_[rng_.below(nodes_.size())];
  const auto kind = rng_.below(17);
  const auto live = n.live(now_);
  switch (kind) {
  case 0:
    if (n.daemon_up) {
      note(n.name() + " failoverd killed (-9)");
      stopDaemon(n, false);
    } else {
      startDaemon(n);
    }
    return;
  case 1:
    if (live) {
      n.frozen_until = now_ + rng_.between(10, 3000);
      note(n.name() + " failoverd frozen until " + std::to_string(n.frozen_until) + " ms");
      if (n.vip != Vip::None) {
        n.gate_until = now_ + GUARD_BOUND - rng_.between(0, GUARD_BOUND / 5);
      }
      at(n.frozen_until, [this, &n, incarnation = n.incarnation] { thaw(n, incarnation); });
    }
    return;
  case 2:
    if (n.corosync_up) {
      note(n.name() + " corosync killed");
      n.corosync_up = false;
      ++n.corosync_stops;
      n.cpg_joined = false;
      n.ring = ++ring_counter_; // a ring of its own until it is back
      if (n.daemon_up) {
        at(now_ + 1, [this, &n, incarnation = n.incarnation] {
          input(n, incarnation, [this, &n] {
            n.connected = false;
            n.quorate = false;
            n.members.clear();
            n.replicator->onConnection(false);
            feed(n, event::FactsChanged{});
          });
        });
      }
      reconfigure(rng_.between(400, 500)); // the others' token times out
    } else {
      note(n.name() + " corosync starts");
      n.corosync_up = true;
      reconfigure(rng_.between(300, 800));
    }
    return;
  case 3: {
    // A partition of the cluster network: a random nonempty proper subset moves away.
    std::ostringstream away;
    for (auto& other : nodes_) {
      other->component = rng_.chance(50) ? 1 : 0;
      if (other->component == 1) {
        away << other->name() << " ";
      }
    }
    if (witness_) {
      witness_->component = rng_.chance(50) ? 1 : 0;
      if (witness_->component == 1) {
        away << "witness ";
      }
    }
    note("cluster network partitioned: { " + away.str() + "} apart");
    reconfigure(rng_.between(400, 500));
    return;
  }
  case 4:
    note("cluster network healed");
    for (auto& other : nodes_) {
      other->component = 0;
      other->lease_in_blocked = false;
      other->lease_out_blocked = false;
    }
    if (witness_) {
      witness_->component = 0;
    }
    reconfigure(rng_.between(200, 1500));
    return;
  case 5:
    if (live) {
      n.link_up = !n.link_up;
      note(n.name() + " service link " + (n.link_up ? "up" : "down"));
      if (!n.link_up && n.vip != Vip::None) {
        n.vip = Vip::None; // netctl: the link went down while owning the VIP
        n.quiesced = false;
        feed(n, event::VipLost{"interface went down"});
      } else {
        feed(n, event::FactsChanged{});
      }
    }
    return;
  case 6:
  case 7: {
    if (!live) {
      return;
    }
    std::optional<std::uint32_t> target;
    if (rng_.chance(50)) {
      target = static_cast<std::uint32_t>(rng_.below(nodes_.size()) + 1);
    }
    note("operator: switchover on " + n.name() + (target ? " to n" + std::to_string(*target) : ""));
    feed(n, event::Switchover{target});
    return;
  }
  case 8:
    if (live) {
      const bool on = rng_.chance(50);
      note("operator: maintenance " + std::string(on ? "on" : "off") + " on " + n.name());
      if (on) {
        feed(n, event::MaintenanceOn{rng_.chance(30)});
      } else {
        feed(n, event::MaintenanceOff{});
      }
    }
    return;
  case 9:
    if (live) {
      note("operator: promote " + n.name());
      feed(n, event::Promote{});
    }
    return;
  case 10:
    if (live) {
      note("operator: demote " + n.name());
      feed(n, event::Demote{});
    }
    return;
  case 11:
    if (live) {
      note("operator: SIGTERM to " + n.name());
      feed(n, event::StopRequested{});
    }
    return;
  case 12:
    if (live && n.core->role() == Role::Active) {
      // As Agent::rotateKeys: a new keyring, published to the group.
      const auto rotation = ++keyring_rotations_;
      n.store->keyring = {static_cast<std::uint8_t>(rotation >> 8), static_cast<std::uint8_t>(rotation), 0x6b};
      note("operator: rotate-keys on " + n.name());
      n.replicator->publishKeyring();
    }
    return;
  case 13:
    if (lease_on_) {
      // One direction of its cluster links drops everything (iptables DROP on input or
      // output): the lease hears it one way at once; Corosync's ring reforms without it.
      const bool in = rng_.chance(50);
      (in ? n.lease_in_blocked : n.lease_out_blocked) = true;
      n.component = 10 + static_cast<int>(n.id);
      note(n.name() + " cluster links drop " + (in ? "input" : "output"));
      reconfigure(rng_.between(400, 500));
    }
    return;
  case 14:
    if (witness_) {
      if (witness_->up) {
        witness_->up = false;
        addLeaseStats(*witness_->lease);
        note("witness killed");
      } else {
        startWitness();
      }
    }
    return;
  default:
    return; // quiet: let the cluster settle
  }
}

void Simulation::healAll() {
  note("heal everything");
  if (witness_) {
    witness_->component = 0;
    if (!witness_->up) {
      startWitness();
    }
  }
  for (auto& n : nodes_) {
    n->component = 0;
    n->lease_in_blocked = false;
    n->lease_out_blocked = false;
    if (!n->corosync_up) {
      n->corosync_up = true;
    }
    n->link_up = true;
  }
  reconfigure(rng_.between(200, 800));
  for (auto& n : nodes_) {
    if (!n->daemon_up) {
      startDaemon(*n);
    } else if (n->live(now_)) {
      if (n->core->role() == Role::Maintenance) {
        feed(*n, event::MaintenanceOff{});
      }
      feed(*n, event::FactsChanged{});
    }
  }
}

void Simulation::startWitness() {
  auto settings = lease_settings_;
  settings.self = witness_->id;
  settings.votes = true;
  witness_->up = true;
  witness_->lease = std::make_unique<lease::Lease>(settings, witness_->local(now_));
  note("witness starts");
}

bool Simulation::leaseReachable(std::uint32_t from, std::uint32_t to) const {
  const auto endpoint = [this](std::uint32_t id) -> std::tuple<int, bool, bool> {
    if (witness_ && id == witness_->id) {
      return {witness_->component, false, false};
    }
    const auto& n = *nodes_[id - 1];
    return {n.component, n.lease_in_blocked, n.lease_out_blocked};
  };
  const auto [from_component, from_in, from_out] = endpoint(from);
  const auto [to_component, to_in, to_out] = endpoint(to);
  return from_component == to_component && !from_out && !to_in;
}

void Simulation::leaseSend(std::uint32_t from, const lease::Outgoing& out) {
  if (!leaseReachable(from, out.to) || rng_.chance(loss_percent_)) {
    return;
  }
  const Time delay = rng_.chance(2) ? rng_.between(5, 30) : rng_.between(0, 2);
  at(now_ + delay, [this, from, out] { leaseArrive(from, out); });
}

void Simulation::leaseArrive(std::uint32_t from, const lease::Outgoing& out) {
  if (witness_ && out.to == witness_->id) {
    if (witness_->up) {
      for (const auto& answer : witness_->lease->receive(from, out.message, witness_->local(now_))) {
        leaseSend(witness_->id, answer);
      }
    }
    return;
  }
  auto& receiver = *node(out.to);
  input(receiver, receiver.incarnation, [this, &receiver, from, out] {
    for (const auto& answer : receiver.lease->receive(from, out.message, receiver.local(now_))) {
      leaseSend(receiver.id, answer);
    }
    leaseChanged(receiver);
  });
}

// As the agent after any lease input: the lease end into the guard's map at once, the timer
// re-armed, and the decision core told (from the event loop, after this input) if what it
// knows of the lease changed.
void Simulation::leaseChanged(Node& node) {
  node.kernel_lease_end = node.lease->end().count();
  armLease(node);
  if (node.lease_check_pending) {
    return;
  }
  node.lease_check_pending = true;
  at(now_, [this, &node, incarnation = node.incarnation] {
    input(node, incarnation, [this, &node] {
      node.lease_check_pending = false;
      leaseFactsCheck(node);
    });
  });
}

void Simulation::leaseFactsCheck(Node& node) {
  const auto local = node.local(now_);
  const bool held = node.lease->held(local);
  std::set<std::uint32_t> silent;
  for (auto& other : nodes_) {
    if (other->id != node.id && node.lease->silent(other->id, local)) {
      silent.insert(other->id);
    }
  }
  if (held != node.lease_held_fed || silent != node.silent_fed) {
    if (held != node.lease_held_fed) {
      note(node.name() + (held ? " holds the lease" : " does not hold the lease"));
    }
    node.lease_held_fed = held;
    node.silent_fed = silent;
    feed(node, event::FactsChanged{});
  }
}

void Simulation::armLease(Node& node) {
  const auto due = node.lease->nextDue(node.local(now_));
  if (!due) {
    return;
  }
  // The real instant this node's clock reaches `due`, rounded up to the simulator's grain.
  const auto span = due->count() - node.clock_offset_ns;
  const auto rate = NS_PER_MS + node.rate_ppm;
  const Time when = (span + rate - 1) / rate;
  if (node.lease_timer_at > now_ && node.lease_timer_at <= when) {
    return; // an earlier one is armed, and re-arms
  }
  node.lease_timer_at = when;
  const auto generation = ++node.lease_timer_generation;
  at(when, [this, &node, generation, incarnation = node.incarnation] {
    if (node.lease_timer_generation != generation) {
      return;
    }
    input(node, incarnation, [this, &node] {
      node.lease_timer_at = FOREVER;
      for (const auto& out : node.lease->tick(node.local(now_))) {
        leaseSend(node.id, out);
      }
      leaseChanged(node);
    });
  });
}

void Simulation::addLeaseStats(const lease::Lease& lease) {
  outcome_.lease_renewals += lease.stats().renewals;
  outcome_.lease_losses += lease.stats().losses;
}

void Simulation::checkInvariants() {
  std::vector<std::string> answering;
  for (auto& n : nodes_) {
    if (n->answering(now_)) {
      answering.push_back(n->name());
    }
    if (n->daemon_up) {
      observeClients(*n);
      forgetColdStarted(*n);
    }
    if (!n->live(now_)) {
      continue;
    }
    const auto role = n->core->role();
    if (!daemon::holdsVip(role) && n->vip != Vip::None) {
      violation(n->name() + " is " + std::string(daemon::toString(role)) + " but holds the VIP");
    }
    if ((!n->connected || !n->quorate) && daemon::holdsVip(role)) {
      violation(n->name() + " lost quorum or Corosync and still holds the VIP as " +
                std::string(daemon::toString(role)));
    }
    // A switchover ends within its bounds: emptying, the target's time, draining, and the
    // abort's round trip.
    if (role == Role::HandingOver && now_ - n->handing_over_since > 1000 + 2 * 5000 + 2000 + 100) {
      violation(n->name() + " has been handing over since " + std::to_string(n->handing_over_since) + " ms");
    }
  }
  if (answering.size() > 1) {
    std::string who;
    for (const auto& name : answering) {
      who += name + " ";
    }
    violation("two nodes answer for the VIP: " + who);
  }
}

void Simulation::advanceTo(Time until) {
  while (!agenda_.empty() && outcome_.ok) {
    const auto it = agenda_.begin();
    if (it->first.first > until) {
      break;
    }
    now_ = it->first.first;
    clock_.set(now_);
    auto action = std::move(it->second);
    agenda_.erase(it);
    action();
    ++outcome_.events;
    checkInvariants();
  }
  now_ = std::max(now_, until);
  clock_.set(now_);
}

std::uint64_t Simulation::leaseLosses() const {
  std::uint64_t losses = 0;
  for (const auto& n : nodes_) {
    losses += n->lease ? n->lease->stats().losses : 0;
  }
  return losses;
}

// Liveness, not only safety: with everything healed and in sync, a planned switchover is
// accepted, and on links without loss its target is active and answering 10 s later, no lease
// lost (a target that takes the VIP and then loses it, its lease for one, is a failed
// switchover though no two nodes ever answered).
void Simulation::checkPlannedSwitchover(Node& active) {
  if (std::none_of(nodes_.begin(), nodes_.end(), [this, &active](const auto& n) {
        return n.get() != &active && n->live(now_) && n->inSync() && n->core->role() == Role::Standby;
      })) {
    return; // the others exited (a SIGTERM in the schedule): nobody to hand over to
  }
  const auto losses_before = leaseLosses();
  note("operator: switchover on " + active.name() + " (everything healed)");
  const auto decision = feed(active, event::Switchover{});
  if (decision.refused) {
    return violation("a switchover among healthy nodes was refused: " + *decision.refused);
  }
  const auto target = active.switchover_target;
  advanceTo(now_ + 10000);
  if (!outcome_.ok) {
    return;
  }
  const auto answering = std::count_if(nodes_.begin(), nodes_.end(), [this](const auto& n) {
    return n->core->role() == Role::Active && n->answering(now_);
  });
  if (loss_percent_ > 0) {
    // With loss on the lease's links any lease may run out, the new active's included (four
    // rounds in a row without a majority at L = 4h): then the election moves the VIP on.
    if (answering != 1) {
      violation("no single active answering 10 s after a switchover among healthy nodes");
    }
    return;
  }
  const auto* new_active = target ? node(*target) : nullptr;
  if (new_active == nullptr || new_active->core->role() != Role::Active || !new_active->answering(now_)) {
    return violation("a switchover from " + active.name() + " among healthy nodes did not leave " +
                     (new_active ? new_active->name() : std::string("its target")) + " active and answering");
  }
  if (leaseLosses() != losses_before) {
    violation("a lease was lost during a switchover among healthy nodes, on links without loss");
  }
}

Outcome Simulation::run() {
  for (auto& n : nodes_) {
    n->ring = 1;
  }
  ring_counter_ = 1;
  for (auto& n : nodes_) {
    startDaemon(*n);
  }
  clientLoad();
  advanceTo(5000);
  for (unsigned step = 0; step < options_.steps && outcome_.ok; ++step) {
    randomStep();
    advanceTo(now_ + rng_.between(0, 1500));
  }
  if (outcome_.ok) {
    healAll();
    advanceTo(now_ + 19000);
    // New sessions stop a second before the end, so that every one confirmed has reached
    // every member when they are compared.
    clients_stopped_ = true;
    advanceTo(now_ + 1000);
    // Everything healed and quiet: exactly one active, answering, and everyone in sync with
    // its sessions and its ticket keys (or the tickets it issues would not decrypt on the next).
    std::vector<const Node*> active;
    for (auto& n : nodes_) {
      if (n->core->role() == Role::Active && n->answering(now_)) {
        active.push_back(n.get());
      }
    }
    if (active.size() != 1) {
      violation(std::to_string(active.size()) + " active nodes answering 20 s after everything healed");
    }
    for (auto& n : nodes_) {
      if (!n->daemon_up) {
        continue; // it exited after the heal (a SIGTERM or an exit after handing over)
      }
      if (!n->inSync()) {
        violation(n->name() + " is not in sync 20 s after everything healed");
      }
      checkSessions(*n, "is in sync 20 s after everything healed");
      if (active.size() == 1 && n->store->keyring != active[0]->store->keyring) {
        violation(n->name() + " holds another ticket keyring than the active 20 s after everything healed");
      }
    }
    if (outcome_.ok && active.size() == 1) {
      checkPlannedSwitchover(*this->node(active[0]->id));
    }
  }
  for (auto& n : nodes_) {
    if (n->lease) {
      addLeaseStats(*n->lease);
    }
  }
  outcome_.simulated_ms = now_;
  if (!options_.trace) {
    outcome_.trace.assign(recent_.begin(), recent_.end());
  }
  return std::move(outcome_);
}

} // namespace

Outcome run(std::uint64_t seed, const Options& options) {
  daemon::setLogLevel(daemon::LogLevel::Error); // the simulator's trace says what happened
  return Simulation(seed, options).run();
}

} // namespace failover::sim
