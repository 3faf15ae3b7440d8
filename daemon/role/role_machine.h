#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace failover::daemon {

// A node's role (docs/roles.md).
enum class Role {
  Standby,     // in the group, ready to take over if elected
  Active,      // owns the VIP and serves
  Maintenance, // set by the operator: never elected
  Fault,       // no Corosync connection: holds nothing until it reconnects
  HandingOver, // active, in a planned switchover: no longer answers ARP for the VIP, still serves
};
std::string_view toString(Role role);

// What this node knows of another member: its last announced state.
struct MemberInfo {
  std::uint32_t nodeid = 0;
  std::string name;
  unsigned priority = 0;
  Role role = Role::Standby;
  bool in_sync = false;
  bool eligible = true; // false while it yields after an operator's demote or a lost VIP
};

// The inputs every decision is made on; the agent rebuilds them from Corosync's callbacks
// and the members' State messages.
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
};

namespace event {
struct FactsChanged {};
struct VipLost {
  std::string reason;
};
struct TakeoverFailed {
  std::string reason;
};
struct Promote {};
struct Demote {};
struct MaintenanceOn {};
struct MaintenanceOff {};
// Planned switchover: on the active, hand over to `target`; then it is done (the target has
// the VIP), or it failed (the target did not take it in time, or left).
struct HandOver {
  std::uint32_t target = 0;
};
struct HandoverDone {};
struct HandoverFailed {
  std::string reason;
};
// On the target: the active has released the VIP for it.
struct TakeOverPlanned {
  std::string from;
};
} // namespace event

using Event = std::variant<event::FactsChanged, event::VipLost, event::TakeoverFailed,
                           event::Promote, event::Demote, event::MaintenanceOn,
                           event::MaintenanceOff, event::HandOver, event::HandoverDone,
                           event::HandoverFailed, event::TakeOverPlanned>;

// The outcome of one event: the new role and the side effects the agent must run, in order:
// release the VIP, forget sessions (a node that lost a split-brain election resyncs), take
// the VIP. `refused` is set (and nothing changes) when an operator command cannot be done.
struct Transition {
  Role from = Role::Standby;
  Role to = Role::Standby;
  std::string reason;
  bool release_vip = false;
  bool resync = false;
  bool take_vip = false;
  std::optional<std::string> refused;
  bool changed() const noexcept { return from != to; }
};

// The role state machine: one transition function, no I/O, so every rule is unit-tested.
// Election: the highest priority among quorate, in-sync, eligible members; the lower node id
// breaks ties; an active member is never displaced by a better one unless preempt is on.
class RoleMachine {
public:
  RoleMachine(std::uint32_t self, unsigned priority, bool preempt)
      : self_(self), priority_(priority), preempt_(preempt) {}

  Transition handle(const Event& event, const ClusterFacts& facts);

  Role role() const noexcept { return role_; }
  // False while this node yields the VIP to others (after a demote or a lost VIP) or cannot
  // serve it (its service link is down): what it announces, and what status shows.
  bool eligible(const ClusterFacts& facts) const noexcept { return !yielding_ && facts.serviceable; }
  void setPriority(unsigned priority) noexcept { priority_ = priority; }
  // The node id is known once Corosync answers; it does not change while connected.
  void setNode(std::uint32_t self) noexcept { self_ = self; }

  // The member that should be active now, if any: an active member that outranks every
  // other active one, else the best candidate. Exposed for `failoverctl status`.
  std::optional<std::uint32_t> electedActive(const ClusterFacts& facts) const;
  // The best-ranked other member that could take the VIP now (a standby, in sync, eligible):
  // the target of a switchover.
  std::optional<std::uint32_t> bestStandby(const ClusterFacts& facts) const;

private:
  Transition decide(const ClusterFacts& facts, Transition transition);
  Transition operatorCommand(const Event& event, const ClusterFacts& facts, Transition transition);
  Transition handover(const Event& event, const ClusterFacts& facts, Transition transition);
  bool outranks(unsigned priority_a, std::uint32_t a, unsigned priority_b, std::uint32_t b) const;
  bool selfCandidate(const ClusterFacts& facts) const;

  std::uint32_t self_;
  unsigned priority_;
  bool preempt_;
  Role role_ = Role::Standby;
  bool yielding_ = false;
};

} // namespace failover::daemon
