#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace failover::daemon {

// A node's role for one VIP group (docs/roles.md).
enum class Role {
  Standby,     // in the group, ready to take over if elected
  Active,      // owns the VIP and serves
  Maintenance, // set by the operator: never elected
  Fault,       // no Corosync connection: holds nothing until it reconnects
  HandingOver, // active, in a planned switchover: empties, then stops answering ARP/NA, still serves
};
std::string_view toString(Role role);
// The roles in which a node holds the VIP. Every other role holds none and answers no
// ARP/NA for it: RoleMachine::enter is the one place that keeps this so.
constexpr bool holdsVip(Role role) noexcept { return role == Role::Active || role == Role::HandingOver; }

// Monotonic time as the decision sees it: an input like any other, so that the simulator
// and the unit tests drive it.
using Millis = std::chrono::milliseconds;

// What this node knows of another member: its last announced state.
struct MemberInfo {
  std::uint32_t nodeid = 0;
  std::string name;
  unsigned priority = 0;
  Role role = Role::Standby;
  bool in_sync = false;
  bool eligible = true; // false while it yields after an operator's demote or a lost VIP
  // With the majority lease: it was asking for the lease and has not been heard for the
  // tolerated number of renewals (frozen, dead, or cut off), before Corosync may notice.
  bool silent = false;
};

// The inputs every decision is made on; the agent rebuilds them from Corosync's callbacks,
// the members' State messages, netctl and the TLS service.
struct ClusterFacts {
  bool connected = false; // the CPG connection is up
  bool quorate = false;
  bool in_sync = false; // this node holds the cluster's sessions and keys
  std::vector<MemberInfo> others; // current members other than this node, whose state is known
  // Members joined but have not announced their state yet: one of them may be active (a
  // partition healing), so no standby elects itself until they have.
  bool settling = false;
  // This node's service interface is up with carrier: a node that cannot serve is never
  // elected (it would hold the VIP unreachable).
  bool serviceable = true;
  // TLS connections still open on this node: a switchover empties them before the VIP moves.
  std::size_t open_connections = 0;
  // New connection attempts to this node are held (the hold rule is in the kernel), or cannot
  // be (no hold configured). Installing the rule takes an iptables run, tens to hundreds of
  // milliseconds on a loaded node: a switchover that moved the VIP before it was in would let
  // a SYN open a connection here that the client's next packets, sent to the new active
  // once its announcement arrives, would find reset.
  bool new_connections_held = true;
  // With the majority lease: this node holds it now (a majority of voters granted it, and its
  // time has not run out).
  bool lease_held = false;
};

// A step of a planned switchover as it travels between nodes (in the group's agreed order).
struct HandoverStep {
  enum class Phase : std::uint8_t { Request = 1, Released = 2, Taken = 3, Aborted = 4 };
  Phase phase = Phase::Request;
  std::uint32_t from = 0; // the active node handing over
  std::uint32_t to = 0;   // the node taking over
  std::array<std::uint8_t, 6> mac{}; // Taken: the new active's MAC, for the held SYNs
};

// What the old active does once its switchover is over.
enum class AfterHandover { Stay, Exit, Maintenance };

namespace event {
// Membership, quorum, sync, a member's state, the service link or the one-second tick.
struct FactsChanged {};
// The deadline RoleMachine::deadline() asked for has come.
struct TimerFired {};
// netctl has the VIP and announced it.
struct VipTaken {
  std::array<std::uint8_t, 6> mac{};
};
// netctl lost the VIP (removed, link down, guard fired); it has already let go of it.
struct VipLost {
  std::string reason;
};
struct TakeoverFailed {
  std::string reason;
};
struct Promote {};
struct Demote {};
struct MaintenanceOn {
  bool force = false; // release the VIP even when no standby can take it
};
struct MaintenanceOff {};
// The operator asks for a switchover (on any node); no target: the best in-sync standby.
struct Switchover {
  std::optional<std::uint32_t> target;
};
// SIGTERM: the active hands over first, then exits; anything else exits at once.
struct StopRequested {};
// A switchover step from the group, and the node that sent it.
struct HandoverReceived {
  HandoverStep step;
  std::uint32_t sender = 0;
};
} // namespace event

using Event = std::variant<event::FactsChanged, event::TimerFired, event::VipTaken, event::VipLost,
                           event::TakeoverFailed, event::Promote, event::Demote, event::MaintenanceOn,
                           event::MaintenanceOff, event::Switchover, event::StopRequested,
                           event::HandoverReceived>;

