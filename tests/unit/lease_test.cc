// The majority lease (daemon/role/lease.h) on simulated time: voters' promises, a holder's
// lease end with the drift margin, silence, switchovers' successors, restarts and split votes;
// and the role machine with the lease on.
#include "daemon/role/lease.h"

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>

using namespace failover::daemon;
using lease::Lease;
using lease::Nanos;
using std::chrono::milliseconds;

namespace {

lease::Settings settingsFor(std::uint32_t self, std::vector<std::uint32_t> voters) {
  lease::Settings settings;
  settings.self = self;
  settings.voters = std::move(voters);
  settings.renew_interval = milliseconds(10);
  settings.length = milliseconds(60);
  settings.missed_renewals = 3;
  settings.drift_ppm = 1000;
  return settings;
}

// Voters 1..n on one clock, started long ago (past the restart grace); messages delivered
// at once unless a link is cut.
struct Group {
  explicit Group(std::uint32_t count, Nanos started = Nanos{0}) {
    std::vector<std::uint32_t> voters;
    for (std::uint32_t id = 1; id <= count; ++id) {
      voters.push_back(id);
    }
    for (auto id : voters) {
      nodes[id] = std::make_unique<Lease>(settingsFor(id, voters), started);
    }
  }
  void send(std::uint32_t from, std::vector<lease::Outgoing> outgoing) {
    for (auto& out : outgoing) {
      queue.push_back({from, std::move(out)});
    }
    while (!queue.empty()) {
      auto [sender, out] = queue.front();
      queue.pop_front();
      if (cut.contains(sender) || cut.contains(out.to) || down.contains(out.to)) {
        continue;
      }
      for (auto& answer : nodes[out.to]->receive(sender, out.message, now)) {
        queue.push_back({out.to, answer});
      }
    }
  }
  void want(std::uint32_t id) { send(id, nodes[id]->want(now)); }
  // Time passes in steps of 1 ms; every node's due work runs.
  void run(Nanos until) {
    while (now < until) {
      now += milliseconds(1);
      for (auto& [id, node] : nodes) {
        if (!down.contains(id)) {
          send(id, node->tick(now));
        }
      }
    }
  }
  Lease& operator[](std::uint32_t id) { return *nodes[id]; }

  Nanos now{milliseconds(1000)};
  std::map<std::uint32_t, std::unique_ptr<Lease>> nodes;
  std::deque<std::pair<std::uint32_t, lease::Outgoing>> queue;
  std::set<std::uint32_t> cut;  // cluster links down both ways
  std::set<std::uint32_t> down; // process frozen: hears nothing, sends nothing
};

} // namespace

TEST_CASE("the lease end: the drift margin is taken off the voters' promise, from the request's sending") {
  auto settings = settingsFor(1, {1, 2, 3});
  CHECK(lease::leaseEnd(Nanos{0}, settings) == milliseconds(60) - std::chrono::microseconds(120));
  settings.drift_ppm = 0;
  CHECK(lease::leaseEnd(milliseconds(5), settings) == milliseconds(65));
  CHECK(lease::majority(settingsFor(1, {1, 2})) == 2);
  CHECK(lease::majority(settingsFor(1, {1, 2, 3})) == 2);
  CHECK(lease::majority(settingsFor(1, {1, 2, 3, 4})) == 3);
}

TEST_CASE("a voter grants one node at a time, until its promise ends on its own clock") {
  lease::Voter voter(Nanos{0}, milliseconds(60));
  CHECK_FALSE(voter.consider({2, 1, 0}, milliseconds(59))); // restart grace: it may have promised before
  CHECK(voter.consider({2, 1, 0}, milliseconds(100)));
  CHECK_FALSE(voter.consider({3, 1, 0}, milliseconds(159)));
  CHECK(voter.consider({2, 2, 0}, milliseconds(150))); // renewed: bound until 210
  CHECK_FALSE(voter.consider({3, 2, 0}, milliseconds(209)));
  CHECK(voter.consider({3, 3, 0}, milliseconds(210)));
  CHECK(voter.boundTo(milliseconds(211)) == 3u);
  voter.release(3);
  CHECK(voter.consider({2, 4, 0}, milliseconds(212)));
}

