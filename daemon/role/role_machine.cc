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
// While emptying, new connections wait for the old ones to finish: look often. While
// draining, the new active already serves: look less often.
constexpr Millis EMPTYING_POLL{2};
constexpr Millis DRAIN_POLL{20};

const MemberInfo* findMember(const ClusterFacts& facts, std::uint32_t node) {
  const auto it = std::find_if(facts.others.begin(), facts.others.end(),
                               [node](const MemberInfo& m) { return m.nodeid == node; });
  return it != facts.others.end() ? &*it : nullptr;
}
} // namespace

std::string RoleMachine::nameOf(std::uint32_t node, const ClusterFacts& facts) const {
  if (const auto* member = findMember(facts, node)) {
    return member->name;
  }
  return "node " + std::to_string(node);
}

std::optional<std::uint32_t> RoleMachine::handoverTarget() const noexcept {
  return switchover_ ? std::optional(switchover_->target) : std::nullopt;
}

std::string_view RoleMachine::handoverPhase() const noexcept {
  if (!switchover_) {
    return "";
  }
  switch (switchover_->phase) {
  case Switchover::Phase::Emptying:
    return "emptying";
  case Switchover::Phase::Released:
    return "released";
  case Switchover::Phase::Draining:
    return "draining";
  }
  return "";
}

bool RoleMachine::outranks(unsigned priority_a, std::uint32_t a, unsigned priority_b,
                           std::uint32_t b) const {
  return priority_a != priority_b ? priority_a > priority_b : a < b;
}

