#include "daemon/role/role_machine.h"

#include <doctest/doctest.h>

using namespace failover::daemon;

namespace {

MemberInfo member(std::uint32_t id, unsigned priority, Role role = Role::Standby, bool in_sync = true,
                  bool eligible = true) {
  return MemberInfo{id, "n" + std::to_string(id), priority, role, in_sync, eligible};
}

ClusterFacts facts(std::vector<MemberInfo> others, bool quorate = true, bool in_sync = true) {
  return ClusterFacts{true, quorate, in_sync, std::move(others)};
}

const Event CHANGED = event::FactsChanged{};

RoleSettings settings(std::uint32_t self, unsigned priority, bool preempt) {
  RoleSettings settings;
  settings.self = self;
  settings.priority = priority;
  settings.preempt = preempt;
  return settings;
}

// The decision at simulated time `now` (the election itself does not depend on time).
Decision on(RoleMachine& machine, const Event& event, const ClusterFacts& facts, Millis now = Millis{0}) {
  return machine.handle(event, facts, now);
}

} // namespace

// Roles are compared inside double parentheses: doctest would otherwise print them with the
// project's toString(), which returns a string_view.
TEST_CASE("a lone quorate in-sync node elects itself") {
  RoleMachine node(settings(1, 100, false));
  const auto t = on(node, CHANGED, facts({}));
  CHECK((t.to == Role::Active));
  CHECK(t.has<effect::TakeVip>());
  CHECK_FALSE(t.has<effect::ReleaseVip>());
  CHECK(t.reason.find("elected") != std::string::npos);
}

TEST_CASE("the highest priority wins; the node id breaks ties") {
  RoleMachine low(settings(1, 100, false));
  CHECK((on(low, CHANGED, facts({member(2, 150)})).to == Role::Standby));
  RoleMachine high(settings(2, 150, false));
  CHECK((on(high, CHANGED, facts({member(1, 100)})).to == Role::Active));
  RoleMachine tie_low_id(settings(1, 100, false));
  CHECK((on(tie_low_id, CHANGED, facts({member(2, 100)})).to == Role::Active));
  RoleMachine tie_high_id(settings(2, 100, false));
  CHECK((on(tie_high_id, CHANGED, facts({member(1, 100)})).to == Role::Standby));
}

TEST_CASE("members not in sync, not eligible, or in maintenance are not candidates") {
  RoleMachine node(settings(3, 50, false));
  const auto t = on(node, CHANGED, facts({member(1, 200, Role::Standby, false),
                                             member(2, 200, Role::Standby, true, false),
                                             member(4, 200, Role::Maintenance)}));
  CHECK((t.to == Role::Active));
  RoleMachine unsynced(settings(1, 200, false));
  CHECK((on(unsynced, CHANGED, facts({member(2, 10)}, true, false)).to == Role::Standby));
}

TEST_CASE("no preemption by default: a better node joining does not displace the active one") {
  RoleMachine active(settings(1, 100, false));
  REQUIRE((on(active, CHANGED, facts({})).to == Role::Active));
  CHECK((on(active, CHANGED, facts({member(2, 200)})).to == Role::Active));
  RoleMachine better(settings(2, 200, false));
  CHECK((on(better, CHANGED, facts({member(1, 100, Role::Active)})).to == Role::Standby));
}

TEST_CASE("with preemption a better in-sync node takes over") {
  RoleMachine active(settings(1, 100, true));
  REQUIRE((on(active, CHANGED, facts({})).to == Role::Active));
  const auto t = on(active, CHANGED, facts({member(2, 200)}));
  CHECK((t.to == Role::Standby));
  CHECK(t.has<effect::ReleaseVip>());
  CHECK_FALSE(t.has<effect::Resync>());
  RoleMachine better(settings(2, 200, true));
  CHECK((on(better, CHANGED, facts({member(1, 100, Role::Standby)})).to == Role::Active));
}

TEST_CASE("the active's departure elects the best remaining standby") {
  RoleMachine n2(settings(2, 100, false));
  CHECK((on(n2, CHANGED, facts({member(1, 200, Role::Active), member(3, 100)})).to == Role::Standby));
  const auto t = on(n2, CHANGED, facts({member(3, 100)}));
  CHECK((t.to == Role::Active));
  CHECK(t.has<effect::TakeVip>());
  RoleMachine n3(settings(3, 100, false));
  CHECK((on(n3, CHANGED, facts({member(2, 100)})).to == Role::Standby));
}