// The side effects of a decision, as data, carried out by the agent in the order given.
namespace effect {
// Take the VIP, not before `wait_out` (a failed owner's guard may answer that long).
struct TakeVip {
  Millis wait_out{0};
};
struct ReleaseVip {};
// Switchover, emptying: hold new connection attempts, ask open connections to finish.
struct HoldNewConnections {};
struct CloseConnections {};
// Switchover: stop answering ARP/NA for the VIP (keep serving), or answer again (aborted).
struct StopAnswering {
  std::uint32_t target = 0; // the node the switchover hands to
};
struct AnswerAgain {};
// Switchover: forward the held connection attempts to the new active's MAC.
struct ForwardHeld {
  std::array<std::uint8_t, 6> mac{};
};
// This node's sessions are no longer the cluster's: take a snapshot.
struct Resync {};
// Standbys must hold the new active's ticket keys before its tickets reach clients.
struct PublishKeyring {};
struct SendHandover {
  HandoverStep step;
};
// Stop the daemon (after a handover asked by SIGTERM, or at once).
struct Exit {};
// With the majority lease: start asking the voters for it (this node wants the VIP), or give
// it back (it no longer answers for the VIP, or no longer wants to).
struct ContendLease {};
struct ReleaseLease {};
} // namespace effect

using Effect = std::variant<effect::TakeVip, effect::ReleaseVip, effect::HoldNewConnections,
                            effect::CloseConnections, effect::StopAnswering, effect::AnswerAgain,
                            effect::ForwardHeld, effect::Resync, effect::PublishKeyring,
                            effect::SendHandover, effect::Exit, effect::ContendLease, effect::ReleaseLease>;

// The outcome of one event. `refused` is set (and nothing changes) when an operator command
// cannot be done.
struct Decision {
  Role from = Role::Standby;
  Role to = Role::Standby;
  std::string reason;
  std::vector<Effect> effects;
  std::optional<std::string> refused;
  std::optional<std::uint32_t> target; // the node a switchover hands over to
  bool changed() const noexcept { return from != to; }
  template <class E> bool has() const {
    for (const auto& effect : effects) {
      if (std::holds_alternative<E>(effect)) {
        return true;
      }
    }
    return false;
  }
};

struct RoleSettings {
  std::uint32_t self = 0; // the node id, known once Corosync answers
  unsigned priority = 100;
  bool preempt = false;
  // The VIP guard's bound: after a failure, a new active waits this out before answering.
  Millis guard_bound{50};
  // A switchover's steps: how long open connections get to finish before the VIP moves;
  // how long the target has to take it; how long the old active keeps the quiesced VIP for
  // stragglers (at least `handover_grace`, while connections are open, at most `drain_bound`).
  // Emptying lasts until new connections are held (ClusterFacts::new_connections_held) and at
  // least `emptying_settle` more: a SYN that arrived just before the hold was in place
  // completes its handshake in the kernel and reaches the TLS workers (and the open count)
  // within it; deciding at once would move the VIP under that connection.
  Millis emptying_settle{20};
  Millis emptying_bound{1000};
  Millis handover_timeout{5000};
  Millis handover_grace{500};
  Millis drain_bound{2000};
  // The majority lease (docs/lease.md): a node answers for the VIP only while it holds the
  // lease, so it takes the VIP once granted (no wait-out: the old holder's lease, and with it
  // its kernel gate, ended first), steps down when the lease runs out, and a member silent on
  // the lease counts as gone for the election before Corosync sees it leave.
  bool lease = false;
};

// The decision core of one VIP group on one node: roles, election and planned switchovers in
// one transition function, events and time in, effects out, no I/O. Nothing else decides
// who holds the VIP; tests/unit drives it directly and tests/sim runs N of them over a
// simulated Corosync.
// Election: the highest priority among quorate, in-sync, eligible members; the lower node id
// breaks ties; an active member is never displaced by a better one unless preempt is on.
class RoleMachine {
public:
  explicit RoleMachine(RoleSettings settings) : settings_(settings) {}

  Decision handle(const Event& event, const ClusterFacts& facts, Millis now);

