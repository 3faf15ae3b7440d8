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

} // namespace

// Roles are compared inside double parentheses: doctest would otherwise print them with the
// project's toString(), which returns a string_view.
TEST_CASE("a lone quorate in-sync node elects itself") {
  RoleMachine node(1, 100, false);
  const auto t = node.handle(CHANGED, facts({}));
  CHECK((t.to == Role::Active));
  CHECK(t.take_vip);
  CHECK_FALSE(t.release_vip);
  CHECK(t.reason.find("elected") != std::string::npos);
}

TEST_CASE("the highest priority wins; the node id breaks ties") {
  RoleMachine low(1, 100, false);
  CHECK((low.handle(CHANGED, facts({member(2, 150)})).to == Role::Standby));
  RoleMachine high(2, 150, false);
  CHECK((high.handle(CHANGED, facts({member(1, 100)})).to == Role::Active));
  RoleMachine tie_low_id(1, 100, false);
  CHECK((tie_low_id.handle(CHANGED, facts({member(2, 100)})).to == Role::Active));
  RoleMachine tie_high_id(2, 100, false);
  CHECK((tie_high_id.handle(CHANGED, facts({member(1, 100)})).to == Role::Standby));
}

TEST_CASE("members not in sync, not eligible, or in maintenance are not candidates") {
  RoleMachine node(3, 50, false);
  const auto t = node.handle(CHANGED, facts({member(1, 200, Role::Standby, false),
                                             member(2, 200, Role::Standby, true, false),
                                             member(4, 200, Role::Maintenance)}));
  CHECK((t.to == Role::Active));
  RoleMachine unsynced(1, 200, false);
  CHECK((unsynced.handle(CHANGED, facts({member(2, 10)}, true, false)).to == Role::Standby));
}

TEST_CASE("no preemption by default: a better node joining does not displace the active one") {
  RoleMachine active(1, 100, false);
  REQUIRE((active.handle(CHANGED, facts({})).to == Role::Active));
  CHECK((active.handle(CHANGED, facts({member(2, 200)})).to == Role::Active));
  RoleMachine better(2, 200, false);
  CHECK((better.handle(CHANGED, facts({member(1, 100, Role::Active)})).to == Role::Standby));
}

TEST_CASE("with preemption a better in-sync node takes over") {
  RoleMachine active(1, 100, true);
  REQUIRE((active.handle(CHANGED, facts({})).to == Role::Active));
  const auto t = active.handle(CHANGED, facts({member(2, 200)}));
  CHECK((t.to == Role::Standby));
  CHECK(t.release_vip);
  CHECK_FALSE(t.resync);
  RoleMachine better(2, 200, true);
  CHECK((better.handle(CHANGED, facts({member(1, 100, Role::Standby)})).to == Role::Active));
}

TEST_CASE("the active's departure elects the best remaining standby") {
  RoleMachine n2(2, 100, false);
  CHECK((n2.handle(CHANGED, facts({member(1, 200, Role::Active), member(3, 100)})).to == Role::Standby));
  const auto t = n2.handle(CHANGED, facts({member(3, 100)}));
  CHECK((t.to == Role::Active));
  CHECK(t.take_vip);
  RoleMachine n3(3, 100, false);
  CHECK((n3.handle(CHANGED, facts({member(2, 100)})).to == Role::Standby));
}

TEST_CASE("an active node that loses quorum demotes at once, and does not come back without it") {
  RoleMachine node(1, 100, false);
  REQUIRE((node.handle(CHANGED, facts({member(2, 100)})).to == Role::Active));
  const auto t = node.handle(CHANGED, facts({}, false));
  CHECK((t.to == Role::Standby));
  CHECK(t.release_vip);
  CHECK(t.reason == "lost quorum");
  CHECK((node.handle(CHANGED, facts({}, false)).to == Role::Standby));
  CHECK((node.handle(CHANGED, facts({})).to == Role::Active));
}

TEST_CASE("when a partition heals, the lower-ranked of two actives steps down and resyncs") {
  RoleMachine n1(1, 100, false);
  REQUIRE((n1.handle(CHANGED, facts({})).to == Role::Active));
  const auto t = n1.handle(CHANGED, facts({member(2, 150, Role::Active)}));
  CHECK((t.to == Role::Standby));
  CHECK(t.release_vip);
  CHECK(t.resync);
  CHECK(t.reason.find("partition healed") != std::string::npos);
  RoleMachine n2(2, 150, false);
  REQUIRE((n2.handle(CHANGED, facts({})).to == Role::Active));
  CHECK((n2.handle(CHANGED, facts({member(1, 100, Role::Active)})).to == Role::Active));
}