TEST_CASE("a holder named its successor: the voters grant both, and nobody else") {
  lease::Voter voter(Nanos{0}, milliseconds(60));
  REQUIRE(voter.consider({1, 1, 2}, milliseconds(100))); // node 1 hands over to node 2
  CHECK(voter.consider({2, 1, 0}, milliseconds(105)));
  CHECK(voter.consider({1, 2, 2}, milliseconds(110))); // the old holder drains: still granted
  CHECK_FALSE(voter.consider({3, 1, 0}, milliseconds(115)));
  // A contender cannot name the holder as its successor to get in.
  CHECK_FALSE(voter.consider({3, 2, 1}, milliseconds(116)));
  // The old holder gave the lease back, but its release never came: asking again without
  // naming the successor, it is a contender like any other (cluster-sim found it granted beside
  // the successor, two nodes answering, when its earlier promise was taken as still naming it).
  CHECK_FALSE(voter.consider({1, 3, 0}, milliseconds(120)));
  CHECK(voter.consider({1, 4, 2}, milliseconds(121))); // while it names the successor, it drains
}

TEST_CASE("a majority makes the lease; it lasts from the request, and is renewed every interval") {
  Group group(3);
  group.want(1);
  CHECK(group[1].held(group.now));
  CHECK(group[1].end() == lease::leaseEnd(milliseconds(1000), group[1].settings()));
  group.run(milliseconds(1200));
  CHECK(group[1].held(group.now));
  CHECK(group[1].end() > group.now + milliseconds(45));
  CHECK(group[1].stats().renewals >= 20);
  CHECK(group[1].grants() == 3);
  // Another node asks meanwhile: refused by every voter.
  group.want(2);
  group.run(milliseconds(1300));
  CHECK_FALSE(group[2].held(group.now));
  CHECK(group[2].stats().renewals == 0);
}

TEST_CASE("a holder cut off loses the lease at its end; a standby gets it only after every promise ended") {
  Group group(3);
  group.want(1);
  group.run(milliseconds(1100));
  const auto last_end = group[1].end();
  group.cut.insert(1);
  const auto cut_at = group.now;
  group.run(cut_at + milliseconds(30));
  CHECK(group[2].silent(1, group.now)); // 3 renewals missed
  group.want(2);
  Nanos granted_at{0};
  while (group.now < cut_at + milliseconds(200)) {
    group.run(group.now + milliseconds(1));
    if (group[2].held(group.now) && granted_at == Nanos{0}) {
      granted_at = group.now;
    }
  }
  REQUIRE(granted_at != Nanos{0});
  CHECK(granted_at >= last_end); // never before the old holder's lease ended
  CHECK(granted_at <= cut_at + milliseconds(60 + 12)); // and soon after the voters were free
  CHECK_FALSE(group[1].held(group.now));
  CHECK(group[1].stats().losses == 1);
  CHECK(group[1].stats().missed_renewals > 0);
}

TEST_CASE("a frozen holder's lease ends on time; when it wakes it cannot renew while another holds it") {
  Group group(3);
  group.want(1);
  group.run(milliseconds(1100));
  group.down.insert(1);
  group.run(milliseconds(1140));
  group.want(2);
  group.run(milliseconds(1300));
  CHECK(group[2].held(group.now));
  group.down.erase(1);
  group.run(milliseconds(1400));
  CHECK_FALSE(group[1].held(group.now));
  CHECK(group[2].held(group.now));
}

TEST_CASE("a contender that starts the moment the holder dies is granted as its promises end, without standing back") {
  Group group(3);
  group.want(1);
  group.run(milliseconds(1100));
  group.down.insert(1); // killed: Corosync tells the others at once, so node 2 asks at once
  const auto killed = group.now;
  group.want(2);
  Nanos granted_at{0};
  while (group.now < killed + milliseconds(300) && granted_at == Nanos{0}) {
    group.run(group.now + milliseconds(1));
    if (group[2].held(group.now)) {
      granted_at = group.now;
    }
  }
  REQUIRE(granted_at != Nanos{0});
  CHECK(granted_at <= killed + milliseconds(60 + 12));
  CHECK(group[2].stats().stood_back == 0);
}