std::optional<std::uint32_t> RoleMachine::bestStandby(const ClusterFacts& facts) const {
  const MemberInfo* best = nullptr;
  for (const auto& member : facts.others) {
    if (present(member) && member.in_sync && member.eligible && member.role == Role::Standby &&
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
                              std::any_of(facts.others.begin(), facts.others.end(), [this](const MemberInfo& m) {
                                return present(m) && m.role == Role::Active;
                              });
  const auto stands_for_vip = [someone_active](Role role) {
    return someone_active ? role == Role::Active : holdsVip(role);
  };
  if (stands_for_vip(role_)) {
    consider(best_active, settings_.priority, settings_.self);
  }
  for (const auto& member : facts.others) {
    if (present(member) && stands_for_vip(member.role)) {
      consider(best_active, member.priority, member.nodeid);
    }
  }
  std::optional<std::pair<unsigned, std::uint32_t>> best_candidate;
  if (selfCandidate(facts)) {
    consider(best_candidate, settings_.priority, settings_.self);
  }
  for (const auto& member : facts.others) {
    if (present(member) && member.in_sync && member.eligible &&
        (member.role == Role::Standby || member.role == Role::Active)) {
      consider(best_candidate, member.priority, member.nodeid);
    }
  }
  if (best_active && !(settings_.preempt && best_candidate && best_candidate->second != best_active->second &&
                       outranks(best_candidate->first, best_candidate->second, best_active->first,
                                best_active->second))) {
    return best_active->second;
  }
  if (best_candidate) {
    return best_candidate->second;
  }
  return std::nullopt;
}

// The one place a role changes, and so the one place that keeps the rule: a node that is not
// active (or handing over) holds no VIP and answers no ARP/NA for it. Every exit from a role
// that holds the VIP releases it here, whatever the event.
void RoleMachine::enter(Decision& decision, Role to, std::string reason) {
  if (to == role_) {
    return;
  }
  const Role from = role_;
  if (holdsVip(from) && !holdsVip(to)) {
    vip_held_ = false;
    decision.effects.emplace_back(effect::ReleaseVip{});
    if (settings_.lease) {
      decision.effects.emplace_back(effect::ReleaseLease{}); // after the VIP: never answer without it
    }
  }
  if (contending_ && !holdsVip(to) && to != Role::Standby) {
    stopContending(decision);
  }
  if (from == Role::HandingOver && to == Role::Active) {
    decision.effects.emplace_back(effect::AnswerAgain{});
  }
  if (to != Role::HandingOver) {
    switchover_.reset();
  }
  if (taking_ && !holdsVip(to)) {
    // The old active waits for our VIP: tell it that it will not come, so it answers again.
    decision.effects.emplace_back(
        effect::SendHandover{{HandoverStep::Phase::Aborted, taking_->from, settings_.self, {}}});
    taking_.reset();
  }
  if (!holdsVip(from) && to == Role::Active) {
    // After a failure the old active's guard may keep its gate open for up to its bound after
    // it was last seen: wait that out. A planned handover needs no wait (the old active
    // stopped answering ARP/NA before it released the VIP).
    // With the lease, the old holder's lease ended before any voter granted ours, and its
    // kernel gate shut with it: nothing to wait out either.
    decision.effects.emplace_back(effect::TakeVip{taking_ || settings_.lease ? Millis{0} : settings_.guard_bound});
    decision.effects.emplace_back(effect::PublishKeyring{});
    contending_.reset();
  }
  role_ = to;
  decision.to = to;
  if (decision.reason.empty()) {
    decision.reason = std::move(reason);
  }
}

void RoleMachine::becomeActive(Decision& decision, Contention::Kind kind, std::string reason) {
  if (!settings_.lease || lease_held_) {
    return enter(decision, Role::Active, std::move(reason));
  }
  if (!contending_) {
    decision.effects.emplace_back(effect::ContendLease{});
  }
  contending_ = Contention{kind, std::move(reason)};
}

bool RoleMachine::contentionStands(const ClusterFacts& facts) const {
  switch (contending_->kind) {
  case Contention::Kind::Election: {
    const auto elected = electedActive(facts);
    return elected && *elected == settings_.self && !facts.settling;
  }
  case Contention::Kind::Switchover: {
    // What the Released step was accepted on must still hold when the lease comes. The old
    // active going silent on the lease is no reason to give up: a few lost heartbeats made
    // it so (and called healthy switchovers off, cluster-sim found), and one that froze named
    // this node its successor, so the voters grant it anyway. Leaving the group, or calling
    // the switchover off, is what ends it.
    const auto* from = taking_ ? findMember(facts, taking_->from) : nullptr;
    return from != nullptr && from->role == Role::HandingOver && facts.quorate && facts.in_sync &&
           facts.serviceable;
  }
  case Contention::Kind::Operator:
    return facts.quorate && facts.in_sync && facts.serviceable &&
           std::none_of(facts.others.begin(), facts.others.end(),
                        [this](const MemberInfo& m) { return present(m) && holdsVip(m.role); });
  }
  return false;
}

void RoleMachine::stopContending(Decision& decision) {
  contending_.reset();
  decision.effects.emplace_back(effect::ReleaseLease{});
  if (taking_) {
    // The old active waits for our VIP: tell it that it will not come.
    decision.effects.emplace_back(
        effect::SendHandover{{HandoverStep::Phase::Aborted, taking_->from, settings_.self, {}}});
    taking_.reset();
  }
}

Decision RoleMachine::handle(const Event& event, const ClusterFacts& facts, Millis now) {
  lease_held_ = facts.lease_held;
  Decision decision;
  decision.from = role_;
  decision.to = role_;
  if (std::holds_alternative<event::FactsChanged>(event)) {
    decide(decision, facts);
  } else if (std::holds_alternative<event::TimerFired>(event)) {
    if (switchover_) {
      advanceSwitchover(decision, facts, now);
    }
  } else if (const auto* taken = std::get_if<event::VipTaken>(&event)) {
    vip_held_ = holdsVip(role_);
    if (taking_ && !taking_->announced && holdsVip(role_)) { // it may be handing on already
      decision.effects.emplace_back(
          effect::SendHandover{{HandoverStep::Phase::Taken, taking_->from, settings_.self, taken->mac}});
      taking_->announced = true;
    }
  } else if (const auto* lost = std::get_if<event::VipLost>(&event)) {
    if (holdsVip(role_)) {
      // netctl has already let go of the VIP; stand aside so that another node takes it.
      yielding_ = true;
      enter(decision, Role::Standby, "lost the VIP: " + lost->reason);
    }
    decide(decision, facts);
  } else if (const auto* failed = std::get_if<event::TakeoverFailed>(&event)) {
    if (holdsVip(role_)) {
      yielding_ = true;
      enter(decision, Role::Standby, "takeover failed: " + failed->reason);
    }
  } else if (const auto* received = std::get_if<event::HandoverReceived>(&event)) {
    onStep(decision, received->step, received->sender, facts, now);
  } else {
    operatorCommand(decision, event, facts, now);
  }
  scheduleWake(now);
  return decision;
}

void RoleMachine::scheduleWake(Millis now) {
  if (!switchover_) {
    wake_at_.reset();
    return;
  }
  switch (switchover_->phase) {
  case Switchover::Phase::Emptying:
    wake_at_ = std::min(switchover_->deadline, std::max(switchover_->grace_end, now + EMPTYING_POLL));
    break;
  case Switchover::Phase::Released:
    wake_at_ = switchover_->deadline;
    break;
  case Switchover::Phase::Draining:
    wake_at_ = std::min(switchover_->deadline, now + DRAIN_POLL);
    break;
  }
}

void RoleMachine::startSwitchover(Decision& decision, std::uint32_t target, AfterHandover after,
                                  const ClusterFacts& facts, Millis now) {
  const auto refuse = [&decision](std::string why) { decision.refused = std::move(why); };
  if (role_ == Role::HandingOver) {
    return refuse("a switchover to " + switchover_->target_name + " is already in progress");
  }
  if (role_ != Role::Active) {
    return refuse("this node is not active");
  }
  const auto* member = findMember(facts, target);
  if (member == nullptr) {
    return refuse("node " + std::to_string(target) + " is not a member");
  }
  if (!member->in_sync) {
    return refuse("node " + member->name + " is not in sync: its clients' sessions would not resume");
  }
  if (member->role != Role::Standby) {
    return refuse("node " + member->name + " is " + std::string(toString(member->role)) + ", not a standby");
  }
  if (!member->eligible) {
    return refuse("node " + member->name + " is not eligible (its service link is down, or it yields)");
  }
  if (!vip_held_) {
    // A takeover after a failure may still be waiting out the old owner's guard; the target
    // takes over without waiting, so it must not be told before that is over.
    return refuse("this node is still taking the VIP: try again in a moment");
  }
  enter(decision, Role::HandingOver, "switching over to " + member->name);
  switchover_ = Switchover{Switchover::Phase::Emptying, target, member->name, after, now + settings_.emptying_bound,
                           now + settings_.emptying_settle};
  switchover_->held = facts.new_connections_held; // already (no hold configured): settle from now
  decision.target = target;
  // First let no connection be in flight when the VIP moves (its later packets would go to
  // the new active, which does not know it): hold new SYNs, let open connections finish.
  decision.effects.emplace_back(effect::HoldNewConnections{});
  decision.effects.emplace_back(effect::CloseConnections{});
}

void RoleMachine::releaseForTarget(Decision& decision, Millis now) {
  switchover_->phase = Switchover::Phase::Released;
  switchover_->deadline = now + settings_.handover_timeout;
  decision.effects.emplace_back(effect::StopAnswering{switchover_->target});
  decision.effects.emplace_back(
      effect::SendHandover{{HandoverStep::Phase::Released, settings_.self, switchover_->target, {}}});
}

void RoleMachine::advanceSwitchover(Decision& decision, const ClusterFacts& facts, Millis now) {
  switch (switchover_->phase) {
  case Switchover::Phase::Emptying:
    if (now >= switchover_->deadline) {
      releaseForTarget(decision, now);
      return;
    }
    if (!switchover_->held) {
      if (!facts.new_connections_held) {
        return;
      }
      switchover_->held = true;
      switchover_->grace_end = std::max(switchover_->grace_end, now + settings_.emptying_settle);
    }
    if (now >= switchover_->grace_end && facts.open_connections == 0) {
      releaseForTarget(decision, now);
    }
    return;
  case Switchover::Phase::Released:
    if (now < switchover_->deadline) {
      return;
    }
    if (!switchover_->abort_sent) {
      // The target may only be slow (frozen, starved): call the switchover off in the group's
      // order, so that it and we see the same outcome, and wait for that to come back.
      switchover_->abort_sent = true;
      switchover_->deadline = now + settings_.handover_timeout;
      decision.effects.emplace_back(
          effect::SendHandover{{HandoverStep::Phase::Aborted, settings_.self, switchover_->target, {}}});
      return;
    }
    abortSwitchover(decision, switchover_->target_name + " did not take the VIP, and the group did not "
                              "carry our call-off back",
                    facts);
    return;
  case Switchover::Phase::Draining:
    if ((now >= switchover_->grace_end && facts.open_connections == 0) || now >= switchover_->deadline) {
      finishSwitchover(decision);
    }
    return;
  }
}

void RoleMachine::finishSwitchover(Decision& decision) {
  const auto after = switchover_->after;
  enter(decision, Role::Standby, "switchover done: " + switchover_->target_name + " is active");
  if (after == AfterHandover::Exit) {
    decision.effects.emplace_back(effect::Exit{});
  } else if (after == AfterHandover::Maintenance) {
    enter(decision, Role::Maintenance, "maintenance mode on (operator)");
  }
}

void RoleMachine::abortSwitchover(Decision& decision, const std::string& why, const ClusterFacts& facts,
                                   bool target_refused) {
  if (switchover_->after == AfterHandover::Exit) {
    enter(decision, Role::Standby, "stopping without a handover: " + why);
    decision.effects.emplace_back(effect::Exit{});
    return;
  }
  if (switchover_->phase == Switchover::Phase::Emptying || target_refused) {
    // The target was never told, or said it will not take the VIP: answering again is safe.
    enter(decision, Role::Active, "switchover failed, staying active: " + why);
    return;
  }
  // The target was told to take the VIP and may have (or its guard may still answer for it
  // while it dies): never answer again on our own say-so. Let the VIP go; the election decides,
  // and a node it elects waits out the guard's bound like after any failure.
  enter(decision, Role::Standby, "switchover failed: " + why + "; the election decides");
  decide(decision, facts);
}

void RoleMachine::onStep(Decision& decision, const HandoverStep& step, std::uint32_t sender, const ClusterFacts& facts,
                         Millis now) {
  const auto self = settings_.self;
  switch (step.phase) {
  case HandoverStep::Phase::Request:
    if (step.from == self && role_ == Role::Active) {
      startSwitchover(decision, step.to, AfterHandover::Stay, facts, now);
      if (decision.refused) {
        decision.effects.emplace_back(effect::SendHandover{{HandoverStep::Phase::Aborted, self, step.to, {}}});
      }
    }
    return;
  case HandoverStep::Phase::Released: {
    if (step.to != self) {
      return;
    }
    std::optional<std::string> why;
    if (role_ != Role::Standby) {
      why = "this node is " + std::string(toString(role_)) + ", not a standby";
    } else if (!facts.quorate || !facts.in_sync) {
      why = "this node is not quorate and in sync";
    } else if (!facts.serviceable) {
      why = "this node's service interface is down or has no carrier";
    }
    if (why) {
      decision.refused = "cannot take the VIP from " + nameOf(step.from, facts) + ": " + *why;
      decision.effects.emplace_back(effect::SendHandover{{HandoverStep::Phase::Aborted, step.from, self, {}}});
      return;
    }
    yielding_ = false;
    taking_ = Taking{step.from, false};
    becomeActive(decision, Contention::Kind::Switchover, "switchover from " + nameOf(step.from, facts));
    return;
  }
  case HandoverStep::Phase::Taken:
    if (step.to == self && sender == self && taking_ && taking_->from == step.from) {
      taking_.reset(); // ordered before any call-off: the switchover is ours
    }
    if (step.from == self && switchover_ && switchover_->target == step.to &&
        switchover_->phase == Switchover::Phase::Released) {
      // The new active has announced the VIP: forward the SYNs held meanwhile to it, let our
      // open connections finish (keep-alive ones close after their response, so their
      // clients reconnect to it), keep the quiesced VIP a grace period for late clients.
      switchover_->phase = Switchover::Phase::Draining;
      switchover_->grace_end = now + settings_.handover_grace;
      switchover_->deadline = now + settings_.drain_bound;
      decision.effects.emplace_back(effect::ForwardHeld{step.mac});
      decision.effects.emplace_back(effect::CloseConnections{});
    }
    return;
  case HandoverStep::Phase::Aborted:
    if (step.to == self && sender != self && taking_ && taking_->from == step.from) {
      // The old active called the switchover off before our Taken reached the group.
      taking_.reset();
      if (contending_) {
        stopContending(decision);
      }
      enter(decision, Role::Standby, "the switchover from " + nameOf(step.from, facts) + " was called off");
      return;
    }
    if (step.from == self && switchover_ && switchover_->target == step.to &&
        switchover_->phase != Switchover::Phase::Draining) {
      const bool refused = sender == step.to;
      abortSwitchover(decision,
                      refused ? switchover_->target_name + " could not take the VIP"
                              : switchover_->target_name + " did not take the VIP within " +
                                    std::to_string(settings_.handover_timeout.count()) + " ms",
                      facts, refused);
    }
    return;
  }
}

void RoleMachine::operatorCommand(Decision& decision, const Event& event, const ClusterFacts& facts, Millis now) {
  const auto refuse = [&decision](std::string why) { decision.refused = std::move(why); };
  if (role_ == Role::HandingOver && !std::holds_alternative<event::StopRequested>(event)) {
    return refuse("a switchover to " + switchover_->target_name + " is in progress: wait for it to end");
  }
  if (const auto* on = std::get_if<event::MaintenanceOn>(&event)) {
    if (role_ == Role::Maintenance) {
      return;
    }
    if (role_ == Role::Active) {
      if (const auto target = bestStandby(facts)) {
        return startSwitchover(decision, *target, AfterHandover::Maintenance, facts, now);
      }
      if (!on->force) {
        return refuse("no in-sync standby to hand the VIP over to: 'maintenance on --force' releases it anyway");
      }
    }
    enter(decision, Role::Maintenance, "maintenance mode on (operator)");
    return decide(decision, facts);
  }
  if (std::holds_alternative<event::MaintenanceOff>(event)) {
    if (role_ != Role::Maintenance) {
      return refuse("not in maintenance mode");
    }
    enter(decision, Role::Standby, "maintenance mode off (operator)");
    return decide(decision, facts);
  }
  if (const auto* switchover = std::get_if<event::Switchover>(&event)) {
    const auto target = switchover->target ? switchover->target : bestStandby(facts);
    if (!target) {
      return refuse("no in-sync standby to switch over to");
    }
    if (role_ == Role::Active) {
      return startSwitchover(decision, *target, AfterHandover::Stay, facts, now);
    }
    const auto active = std::find_if(facts.others.begin(), facts.others.end(),
                                     [](const MemberInfo& m) { return m.role == Role::Active; });
    if (active == facts.others.end()) {
      return refuse("no node is active: nothing to switch over");
    }
    // The active checks the request and answers with the switchover's steps.
    decision.target = target;
    decision.effects.emplace_back(
        effect::SendHandover{{HandoverStep::Phase::Request, active->nodeid, *target, {}}});
    return;
  }
  if (std::holds_alternative<event::StopRequested>(event)) {
    // Stopping the active node is planned maintenance: hand over first, then exit. A second
    // request during the handover stops at once.
    if (role_ == Role::Active) {
      if (const auto target = bestStandby(facts)) {
        Decision attempt = decision;
        startSwitchover(attempt, *target, AfterHandover::Exit, facts, now);
        if (!attempt.refused) {
          decision = std::move(attempt);
          return;
        }
      }
    }
    enter(decision, holdsVip(role_) ? Role::Standby : role_, "stopping");
    decision.effects.emplace_back(effect::Exit{});
    return;
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
      if (holdsVip(member.role)) {
        return refuse("node " + member.name + " is " + std::string(toString(member.role)) + ": demote it first");
      }
    }
    yielding_ = false;
    return becomeActive(decision, Contention::Kind::Operator, "promoted by the operator");
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
  enter(decision, Role::Standby, "demoted by the operator");
}

void RoleMachine::decide(Decision& decision, const ClusterFacts& facts) {
  if (!facts.connected) {
    return enter(decision, Role::Fault,
                 role_ == Role::HandingOver ? "lost the connection to corosync during a switchover"
                                            : "lost the connection to corosync");
  }
  if (role_ == Role::Fault) {
    enter(decision, Role::Standby, "reconnected to corosync");
  }
  if (std::any_of(facts.others.begin(), facts.others.end(),
                  [this](const MemberInfo& m) { return present(m) && m.role == Role::Active; })) {
    yielding_ = false; // someone else holds the VIP: nothing left to yield
  }
  if (role_ == Role::Maintenance) {
    return;
  }
  if (settings_.lease && holdsVip(role_) && !facts.lease_held) {
    // Its kernel gate shut when the lease ended; another node may hold it now.
    yielding_ = true;
    enter(decision, Role::Standby,
          "lost the majority lease: no majority of voters renewed it in time (cut off, or this node stalled)");
  }
  if (role_ == Role::HandingOver) {
    if (!facts.quorate) {
      return enter(decision, Role::Standby, "lost quorum during a switchover");
    }
    // An active member other than our target (a partition healed, or a node that decided on
    // stale state): the election keeps it, since a node handing over stands for the VIP only
    // while nobody is active. We are leaving anyway: step down now, and resync.
    const auto other = std::find_if(facts.others.begin(), facts.others.end(), [this](const MemberInfo& m) {
      return m.role == Role::Active && m.nodeid != switchover_->target;
    });
    if (other != facts.others.end()) {
      enter(decision, Role::Standby,
            "node " + other->name + " is also active while this node hands over: stepping down to resync");
      decision.effects.emplace_back(effect::Resync{});
      return;
    }
    if (findMember(facts, switchover_->target) == nullptr) {
      abortSwitchover(decision, switchover_->target_name + " left the cluster", facts);
    }
    return; // otherwise the switchover's own steps decide what comes next
  }
  const auto elected = electedActive(facts);
  if (role_ == Role::Active) {
    if (!facts.quorate) {
      enter(decision, Role::Standby, "lost quorum");
    } else if (elected && *elected != settings_.self) {
      const auto* winner = findMember(facts, *elected);
      const bool conflict = winner != nullptr && winner->role == Role::Active;
      if (conflict && settings_.lease) {
        return; // we hold the lease, so its "active" is stale: it lost its own, and steps down
      }
      enter(decision, Role::Standby,
            conflict ? "node " + winner->name + " is also active and ranks higher (a partition healed): "
                                                "stepping down to resync"
                     : "preempted by higher-priority node " + nameOf(*elected, facts));
      if (conflict) {
        decision.effects.emplace_back(effect::Resync{});
      }
    }
    return;
  }
  if (contending_) {
    if (!contentionStands(facts)) {
      return stopContending(decision);
    }
    if (facts.lease_held) {
      auto reason = std::move(contending_->reason);
      return enter(decision, Role::Active, std::move(reason) + " (granted the majority lease)");
    }
    return;
  }
  if (elected && *elected == settings_.self && !facts.settling) {
    becomeActive(decision, Contention::Kind::Election,
                 "elected: no active member, and the highest priority among the in-sync ones");
  }
}

} // namespace failover::daemon