TEST_CASE("losing corosync is a fault that releases the VIP; reconnecting resumes") {
  RoleMachine node(1, 100, false);
  REQUIRE((node.handle(CHANGED, facts({})).to == Role::Active));
  const auto t = node.handle(CHANGED, ClusterFacts{false, false, true, {}});
  CHECK((t.to == Role::Fault));
  CHECK(t.release_vip);
  const auto back = node.handle(CHANGED, facts({}));
  CHECK((back.from == Role::Fault));
  CHECK((back.to == Role::Active));
}

TEST_CASE("operator promote and demote, with refusals that say why") {
  RoleMachine node(1, 10, false);
  CHECK(node.handle(event::Promote{}, facts({member(2, 100, Role::Active)})).refused->find("n2 is active") !=
        std::string::npos);
  CHECK(node.handle(event::Promote{}, facts({}, true, false)).refused->find("not in sync") != std::string::npos);
  CHECK(node.handle(event::Promote{}, facts({}, false)).refused->find("not quorate") != std::string::npos);
  const auto promoted = node.handle(event::Promote{}, facts({member(2, 100)}));
  CHECK((promoted.to == Role::Active));
  CHECK(promoted.take_vip);
  CHECK(node.handle(event::Demote{}, facts({member(2, 100, Role::Standby, false)})).refused->find(
            "no other in-sync member") != std::string::npos);
  const auto demoted = node.handle(event::Demote{}, facts({member(2, 100)}));
  CHECK((demoted.to == Role::Standby));
  CHECK(demoted.release_vip);
  CHECK_FALSE(node.eligible(facts({member(2, 100)})));
  // A demoted node stays down while another candidate exists, even one it outranks:
  RoleMachine strong(1, 200, false);
  REQUIRE((strong.handle(CHANGED, facts({member(2, 100)})).to == Role::Active));
  REQUIRE((strong.handle(event::Demote{}, facts({member(2, 100)})).to == Role::Standby));
  CHECK((strong.handle(CHANGED, facts({member(2, 100)})).to == Role::Standby));
  // Once n2 is active, the yield is over.
  CHECK((strong.handle(CHANGED, facts({member(2, 100, Role::Active)})).to == Role::Standby));
  CHECK(strong.eligible(facts({member(2, 100, Role::Active)})));
}

TEST_CASE("maintenance: never elected, releases the VIP, and comes back only when turned off") {
  RoleMachine node(1, 200, false);
  REQUIRE((node.handle(CHANGED, facts({})).to == Role::Active));
  const auto on = node.handle(event::MaintenanceOn{}, facts({member(2, 100)}));
  CHECK((on.to == Role::Maintenance));
  CHECK(on.release_vip);
  CHECK((node.handle(CHANGED, facts({})).to == Role::Maintenance));
  CHECK(node.handle(event::Promote{}, facts({})).refused.has_value());
  const auto off = node.handle(event::MaintenanceOff{}, facts({member(2, 100, Role::Active)}));
  CHECK((off.to == Role::Standby));
  CHECK(node.handle(event::MaintenanceOff{}, facts({})).refused.has_value());
}

TEST_CASE("a lost VIP makes the node stand aside for another candidate, or retry if none") {
  RoleMachine node(1, 200, false);
  REQUIRE((node.handle(CHANGED, facts({member(2, 100)})).to == Role::Active));
  const auto lost = node.handle(event::VipLost{"link down"}, facts({member(2, 100)}));
  CHECK((lost.to == Role::Standby));
  CHECK(lost.reason.find("link down") != std::string::npos);
  RoleMachine alone(1, 200, false);
  REQUIRE((alone.handle(CHANGED, facts({})).to == Role::Active));
  CHECK((alone.handle(event::VipLost{"removed"}, facts({})).to == Role::Active));
}

TEST_CASE("a failed takeover releases and yields") {
  RoleMachine node(1, 200, false);
  REQUIRE((node.handle(CHANGED, facts({member(2, 100)})).to == Role::Active));
  const auto t = node.handle(event::TakeoverFailed{"VIP answered by another host"}, facts({member(2, 100)}));
  CHECK((t.to == Role::Standby));
  CHECK(t.release_vip);
  CHECK((node.handle(CHANGED, facts({member(2, 100)})).to == Role::Standby));
}