TEST_CASE("two contenders with split votes stand back, and one of them gets the lease") {
  Group group(4);
  group.cut.insert(3); // only 1, 2 and 4 vote: each contender gets its own vote, 4 decides
  group.cut.insert(4);
  group.want(1);
  group.want(2);
  group.cut.erase(4);
  group.run(milliseconds(1600));
  const bool one = group[1].held(group.now);
  const bool two = group[2].held(group.now);
  CHECK(one != two);
  CHECK(group[1].stats().stood_back + group[2].stats().stood_back > 0);
}

TEST_CASE("giving the lease back frees the voters at once; a voter's grants ignore what others claim") {
  Group group(3);
  group.want(1);
  group.run(milliseconds(1050));
  group.send(1, group[1].giveUp(group.now));
  CHECK_FALSE(group[1].held(group.now));
  CHECK(group[1].end() == Nanos{0});
  group.want(2);
  CHECK(group[2].held(group.now));
  // A grant from a node that is not a voter, or a request in another node's name, counts for nothing.
  Lease outsider(settingsFor(3, {1, 2, 3}), Nanos{0});
  CHECK(outsider.receive(1, lease::Request{2, 1, 0}, group.now).empty());
  CHECK_FALSE(outsider.silent(2, group.now + milliseconds(100)));
  group[1].want(group.now);
  group[1].receive(9, lease::Grant{9, 1, 1}, group.now);
  group[1].receive(2, lease::Grant{3, 1, 1}, group.now);
  CHECK_FALSE(group[1].held(group.now));
}

namespace {

ClusterFacts leaseFacts(std::vector<MemberInfo> others, bool lease_held) {
  ClusterFacts facts{true, true, true, std::move(others)};
  facts.lease_held = lease_held;
  return facts;
}

RoleSettings leaseSettings(std::uint32_t self, unsigned priority) {
  RoleSettings settings;
  settings.self = self;
  settings.priority = priority;
  settings.lease = true;
  return settings;
}

MemberInfo peer(std::uint32_t id, unsigned priority, Role role, bool silent = false) {
  MemberInfo info{id, "n" + std::to_string(id), priority, role, true, true};
  info.silent = silent;
  return info;
}

} // namespace

TEST_CASE("with the lease, an elected node asks for it first, and takes the VIP without a wait-out once granted") {
  RoleMachine node(leaseSettings(1, 100));
  const auto asked = node.handle(event::FactsChanged{}, leaseFacts({}, false), Millis{0});
  CHECK((asked.to == Role::Standby));
  CHECK(asked.has<effect::ContendLease>());
  CHECK_FALSE(asked.has<effect::TakeVip>());
  CHECK(node.contending());
  const auto granted = node.handle(event::FactsChanged{}, leaseFacts({}, true), Millis{10});
  CHECK((granted.to == Role::Active));
  REQUIRE(granted.has<effect::TakeVip>());
  CHECK(std::get<effect::TakeVip>(granted.effects.front()).wait_out == Millis{0});
  CHECK(granted.reason.find("lease") != std::string::npos);
}

TEST_CASE("with the lease, the active steps down when it ends, releasing the VIP before the lease") {
  RoleMachine node(leaseSettings(1, 100));
  node.handle(event::FactsChanged{}, leaseFacts({}, true), Millis{0});
  REQUIRE((node.role() == Role::Active));
  const auto lost = node.handle(event::FactsChanged{}, leaseFacts({peer(2, 100, Role::Standby)}, false), Millis{5});
  CHECK((lost.to == Role::Standby));
  REQUIRE(lost.effects.size() >= 2);
  CHECK(std::holds_alternative<effect::ReleaseVip>(lost.effects[0]));
  CHECK(std::holds_alternative<effect::ReleaseLease>(lost.effects[1]));
  CHECK(lost.reason.find("lost the majority lease") != std::string::npos);
}