TEST_CASE("an active node that loses quorum demotes at once, and does not come back without it") {
  RoleMachine node(settings(1, 100, false));
  REQUIRE((on(node, CHANGED, facts({member(2, 100)})).to == Role::Active));
  const auto t = on(node, CHANGED, facts({}, false));
  CHECK((t.to == Role::Standby));
  CHECK(t.has<effect::ReleaseVip>());
  CHECK(t.reason == "lost quorum");
  CHECK((on(node, CHANGED, facts({}, false)).to == Role::Standby));
  CHECK((on(node, CHANGED, facts({})).to == Role::Active));
}

TEST_CASE("when a partition heals, the lower-ranked of two actives steps down and resyncs") {
  RoleMachine n1(settings(1, 100, false));
  REQUIRE((on(n1, CHANGED, facts({})).to == Role::Active));
  const auto t = on(n1, CHANGED, facts({member(2, 150, Role::Active)}));
  CHECK((t.to == Role::Standby));
  CHECK(t.has<effect::ReleaseVip>());
  CHECK(t.has<effect::Resync>());
  CHECK(t.reason.find("partition healed") != std::string::npos);
  RoleMachine n2(settings(2, 150, false));
  REQUIRE((on(n2, CHANGED, facts({})).to == Role::Active));
  CHECK((on(n2, CHANGED, facts({member(1, 100, Role::Active)})).to == Role::Active));
}

TEST_CASE("losing corosync is a fault that releases the VIP; reconnecting resumes") {
  RoleMachine node(settings(1, 100, false));
  REQUIRE((on(node, CHANGED, facts({})).to == Role::Active));
  const auto t = on(node, CHANGED, ClusterFacts{false, false, true, {}});
  CHECK((t.to == Role::Fault));
  CHECK(t.has<effect::ReleaseVip>());
  const auto back = on(node, CHANGED, facts({}));
  CHECK((back.from == Role::Fault));
  CHECK((back.to == Role::Active));
}

TEST_CASE("operator promote and demote, with refusals that say why") {
  RoleMachine node(settings(1, 10, false));
  CHECK(on(node, event::Promote{}, facts({member(2, 100, Role::Active)})).refused->find("n2 is active") !=
        std::string::npos);
  CHECK(on(node, event::Promote{}, facts({}, true, false)).refused->find("not in sync") != std::string::npos);
  CHECK(on(node, event::Promote{}, facts({}, false)).refused->find("not quorate") != std::string::npos);
  const auto promoted = on(node, event::Promote{}, facts({member(2, 100)}));
  CHECK((promoted.to == Role::Active));
  CHECK(promoted.has<effect::TakeVip>());
  CHECK(on(node, event::Demote{}, facts({member(2, 100, Role::Standby, false)})).refused->find(
            "no other in-sync member") != std::string::npos);
  const auto demoted = on(node, event::Demote{}, facts({member(2, 100)}));
  CHECK((demoted.to == Role::Standby));
  CHECK(demoted.has<effect::ReleaseVip>());
  CHECK_FALSE(node.eligible(facts({member(2, 100)})));
  // A demoted node stays down while another candidate exists, even one it outranks:
  RoleMachine strong(settings(1, 200, false));
  REQUIRE((on(strong, CHANGED, facts({member(2, 100)})).to == Role::Active));
  REQUIRE((on(strong, event::Demote{}, facts({member(2, 100)})).to == Role::Standby));
  CHECK((on(strong, CHANGED, facts({member(2, 100)})).to == Role::Standby));
  // Once n2 is active, the yield is over.
  CHECK((on(strong, CHANGED, facts({member(2, 100, Role::Active)})).to == Role::Standby));
  CHECK(strong.eligible(facts({member(2, 100, Role::Active)})));
}