TEST_CASE("no standby elects itself while joining members have not said what they are") {
  RoleMachine node(1, 200, false);
  auto settling = facts({});
  settling.settling = true;
  CHECK((node.handle(CHANGED, settling).to == Role::Standby));
  // A partition healed: the joiner turns out to be active, so this node stays a standby.
  CHECK((node.handle(CHANGED, facts({member(2, 100, Role::Active)})).to == Role::Standby));
}

TEST_CASE("a planned switchover: handing over, done or failed, and the target's side") {
  RoleMachine active(1, 200, false);
  REQUIRE((active.handle(CHANGED, facts({member(2, 100)})).to == Role::Active));
  CHECK(active.handle(event::HandOver{2}, facts({member(2, 100, Role::Standby, false)})).refused->find(
            "not in sync") != std::string::npos);
  CHECK(active.handle(event::HandOver{9}, facts({member(2, 100)})).refused->find("not a member") !=
        std::string::npos);
  const auto handing = active.handle(event::HandOver{2}, facts({member(2, 100)}));
  CHECK((handing.to == Role::HandingOver));
  CHECK_FALSE(handing.release_vip); // it keeps serving until the target has the VIP
  // Meanwhile nobody elects: a node handing over still counts as holding the VIP.
  RoleMachine other(3, 250, false);
  CHECK((other.handle(CHANGED, facts({member(1, 200, Role::HandingOver)})).to == Role::Standby));
  CHECK((active.handle(CHANGED, facts({member(2, 100)})).to == Role::HandingOver));
  const auto failed = active.handle(event::HandoverFailed{"n2 left"}, facts({}));
  CHECK((failed.to == Role::Active));
  REQUIRE((active.handle(event::HandOver{2}, facts({member(2, 100)})).to == Role::HandingOver));
  const auto done = active.handle(event::HandoverDone{}, facts({member(2, 100, Role::Active)}));
  CHECK((done.to == Role::Standby));
  CHECK(done.release_vip);

  RoleMachine target(2, 100, false);
  CHECK(target.handle(event::TakeOverPlanned{"n1"}, facts({}, true, false)).refused.has_value());
  const auto taking = target.handle(event::TakeOverPlanned{"n1"}, facts({member(1, 200, Role::HandingOver)}));
  CHECK((taking.to == Role::Active));
  CHECK(taking.take_vip);
  // The old active's State may still say handing-over when the target is already active:
  // it ranks higher, but it is leaving, and must not make the target step down.
  const auto stays = target.handle(CHANGED, facts({member(1, 200, Role::HandingOver)}));
  CHECK((stays.to == Role::Active));
  CHECK_FALSE(stays.release_vip);
}

TEST_CASE("a node whose service link cannot serve is not eligible, not elected, and not promoted") {
  auto no_link = facts({member(2, 100)});
  no_link.serviceable = false;
  RoleMachine node(1, 200, false);
  CHECK_FALSE(node.eligible(no_link));
  // It outranks n2, but n2 is elected.
  CHECK((node.handle(CHANGED, no_link).to == Role::Standby));
  CHECK(node.electedActive(no_link) == std::optional<std::uint32_t>(2));
  CHECK(node.handle(event::Promote{}, no_link).refused->find("no carrier") != std::string::npos);
  // Alone, it still does not take the VIP: it could not serve it.
  auto alone = facts({});
  alone.serviceable = false;
  CHECK((node.handle(CHANGED, alone).to == Role::Standby));
  CHECK_FALSE(node.electedActive(alone).has_value());
  // The link comes back: eligible, and elected.
  CHECK(node.eligible(facts({member(2, 100)})));
  CHECK((node.handle(CHANGED, facts({member(2, 100)})).to == Role::Active));
}

TEST_CASE("a switchover to a member that is not eligible is refused") {
  RoleMachine node(1, 200, false);
  REQUIRE((node.handle(CHANGED, facts({member(2, 100)})).to == Role::Active));
  const auto refused = node.handle(event::HandOver{2}, facts({member(2, 100, Role::Standby, true, false)}));
  REQUIRE(refused.refused);
  CHECK(refused.refused->find("not eligible") != std::string::npos);
  // A target whose own link is down refuses the planned takeover.
  RoleMachine target(2, 100, false);
  auto no_link = facts({member(1, 200, Role::HandingOver)});
  no_link.serviceable = false;
  CHECK(target.handle(event::TakeOverPlanned{"n1"}, no_link).refused.has_value());
}
