#include "daemon/role/role_machine.h"

#include <algorithm>

namespace failover::daemon {

std::string_view toString(Role role) {
  switch (role) {
  case Role::Standby:
    return "standby";
  case Role::Active:
    return "active";
  case Role::Maintenance:
    return "maintenance";
  case Role::Fault:
    return "fault";
  case Role::HandingOver:
    return "handing-over";
  }
  return "standby";
}

namespace {
// For the election, a node in the middle of a planned switchover still holds the VIP.
bool holdsVip(Role role) { return role == Role::Active || role == Role::HandingOver; }
} // namespace

bool RoleMachine::outranks(unsigned priority_a, std::uint32_t a, unsigned priority_b,
                           std::uint32_t b) const {
  return priority_a != priority_b ? priority_a > priority_b : a < b;
}

std::optional<std::uint32_t> RoleMachine::bestStandby(const ClusterFacts& facts) const {
  const MemberInfo* best = nullptr;
  for (const auto& member : facts.others) {
    if (member.in_sync && member.eligible && member.role == Role::Standby &&
        (best == nullptr || outranks(member.priority, member.nodeid, best->priority, best->nodeid))) {
      best = &member;
    }
  }
  return best != nullptr ? std::optional(best->nodeid) : std::nullopt;
}

bool RoleMachine::selfCandidate(const ClusterFacts& facts) const {
  // A yielding node steps aside only while someone else can take the VIP; otherwise the
  // service would be left with no active node at all.
  return facts.quorate && facts.in_sync && facts.serviceable && (!yielding_ || !bestStandby(facts).has_value()) &&
         (role_ == Role::Standby || role_ == Role::Active);
}

std::optional<std::uint32_t> RoleMachine::electedActive(const ClusterFacts& facts) const {
  if (!facts.quorate) {
    return std::nullopt;
  }
  // An active member stays active (no preemption): the best-ranked of them, if several.
  std::optional<std::pair<unsigned, std::uint32_t>> best_active;
  const auto consider = [&](std::optional<std::pair<unsigned, std::uint32_t>>& best, unsigned priority,
                            std::uint32_t node) {
    if (!best || outranks(priority, node, best->first, best->second)) {
      best = std::pair{priority, node};
    }
  };
  // A node handing over stands for the VIP only until its target is active: it must never
  // compete with the node it is handing over to.
  const bool someone_active = role_ == Role::Active ||
                              std::any_of(facts.others.begin(), facts.others.end(),
                                          [](const MemberInfo& m) { return m.role == Role::Active; });
  const auto stands_for_vip = [someone_active](Role role) {
    return someone_active ? role == Role::Active : holdsVip(role);
  };
  if (stands_for_vip(role_)) {
    consider(best_active, priority_, self_);
  }
  for (const auto& member : facts.others) {
    if (stands_for_vip(member.role)) {
      consider(best_active, member.priority, member.nodeid);
    }
  }
  std::optional<std::pair<unsigned, std::uint32_t>> best_candidate;
  if (selfCandidate(facts)) {
    consider(best_candidate, priority_, self_);
  }
  for (const auto& member : facts.others) {
    if (member.in_sync && member.eligible && (member.role == Role::Standby || member.role == Role::Active)) {
      consider(best_candidate, member.priority, member.nodeid);
    }
  }
  if (best_active && !(preempt_ && best_candidate && best_candidate->second != best_active->second &&
                       outranks(best_candidate->first, best_candidate->second, best_active->first,
                                best_active->second))) {
    return best_active->second;
  }
  if (best_candidate) {
    return best_candidate->second;
  }
  return std::nullopt;
}

Transition RoleMachine::handle(const Event& event, const ClusterFacts& facts) {
  Transition transition;
  transition.from = role_;
  transition.to = role_;
  if (std::holds_alternative<event::FactsChanged>(event)) {
    return decide(facts, transition);
  }
  if (const auto* lost = std::get_if<event::VipLost>(&event)) {
    if (role_ == Role::Active) {
      // netctl has already let go of the VIP; stand aside so that another node takes it.
      role_ = Role::Standby;
      yielding_ = true;
      transition.to = role_;
      transition.reason = "lost the VIP: " + lost->reason;
    }
    return decide(facts, transition);
  }
  if (const auto* failed = std::get_if<event::TakeoverFailed>(&event)) {
    role_ = Role::Standby;
    yielding_ = true;
    transition.to = role_;
    transition.release_vip = true;
    transition.reason = "takeover failed: " + failed->reason;
    return transition;
  }
  if (std::holds_alternative<event::HandOver>(event) || std::holds_alternative<event::HandoverDone>(event) ||
      std::holds_alternative<event::HandoverFailed>(event) ||
      std::holds_alternative<event::TakeOverPlanned>(event)) {
    return handover(event, facts, transition);
  }
  return operatorCommand(event, facts, transition);
}

Transition RoleMachine::handover(const Event& event, const ClusterFacts& facts, Transition transition) {
  const auto refuse = [&transition](std::string why) {
    transition.refused = std::move(why);
    return transition;
  };
  if (const auto* request = std::get_if<event::HandOver>(&event)) {
    if (role_ != Role::Active) {
      return refuse("this node is not active");
    }
    const auto target = std::find_if(facts.others.begin(), facts.others.end(),
                                     [&](const MemberInfo& m) { return m.nodeid == request->target; });
    if (target == facts.others.end()) {
      return refuse("node " + std::to_string(request->target) + " is not a member");
    }
    if (!target->in_sync) {
      return refuse("node " + target->name + " is not in sync: its clients' sessions would not resume");
    }
    if (target->role != Role::Standby) {
      return refuse("node " + target->name + " is " + std::string(toString(target->role)) + ", not a standby");
    }
    if (!target->eligible) {
      return refuse("node " + target->name + " is not eligible (its service link is down, or it yields)");
    }
    role_ = Role::HandingOver;
    transition.to = role_;
    transition.reason = "switching over to " + target->name;
    return transition;
  }
  if (std::holds_alternative<event::HandoverDone>(event)) {
    if (role_ != Role::HandingOver) {
      return refuse("no switchover in progress");
    }
    role_ = Role::Standby;
    transition.to = role_;
    transition.release_vip = true;
    transition.reason = "switchover done";
    return transition;
  }
  if (const auto* failed = std::get_if<event::HandoverFailed>(&event)) {
    if (role_ != Role::HandingOver) {
      return refuse("no switchover in progress");
    }
    role_ = Role::Active;
    transition.to = role_;
    transition.reason = "switchover failed, staying active: " + failed->reason;
    return transition;
  }
  const auto& planned = std::get<event::TakeOverPlanned>(event);
  if (role_ != Role::Standby) {
    return refuse("this node is " + std::string(toString(role_)) + ", not a standby");
  }
  if (!facts.quorate || !facts.in_sync) {
    return refuse("this node is not quorate and in sync");
  }
  if (!facts.serviceable) {
    return refuse("this node's service interface is down or has no carrier");
  }
  yielding_ = false;
  role_ = Role::Active;
  transition.to = role_;
  transition.take_vip = true;
  transition.reason = "switchover from " + planned.from;
  return transition;
}

Transition RoleMachine::operatorCommand(const Event& event, const ClusterFacts& facts,
                                        Transition transition) {
  const auto refuse = [&transition](std::string why) {
    transition.refused = std::move(why);
    return transition;
  };
  if (std::holds_alternative<event::MaintenanceOn>(event)) {
    if (role_ == Role::Maintenance) {
      return transition;
    }
    transition.release_vip = role_ == Role::Active;
    role_ = Role::Maintenance;
    transition.to = role_;
    transition.reason = "maintenance mode on (operator)";
    return decide(facts, transition);
  }
  if (std::holds_alternative<event::MaintenanceOff>(event)) {
    if (role_ != Role::Maintenance) {
      return refuse("not in maintenance mode");
    }
    role_ = Role::Standby;
    transition.to = role_;
    transition.reason = "maintenance mode off (operator)";
    return decide(facts, transition);
  }
  if (std::holds_alternative<event::Promote>(event)) {
    if (role_ == Role::Active) {
      return refuse("this node is already active");
    }
    if (role_ == Role::Maintenance) {
      return refuse("this node is in maintenance mode: turn it off first");
    }
    if (!facts.connected || !facts.quorate) {
      return refuse("this node's partition is not quorate: it may not hold the VIP");
    }
    if (!facts.in_sync) {
      return refuse("this node is not in sync yet: its sessions would not resume");
    }
    if (!facts.serviceable) {
      return refuse("this node's service interface is down or has no carrier: it could not serve the VIP");
    }
    for (const auto& member : facts.others) {
      if (member.role == Role::Active) {
        return refuse("node " + member.name + " is active: demote it first");
      }
    }
    yielding_ = false;
    role_ = Role::Active;
    transition.to = role_;
    transition.take_vip = true;
    transition.reason = "promoted by the operator";
    return transition;
  }
  // event::Demote
  if (role_ != Role::Active) {
    return refuse("this node is not active");
  }
  if (!bestStandby(facts).has_value()) {
    return refuse("no other in-sync member could take over: refusing to leave the VIP unowned "
                  "(use maintenance mode to take this node out regardless)");
  }
  yielding_ = true;
  role_ = Role::Standby;
  transition.to = role_;
  transition.release_vip = true;
  transition.reason = "demoted by the operator";
  return transition;
}

Transition RoleMachine::decide(const ClusterFacts& facts, Transition transition) {
  const auto move = [&](Role to, std::string reason) {
    transition.release_vip = transition.release_vip || (role_ == Role::Active && to != Role::Active);
    role_ = to;
    transition.to = to;
    transition.reason = transition.reason.empty() ? std::move(reason) : transition.reason;
  };
  if (!facts.connected) {
    if (role_ != Role::Fault) {
      move(Role::Fault, "lost the connection to corosync");
    }
    return transition;
  }
  if (role_ == Role::Fault) {
    move(Role::Standby, "reconnected to corosync");
  }
  if (std::any_of(facts.others.begin(), facts.others.end(),
                  [](const MemberInfo& m) { return m.role == Role::Active; })) {
    yielding_ = false; // someone else holds the VIP: nothing left to yield
  }
  if (role_ == Role::Maintenance) {
    return transition;
  }
  if (role_ == Role::HandingOver) {
    if (!facts.quorate) {
      move(Role::Standby, "lost quorum during a switchover");
    }
    return transition; // the switchover itself decides what comes next
  }
  const auto elected = electedActive(facts);
  if (role_ == Role::Active) {
    if (!facts.quorate) {
      move(Role::Standby, "lost quorum");
    } else if (elected && *elected != self_) {
      const auto winner = std::find_if(facts.others.begin(), facts.others.end(),
                                       [&](const MemberInfo& m) { return m.nodeid == *elected; });
      const bool conflict = winner != facts.others.end() && winner->role == Role::Active;
      move(Role::Standby, conflict ? "node " + winner->name + " is also active and ranks higher "
                                     "(a partition healed): stepping down to resync"
                                   : "preempted by higher-priority node " +
                                         (winner != facts.others.end() ? winner->name : std::string("?")));
      transition.resync = conflict;
    }
    return transition;
  }
  if (elected && *elected == self_ && !facts.settling) {
    move(Role::Active, "elected: no active member, and the highest priority among the in-sync ones");
    transition.take_vip = true;
  }
  return transition;
}

} // namespace failover::daemon