TEST_CASE("maintenance: never elected, releases the VIP, and comes back only when turned off") {
  RoleMachine node(settings(1, 200, false));
  REQUIRE((on(node, CHANGED, facts({})).to == Role::Active));
  // No standby to hand over to: refused, unless forced.
  CHECK(on(node, event::MaintenanceOn{}, facts({member(2, 100, Role::Standby, false)})).refused->find("--force") !=
        std::string::npos);
  const auto forced = on(node, event::MaintenanceOn{true}, facts({member(2, 100, Role::Standby, false)}));
  CHECK((forced.to == Role::Maintenance));
  CHECK(forced.has<effect::ReleaseVip>());
  CHECK((on(node, CHANGED, facts({})).to == Role::Maintenance));
  CHECK(on(node, event::Promote{}, facts({})).refused.has_value());
  const auto off = on(node, event::MaintenanceOff{}, facts({member(2, 100, Role::Active)}));
  CHECK((off.to == Role::Standby));
  CHECK(on(node, event::MaintenanceOff{}, facts({})).refused.has_value());
}

TEST_CASE("a lost VIP makes the node stand aside for another candidate, or retry if none") {
  RoleMachine node(settings(1, 200, false));
  REQUIRE((on(node, CHANGED, facts({member(2, 100)})).to == Role::Active));
  const auto lost = on(node, event::VipLost{"link down"}, facts({member(2, 100)}));
  CHECK((lost.to == Role::Standby));
  CHECK(lost.reason.find("link down") != std::string::npos);
  RoleMachine alone(settings(1, 200, false));
  REQUIRE((on(alone, CHANGED, facts({})).to == Role::Active));
  CHECK((on(alone, event::VipLost{"removed"}, facts({})).to == Role::Active));
}

TEST_CASE("a failed takeover releases and yields") {
  RoleMachine node(settings(1, 200, false));
  REQUIRE((on(node, CHANGED, facts({member(2, 100)})).to == Role::Active));
  const auto t = on(node, event::TakeoverFailed{"VIP answered by another host"}, facts({member(2, 100)}));
  CHECK((t.to == Role::Standby));
  CHECK(t.has<effect::ReleaseVip>());
  CHECK((on(node, CHANGED, facts({member(2, 100)})).to == Role::Standby));
}

TEST_CASE("no standby elects itself while joining members have not said what they are") {
  RoleMachine node(settings(1, 200, false));
  auto settling = facts({});
  settling.settling = true;
  CHECK((on(node, CHANGED, settling).to == Role::Standby));
  // A partition healed: the joiner turns out to be active, so this node stays a standby.
  CHECK((on(node, CHANGED, facts({member(2, 100, Role::Active)})).to == Role::Standby));
}

namespace {
// A step as the group delivers it; by default sent by the node whose turn it is (the old
// active for Request and Released, the target for Taken and Aborted).
Event step(HandoverStep::Phase phase, std::uint32_t from, std::uint32_t to, std::uint32_t sender = 0) {
  if (sender == 0) {
    sender = phase == HandoverStep::Phase::Request || phase == HandoverStep::Phase::Released ? from : to;
  }
  return event::HandoverReceived{{phase, from, to, {}}, sender};
}
constexpr auto Request = HandoverStep::Phase::Request;
constexpr auto Released = HandoverStep::Phase::Released;
constexpr auto Taken = HandoverStep::Phase::Taken;
constexpr auto Aborted = HandoverStep::Phase::Aborted;

ClusterFacts withOpen(ClusterFacts facts, std::size_t open) {
  facts.open_connections = open;
  return facts;
}

// The step a decision sends, if any.
std::optional<HandoverStep> sent(const Decision& decision) {
  for (const auto& effect : decision.effects) {
    if (const auto* send = std::get_if<effect::SendHandover>(&effect)) {
      return send->step;
    }
  }
  return std::nullopt;
}

// An active node 1 (priority 200) beside standby 2 (priority 100), at time 0, holding the VIP.
RoleMachine activeBeside2() {
  RoleMachine active(settings(1, 200, false));
  REQUIRE((on(active, CHANGED, facts({member(2, 100)})).to == Role::Active));
  on(active, event::VipTaken{}, facts({member(2, 100)}));
  return active;
}
} // namespace