  Role role() const noexcept { return role_; }
  // False while this node yields the VIP to others (after a demote or a lost VIP) or cannot
  // serve it (its service link is down): what it announces, and what status shows.
  bool eligible(const ClusterFacts& facts) const noexcept { return !yielding_ && facts.serviceable; }
  // When the agent must send event::TimerFired (a switchover step is due), if ever.
  std::optional<Millis> deadline() const noexcept { return wake_at_; }
  // The node a switchover in progress hands over to, and its step (for status).
  std::optional<std::uint32_t> handoverTarget() const noexcept;
  std::string_view handoverPhase() const noexcept;
  unsigned priority() const noexcept { return settings_.priority; }
  bool preempt() const noexcept { return settings_.preempt; }
  void setPriority(unsigned priority) noexcept { settings_.priority = priority; }
  void setPreempt(bool preempt) noexcept { settings_.preempt = preempt; }
  void setNode(std::uint32_t self) noexcept { settings_.self = self; }
  std::uint32_t self() const noexcept { return settings_.self; }

  // The member that should be active now, if any: an active member that outranks every
  // other active one, else the best candidate. Exposed for `failoverctl status`.
  std::optional<std::uint32_t> electedActive(const ClusterFacts& facts) const;
  // The best-ranked other member that could take the VIP now (a standby, in sync, eligible):
  // the target of a switchover.
  std::optional<std::uint32_t> bestStandby(const ClusterFacts& facts) const;

  // With the lease: this node asks for it before it becomes active.
  bool contending() const noexcept { return contending_.has_value(); }

private:
  // Why this node asks for the lease: what must still hold when it is granted.
  struct Contention {
    enum class Kind { Election, Switchover, Operator };
    Kind kind = Kind::Election;
    std::string reason;
  };
  struct Switchover {
    enum class Phase { Emptying, Released, Draining };
    Phase phase = Phase::Emptying;
    std::uint32_t target = 0;
    std::string target_name; // for the reasons given after it has left
    AfterHandover after = AfterHandover::Stay;
    Millis deadline{0};
    Millis grace_end{0}; // emptying: its settle time; draining: its grace period
    bool held = false;   // emptying: new connections were seen held (the settle time runs from then)
    bool abort_sent = false; // released: the target was silent, and we called it off
  };
  // On a switchover's target, from the Released step until its own Taken comes back in the
  // group's order (until then the old active may still call the switchover off).
  struct Taking {
    std::uint32_t from = 0;
    bool announced = false; // Taken sent
  };

  void enter(Decision& decision, Role to, std::string reason);
  // Becomes active, or with the lease asks for it first (and becomes active once it holds it).
  void becomeActive(Decision& decision, Contention::Kind kind, std::string reason);
  bool contentionStands(const ClusterFacts& facts) const;
  void stopContending(Decision& decision);
  // With the lease, a member that holds the VIP and has gone silent on it counts as gone, as
  // if Corosync had said so. Only such a member: a standby is silent when the release that
  // ended its asking was lost, which would otherwise leave it out of every election and
  // switchover until it asked again (cluster-sim found switchovers refused that way).
  bool present(const MemberInfo& member) const noexcept {
    return !(settings_.lease && member.silent && holdsVip(member.role));
  }
  void decide(Decision& decision, const ClusterFacts& facts);
  void operatorCommand(Decision& decision, const Event& event, const ClusterFacts& facts, Millis now);
  void startSwitchover(Decision& decision, std::uint32_t target, AfterHandover after, const ClusterFacts& facts,
                       Millis now);
  void onStep(Decision& decision, const HandoverStep& step, std::uint32_t sender, const ClusterFacts& facts,
              Millis now);
  void advanceSwitchover(Decision& decision, const ClusterFacts& facts, Millis now);
  void releaseForTarget(Decision& decision, Millis now);
  // Ends a switchover that did not hand over. `target_refused`: the target said it will not
  // take the VIP, so answering again at once is safe.
  void abortSwitchover(Decision& decision, const std::string& why, const ClusterFacts& facts,
                       bool target_refused = false);
  void finishSwitchover(Decision& decision);
  void scheduleWake(Millis now);
  bool outranks(unsigned priority_a, std::uint32_t a, unsigned priority_b, std::uint32_t b) const;
  bool selfCandidate(const ClusterFacts& facts) const;
  std::string nameOf(std::uint32_t node, const ClusterFacts& facts) const;

  RoleSettings settings_;
  Role role_ = Role::Standby;
  bool yielding_ = false;
  std::optional<Switchover> switchover_; // present exactly while HandingOver
  std::optional<Taking> taking_;
  bool vip_held_ = false; // netctl reported the VIP taken (not merely asked for)
  std::optional<Millis> wake_at_;
  std::optional<Contention> contending_;
  bool lease_held_ = false; // the facts' lease_held at the event being handled
};

} // namespace failover::daemon