TEST_CASE("with the lease, an active member silent on it counts as gone: the best standby contends before Corosync sees it leave") {
  RoleMachine standby(leaseSettings(2, 100));
  const auto heard = standby.handle(event::FactsChanged{}, leaseFacts({peer(1, 200, Role::Active)}, false), Millis{0});
  CHECK_FALSE(heard.has<effect::ContendLease>());
  const auto silent =
      standby.handle(event::FactsChanged{}, leaseFacts({peer(1, 200, Role::Active, true)}, false), Millis{30});
  CHECK(silent.has<effect::ContendLease>());
  CHECK((silent.to == Role::Standby));
  // It is heard again before any grant (a one-way fault, or a short stall): the contention ends.
  const auto back = standby.handle(event::FactsChanged{}, leaseFacts({peer(1, 200, Role::Active)}, false), Millis{40});
  CHECK(back.has<effect::ReleaseLease>());
  CHECK_FALSE(standby.contending());
}

TEST_CASE("with the lease, an active that holds it does not step down for a stale 'active' that lost its own") {
  RoleMachine node(leaseSettings(2, 100));
  node.handle(event::FactsChanged{}, leaseFacts({}, true), Millis{0});
  REQUIRE((node.role() == Role::Active));
  const auto stale = node.handle(event::FactsChanged{}, leaseFacts({peer(1, 200, Role::Active)}, true), Millis{10});
  CHECK((stale.to == Role::Active));
  CHECK_FALSE(stale.has<effect::ReleaseVip>());
  // Without the lease the same facts are a healed partition: the lower-ranked active steps down.
  auto without = leaseSettings(2, 100);
  without.lease = false;
  RoleMachine plain(without);
  plain.handle(event::FactsChanged{}, leaseFacts({}, false), Millis{0});
  REQUIRE((plain.role() == Role::Active));
  CHECK((plain.handle(event::FactsChanged{}, leaseFacts({peer(1, 200, Role::Active)}, false), Millis{10}).to ==
         Role::Standby));
}

TEST_CASE("with the lease, a switchover's target keeps asking while the old active is silent for a moment") {
  RoleMachine target(leaseSettings(2, 100));
  target.handle(event::FactsChanged{}, leaseFacts({peer(1, 200, Role::Active)}, false), Millis{0});
  const auto released = target.handle(event::HandoverReceived{{HandoverStep::Phase::Released, 1, 2, {}}, 1},
                                      leaseFacts({peer(1, 200, Role::HandingOver)}, false), Millis{10});
  REQUIRE(released.has<effect::ContendLease>());
  // Two of the old active's renewals lost: silent on the lease, still handing over in the group.
  const auto silent = target.handle(event::FactsChanged{}, leaseFacts({peer(1, 200, Role::HandingOver, true)}, false),
                                    Millis{40});
  CHECK_FALSE(silent.has<effect::ReleaseLease>());
  CHECK_FALSE(silent.has<effect::SendHandover>()); // no call-off
  CHECK(target.contending());
  const auto granted = target.handle(event::FactsChanged{}, leaseFacts({peer(1, 200, Role::HandingOver, true)}, true),
                                     Millis{50});
  CHECK((granted.to == Role::Active));
  // Leaving the group is what ends it: the same contention with the old active gone stops.
  RoleMachine other(leaseSettings(2, 100));
  other.handle(event::HandoverReceived{{HandoverStep::Phase::Released, 1, 2, {}}, 1},
               leaseFacts({peer(1, 200, Role::HandingOver)}, false), Millis{10});
  REQUIRE(other.contending());
  const auto gone = other.handle(event::FactsChanged{}, leaseFacts({}, false), Millis{20});
  CHECK(gone.has<effect::ReleaseLease>());
  CHECK_FALSE(other.contending());
}

TEST_CASE("with the lease, a standby's silence does not keep it out: a lost release left it silent") {
  RoleMachine active(leaseSettings(1, 200));
  active.handle(event::FactsChanged{}, leaseFacts({}, true), Millis{0});
  active.handle(event::VipTaken{}, leaseFacts({}, true), Millis{5});
  REQUIRE((active.role() == Role::Active));
  // n2 once asked and gave the lease back, but its release was lost: it stays silent to n1.
  const auto asked = active.handle(event::Switchover{}, leaseFacts({peer(2, 100, Role::Standby, true)}, true), Millis{10});
  CHECK(asked.refused.value_or("") == "");
  CHECK((asked.to == Role::HandingOver));
  CHECK(asked.target == std::optional<std::uint32_t>{2});
}