TEST_CASE("a switchover's refusals say why") {
  auto active = activeBeside2();
  CHECK(on(active, event::Switchover{2}, facts({member(2, 100, Role::Standby, false)})).refused->find(
            "not in sync") != std::string::npos);
  CHECK(on(active, event::Switchover{9}, facts({member(2, 100)})).refused->find("not a member") !=
        std::string::npos);
  CHECK(on(active, event::Switchover{}, facts({member(2, 100, Role::Maintenance)})).refused->find(
            "no in-sync standby") != std::string::npos);
  RoleMachine standby(settings(3, 50, false));
  CHECK(on(standby, event::Switchover{2}, facts({member(2, 100)})).refused->find("no node is active") !=
        std::string::npos);
  // Asked on a standby, the request goes to the active, which answers with the steps.
  const auto forwarded = on(standby, event::Switchover{2}, facts({member(1, 200, Role::Active), member(2, 100)}));
  REQUIRE(sent(forwarded));
  CHECK((sent(forwarded)->phase == Request));
  CHECK(sent(forwarded)->from == 1);
  CHECK(sent(forwarded)->to == 2);
  // The active refuses a request it cannot honour, and says so to the group.
  const auto refused = on(active, step(Request, 1, 2), facts({member(2, 100, Role::Standby, false)}));
  REQUIRE(refused.refused);
  REQUIRE(sent(refused));
  CHECK((sent(refused)->phase == Aborted));
  CHECK((active.role() == Role::Active));
}

TEST_CASE("a switchover on simulated time: emptying, released, taken, draining, done") {
  auto active = activeBeside2();
  const auto two = facts({member(2, 100)});
  // Two connections are open: new ones are held, open ones asked to finish, the VIP kept.
  const auto start = on(active, event::Switchover{2}, withOpen(two, 2), Millis{1000});
  CHECK((start.to == Role::HandingOver));
  CHECK(start.has<effect::HoldNewConnections>());
  CHECK(start.has<effect::CloseConnections>());
  CHECK_FALSE(start.has<effect::StopAnswering>());
  CHECK_FALSE(start.has<effect::ReleaseVip>());
  CHECK(active.handoverPhase() == "emptying");
  REQUIRE(active.deadline());
  CHECK(*active.deadline() == Millis{1020}); // emptying lasts at least its settle time
  CHECK(on(active, event::TimerFired{}, withOpen(two, 0), Millis{1019}).effects.empty());
  // Meanwhile nobody elects: a node handing over still counts as holding the VIP.
  RoleMachine other(settings(3, 250, false));
  CHECK((on(other, CHANGED, facts({member(1, 200, Role::HandingOver)})).to == Role::Standby));
  CHECK((on(active, CHANGED, withOpen(two, 2), Millis{1001}).to == Role::HandingOver));
  CHECK(on(active, event::TimerFired{}, withOpen(two, 1), Millis{1500}).effects.empty());
  // The last connection is done: stop answering ARP/NA, tell the target.
  const auto released = on(active, event::TimerFired{}, withOpen(two, 0), Millis{1502});
  CHECK(released.has<effect::StopAnswering>());
  for (const auto& effect : released.effects) {
    if (const auto* stop = std::get_if<effect::StopAnswering>(&effect)) {
      CHECK(stop->target == sent(released)->to); // named in the log while it waits
    }
  }
  REQUIRE(sent(released));
  CHECK((sent(released)->phase == Released));
  CHECK(active.handoverPhase() == "released");
  CHECK(*active.deadline() == Millis{1502 + 5000});
  // The target took the VIP: forward the held SYNs, keep serving stragglers a grace period.
  const auto taken = on(active, event::HandoverReceived{{Taken, 1, 2, {2, 0, 0, 0, 0, 2}}, 2}, two, Millis{1510});
  REQUIRE(taken.has<effect::ForwardHeld>());
  CHECK(std::get<effect::ForwardHeld>(taken.effects.front()).mac[5] == 2);
  CHECK(active.handoverPhase() == "draining");
  CHECK(on(active, event::TimerFired{}, withOpen(two, 0), Millis{1900}).effects.empty()); // grace
  CHECK(on(active, event::TimerFired{}, withOpen(two, 1), Millis{2100}).effects.empty()); // still open
  const auto done = on(active, event::TimerFired{}, withOpen(two, 0), Millis{2110});
  CHECK((done.to == Role::Standby));
  CHECK(done.has<effect::ReleaseVip>());
  CHECK_FALSE(done.has<effect::Exit>());
  CHECK_FALSE(active.deadline());
}

TEST_CASE("a switchover moves the VIP only once new connections are held, and settles after that") {
  auto active = activeBeside2();
  auto unheld = facts({member(2, 100)});
  unheld.new_connections_held = false; // the hold rule is still being installed
  const auto held = facts({member(2, 100)});
  REQUIRE(on(active, event::Switchover{2}, unheld, Millis{1000}).has<effect::HoldNewConnections>());
  // No connection is open, but one could still be accepted here: the VIP stays.
  CHECK(on(active, event::TimerFired{}, unheld, Millis{1020}).effects.empty());
  CHECK(on(active, event::TimerFired{}, unheld, Millis{1400}).effects.empty());
  CHECK(active.handoverPhase() == "emptying");
  // Held from 1402 on: a SYN that got in just before still needs the settle time to show.
  CHECK(on(active, event::TimerFired{}, held, Millis{1402}).effects.empty());
  CHECK(on(active, event::TimerFired{}, held, Millis{1421}).effects.empty());
  const auto released = on(active, event::TimerFired{}, held, Millis{1422});
  CHECK(released.has<effect::StopAnswering>());
  CHECK(active.handoverPhase() == "released");
}

TEST_CASE("a switchover whose hold never comes into place moves the VIP at the emptying bound") {
  auto active = activeBeside2();
  auto unheld = facts({member(2, 100)});
  unheld.new_connections_held = false; // installing the rule failed (logged as a warning)
  REQUIRE((on(active, event::Switchover{2}, unheld, Millis{1000}).to == Role::HandingOver));
  CHECK(on(active, event::TimerFired{}, unheld, Millis{1999}).effects.empty());
  CHECK(on(active, event::TimerFired{}, unheld, Millis{2000}).has<effect::StopAnswering>());
}

TEST_CASE("a switchover's bounds: emptying gives up waiting, draining ends, a silent target aborts") {
  const auto two = facts({member(2, 100)});
  auto active = activeBeside2();
  REQUIRE((on(active, event::Switchover{2}, withOpen(two, 3), Millis{0}).to == Role::HandingOver));
  CHECK(on(active, event::TimerFired{}, withOpen(two, 3), Millis{999}).effects.empty());
  CHECK(on(active, event::TimerFired{}, withOpen(two, 3), Millis{1000}).has<effect::StopAnswering>());
  REQUIRE(on(active, event::HandoverReceived{{Taken, 1, 2, {}}, 2}, two, Millis{1010}).has<effect::ForwardHeld>());
  CHECK(on(active, event::TimerFired{}, withOpen(two, 3), Millis{3009}).effects.empty());
  CHECK(on(active, event::TimerFired{}, withOpen(two, 3), Millis{3010}).has<effect::ReleaseVip>());

  // A silent target may only be slow: the old active calls the switchover off in the group's
  // order, and on its return lets the VIP go rather than answer again on its own say-so (the
  // target may have taken it meanwhile); the election then decides, with the guard's wait-out.
  auto silent = activeBeside2();
  REQUIRE((on(silent, event::Switchover{2}, two, Millis{0}).to == Role::HandingOver));
  REQUIRE(on(silent, event::TimerFired{}, two, Millis{20}).has<effect::StopAnswering>());
  CHECK(on(silent, event::TimerFired{}, two, Millis{5019}).effects.empty());
  const auto call_off = on(silent, event::TimerFired{}, two, Millis{5020});
  REQUIRE(sent(call_off));
  CHECK((sent(call_off)->phase == Aborted));
  CHECK((call_off.to == Role::HandingOver));
  const auto aborted = on(silent, step(Aborted, 1, 2, 1), two, Millis{5022});
  CHECK(aborted.has<effect::ReleaseVip>());
  CHECK_FALSE(aborted.has<effect::AnswerAgain>());
  CHECK(aborted.reason.find("did not take the VIP within 5000 ms") != std::string::npos);
  // n1 still ranks first: it is elected again, and waits out the guard like after a failure.
  CHECK((aborted.to == Role::Active));
  REQUIRE(aborted.has<effect::TakeVip>());
  CHECK(std::get<effect::TakeVip>(aborted.effects[1]).wait_out == Millis{50});

  // Had the target's Taken come first in the group's order, the call-off changes nothing.
  auto late = activeBeside2();
  REQUIRE((on(late, event::Switchover{2}, two, Millis{0}).to == Role::HandingOver));
  REQUIRE(on(late, event::TimerFired{}, two, Millis{20}).has<effect::StopAnswering>());
  REQUIRE(sent(on(late, event::TimerFired{}, two, Millis{5020})));
  REQUIRE(on(late, event::HandoverReceived{{Taken, 1, 2, {}}, 2}, two, Millis{5021}).has<effect::ForwardHeld>());
  CHECK(on(late, step(Aborted, 1, 2, 1), two, Millis{5022}).effects.empty());
  CHECK(late.handoverPhase() == "draining");

  // A target that dies after it took the VIP may still answer until its guard shuts: the old
  // active does not answer again at once.
  auto orphan = activeBeside2();
  REQUIRE((on(orphan, event::Switchover{2}, two, Millis{0}).to == Role::HandingOver));
  REQUIRE(on(orphan, event::TimerFired{}, two, Millis{20}).has<effect::StopAnswering>());
  REQUIRE(on(orphan, event::HandoverReceived{{Taken, 1, 2, {}}, 2}, two, Millis{25}).has<effect::ForwardHeld>());
  const auto gone_after = on(orphan, CHANGED, facts({}), Millis{30});
  CHECK_FALSE(gone_after.has<effect::AnswerAgain>());
  CHECK(gone_after.has<effect::ReleaseVip>());
  REQUIRE(gone_after.has<effect::TakeVip>());
  CHECK(std::get<effect::TakeVip>(gone_after.effects[1]).wait_out == Millis{50});

  auto refused = activeBeside2();
  REQUIRE((on(refused, event::Switchover{2}, two, Millis{0}).to == Role::HandingOver));
  const auto by_target = on(refused, step(Aborted, 1, 2), two, Millis{3});
  CHECK((by_target.to == Role::Active));
  CHECK(by_target.has<effect::AnswerAgain>());

  auto left = activeBeside2();
  REQUIRE((on(left, event::Switchover{2}, two, Millis{0}).to == Role::HandingOver));
  const auto gone = on(left, CHANGED, facts({}), Millis{3});
  CHECK((gone.to == Role::Active));
  CHECK(gone.reason.find("left the cluster") != std::string::npos);
}

TEST_CASE("stopping the active hands over first, then exits; a second stop exits at once") {
  const auto two = facts({member(2, 100)});
  auto active = activeBeside2();
  const auto stop = on(active, event::StopRequested{}, two, Millis{0});
  CHECK((stop.to == Role::HandingOver));
  CHECK_FALSE(stop.has<effect::Exit>());
  REQUIRE(on(active, event::TimerFired{}, two, Millis{20}).has<effect::StopAnswering>());
  REQUIRE(on(active, event::HandoverReceived{{Taken, 1, 2, {}}, 2}, two, Millis{25}).has<effect::ForwardHeld>());
  const auto done = on(active, event::TimerFired{}, two, Millis{525});
  CHECK(done.has<effect::ReleaseVip>());
  CHECK(done.has<effect::Exit>());

  auto again = activeBeside2();
  REQUIRE((on(again, event::StopRequested{}, two, Millis{0}).to == Role::HandingOver));
  const auto second = on(again, event::StopRequested{}, two, Millis{1});
  CHECK((second.to == Role::Standby));
  CHECK(second.has<effect::ReleaseVip>());
  CHECK(second.has<effect::Exit>());

  // No standby: exit at once, releasing the VIP.
  RoleMachine alone(settings(1, 100, false));
  REQUIRE((on(alone, CHANGED, facts({})).to == Role::Active));
  const auto lone = on(alone, event::StopRequested{}, facts({}), Millis{0});
  CHECK(lone.has<effect::ReleaseVip>());
  CHECK(lone.has<effect::Exit>());
  // A standby just exits.
  RoleMachine standby(settings(2, 100, false));
  const auto plain = on(standby, event::StopRequested{}, facts({member(1, 200, Role::Active)}), Millis{0});
  CHECK(plain.has<effect::Exit>());
  CHECK_FALSE(plain.has<effect::ReleaseVip>());

  // Maintenance on the active hands over, then enters maintenance.
  auto maintenance = activeBeside2();
  const auto handing = on(maintenance, event::MaintenanceOn{}, two, Millis{0});
  CHECK((handing.to == Role::HandingOver));
  CHECK(handing.target == std::optional<std::uint32_t>(2));
  REQUIRE(on(maintenance, event::TimerFired{}, two, Millis{20}).has<effect::StopAnswering>());
  REQUIRE(on(maintenance, event::HandoverReceived{{Taken, 1, 2, {}}, 2}, two, Millis{25}).has<effect::ForwardHeld>());
  const auto into = on(maintenance, event::TimerFired{}, two, Millis{525});
  CHECK((into.to == Role::Maintenance));
  CHECK(into.has<effect::ReleaseVip>());
}

// The review's finding: leaving handing-over by lost quorum or a lost Corosync connection
// kept the VIP. Every exit, in every step of the switchover, must release it.
TEST_CASE("every exit from handing-over releases the VIP, in every step") {
  const auto two = facts({member(2, 100)});
  auto lost_quorum = facts({member(2, 100)}, false);
  const ClusterFacts no_corosync{false, false, true, {}};
  for (int phase = 0; phase < 3; ++phase) {
    for (int exit = 0; exit < 4; ++exit) {
      CAPTURE(phase);
      CAPTURE(exit);
      auto active = activeBeside2();
      REQUIRE((on(active, event::Switchover{2}, withOpen(two, 1), Millis{0}).to == Role::HandingOver));
      if (phase >= 1) {
        REQUIRE(on(active, event::TimerFired{}, two, Millis{20}).has<effect::StopAnswering>());
      }
      if (phase >= 2) {
        REQUIRE(on(active, event::HandoverReceived{{Taken, 1, 2, {}}, 2}, two, Millis{24}).has<effect::ForwardHeld>());
      }
      Decision out;
      switch (exit) {
      case 0:
        out = on(active, CHANGED, lost_quorum, Millis{30});
        break;
      case 1:
        out = on(active, CHANGED, no_corosync, Millis{30});
        break;
      case 2:
        out = on(active, event::VipLost{"the VIP guard shut the gate"}, two, Millis{30});
        break;
      case 3:
        out = on(active, event::StopRequested{}, two, Millis{30});
        break;
      }
      CHECK_FALSE(holdsVip(out.to));
      CHECK(out.has<effect::ReleaseVip>());
      CHECK_FALSE(active.deadline());
      CHECK_FALSE(active.handoverTarget());
    }
  }
}

TEST_CASE("the target's side: takes the VIP without waiting, says when it has it, or that it cannot") {
  RoleMachine target(settings(2, 100, false));
  CHECK(on(target, step(Released, 1, 2), facts({}, true, false)).refused.has_value());
  const auto taking = on(target, step(Released, 1, 2), facts({member(1, 200, Role::HandingOver)}));
  CHECK((taking.to == Role::Active));
  REQUIRE(taking.has<effect::TakeVip>());
  CHECK(std::get<effect::TakeVip>(taking.effects.front()).wait_out == Millis{0});
  CHECK(taking.has<effect::PublishKeyring>());
  // The old active's State may still say handing-over when the target is already active:
  // it ranks higher, but it is leaving, and must not make the target step down.
  const auto stays = on(target, CHANGED, facts({member(1, 200, Role::HandingOver)}));
  CHECK((stays.to == Role::Active));
  CHECK_FALSE(stays.has<effect::ReleaseVip>());
  const auto announced = on(target, event::VipTaken{{2, 0, 0, 0, 0, 2}}, facts({member(1, 200, Role::HandingOver)}));
  REQUIRE(sent(announced));
  CHECK((sent(announced)->phase == Taken));
  CHECK(sent(announced)->mac[5] == 2);
  // Only once.
  CHECK_FALSE(sent(on(target, event::VipTaken{}, facts({member(1, 200, Role::HandingOver)}))));

  // The old active called the switchover off before our Taken was ordered: let the VIP go.
  RoleMachine called_off(settings(2, 100, false));
  REQUIRE((on(called_off, step(Released, 1, 2), facts({member(1, 200, Role::HandingOver)})).to == Role::Active));
  REQUIRE(sent(on(called_off, event::VipTaken{}, facts({member(1, 200, Role::HandingOver)}))));
  const auto off = on(called_off, step(Aborted, 1, 2, 1), facts({member(1, 200, Role::HandingOver)}));
  CHECK((off.to == Role::Standby));
  CHECK(off.has<effect::ReleaseVip>());
  // Once its own Taken is ordered, a later call-off is stale.
  RoleMachine kept(settings(2, 100, false));
  REQUIRE((on(kept, step(Released, 1, 2), facts({member(1, 200, Role::HandingOver)})).to == Role::Active));
  REQUIRE(sent(on(kept, event::VipTaken{}, facts({member(1, 200, Role::HandingOver)}))));
  CHECK(on(kept, step(Taken, 1, 2), facts({member(1, 200, Role::HandingOver)})).effects.empty());
  CHECK(on(kept, step(Aborted, 1, 2, 1), facts({member(1, 200, Role::HandingOver)})).effects.empty());
  CHECK((kept.role() == Role::Active));

  // A takeover that fails tells the old active at once, so that it answers again.
  RoleMachine failing(settings(2, 100, false));
  REQUIRE((on(failing, step(Released, 1, 2), facts({member(1, 200, Role::HandingOver)})).to == Role::Active));
  const auto failed = on(failing, event::TakeoverFailed{"VIP answered by another host"},
                         facts({member(1, 200, Role::HandingOver)}));
  CHECK((failed.to == Role::Standby));
  CHECK(failed.has<effect::ReleaseVip>());
  REQUIRE(sent(failed));
  CHECK((sent(failed)->phase == Aborted));

  // After a failure (no planned handover) the new active waits out the guard's bound.
  RoleMachine elected(settings(2, 100, false));
  const auto after_failure = on(elected, CHANGED, facts({}));
  REQUIRE(after_failure.has<effect::TakeVip>());
  CHECK(std::get<effect::TakeVip>(after_failure.effects.front()).wait_out == Millis{50});
}

// The simulator's finding: a switchover started while a failover's takeover still waited out
// the dead owner's guard let the target (which does not wait) answer beside it.
TEST_CASE("a switchover waits until the VIP is taken") {
  RoleMachine elected(settings(1, 200, false));
  REQUIRE(on(elected, CHANGED, facts({member(2, 100)})).has<effect::TakeVip>());
  const auto early = on(elected, event::Switchover{2}, facts({member(2, 100)}));
  REQUIRE(early.refused);
  CHECK(early.refused->find("still taking the VIP") != std::string::npos);
  on(elected, event::VipTaken{}, facts({member(2, 100)}));
  CHECK((on(elected, event::Switchover{2}, facts({member(2, 100)})).to == Role::HandingOver));
}

TEST_CASE("operator commands wait for a switchover to end") {
  auto active = activeBeside2();
  REQUIRE((on(active, event::Switchover{2}, withOpen(facts({member(2, 100)}), 1)).to == Role::HandingOver));
  for (const Event& command : {Event{event::Promote{}}, Event{event::Demote{}}, Event{event::MaintenanceOn{true}},
                               Event{event::Switchover{2}}}) {
    const auto refused = on(active, command, facts({member(2, 100)}));
    REQUIRE(refused.refused);
    CHECK(refused.refused->find("in progress") != std::string::npos);
  }
}

TEST_CASE("a node whose service link cannot serve is not eligible, not elected, and not promoted") {
  auto no_link = facts({member(2, 100)});
  no_link.serviceable = false;
  RoleMachine node(settings(1, 200, false));
  CHECK_FALSE(node.eligible(no_link));
  // It outranks n2, but n2 is elected.
  CHECK((on(node, CHANGED, no_link).to == Role::Standby));
  CHECK(node.electedActive(no_link) == std::optional<std::uint32_t>(2));
  CHECK(on(node, event::Promote{}, no_link).refused->find("no carrier") != std::string::npos);
  // Alone, it still does not take the VIP: it could not serve it.
  auto alone = facts({});
  alone.serviceable = false;
  CHECK((on(node, CHANGED, alone).to == Role::Standby));
  CHECK_FALSE(node.electedActive(alone).has_value());
  // The link comes back: eligible, and elected.
  CHECK(node.eligible(facts({member(2, 100)})));
  CHECK((on(node, CHANGED, facts({member(2, 100)})).to == Role::Active));
}

TEST_CASE("a switchover to a member that is not eligible is refused") {
  RoleMachine node(settings(1, 200, false));
  REQUIRE((on(node, CHANGED, facts({member(2, 100)})).to == Role::Active));
  const auto refused = on(node, event::Switchover{2}, facts({member(2, 100, Role::Standby, true, false)}));
  REQUIRE(refused.refused);
  CHECK(refused.refused->find("not eligible") != std::string::npos);
  // A target whose own link is down refuses the planned takeover.
  RoleMachine target(settings(2, 100, false));
  auto no_link = facts({member(1, 200, Role::HandingOver)});
  no_link.serviceable = false;
  CHECK(on(target, step(Released, 1, 2), no_link).refused.has_value());
}
