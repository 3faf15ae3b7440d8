// The Replicator on simulated time: a group in one process (FakeGroup), sessions in maps
// (MapSessionStore), a ManualClock. What is checked is what the daemon relies on: when a
// member is in sync, who sends a snapshot, what a client's confirmation means, and which
// messages are refused.
#include "daemon/cluster/replicator.h"
#include "daemon/log.h"
#include "tests/fakes/fake_group.h"
#include "tests/fakes/manual_clock.h"
#include "tests/fakes/map_session_store.h"

#include <doctest/doctest.h>

#include <memory>
#include <vector>

using namespace failover;
using daemon::cluster::GroupMember;
using daemon::cluster::HandoverMessage;
using daemon::cluster::RejectReason;
using daemon::cluster::Replicator;
using daemon::cluster::Sealer;
using daemon::cluster::StateMessage;
using daemon::cluster::WireRole;
using daemon::cluster::WireVersions;
using daemon::cluster::MESSAGE_VERSION;
using fakes::MapSessionStore;

namespace {

Sealer testSealer() {
  const std::vector<std::uint8_t> key(32, 0x5a);
  return *Sealer::create(key);
}

struct Node {
  Node(fakes::FakeGroup& group, const fakes::ManualClock& clock, std::uint32_t id, std::uint32_t pid,
       bool replicate = true, WireVersions versions = {})
      : member(group.add(id, pid)) {
    replicator = std::make_unique<Replicator>(
        testSealer(), member, store, clock, Replicator::Settings{replicate, Replicator::freshIncarnation(), versions},
        Replicator::Callbacks{[this] {
                                StateMessage state;
                                state.name = "n" + std::to_string(member.self().nodeid);
                                state.role = role;
                                return state;
                              },
                              [this] { ++changes; }, [this] { ++flush_requests; },
                              [this](const GroupMember&, const HandoverMessage& message) {
                                handovers.push_back(message);
                              }});
    member.replicator = replicator.get();
  }
  std::uint64_t rejected(RejectReason reason) const {
    return replicator->stats().rejected[static_cast<std::size_t>(reason)].load();
  }
  // A session as a TLS worker reports it, flushed as the owner's loop would.
  std::uint64_t createSession(std::uint32_t serial, std::int64_t expires_at) {
    const auto number = replicator->sessionCreated(MapSessionStore::record(serial, expires_at));
    store.importSession(MapSessionStore::record(serial, expires_at), 0);
    replicator->flushPending();
    return number;
  }

  fakes::FakeGroup::Member& member;
  MapSessionStore store;
  WireRole role = WireRole::Standby;
  std::unique_ptr<Replicator> replicator;
  int changes = 0;
  int flush_requests = 0;
  std::vector<HandoverMessage> handovers;
};

struct Cluster {
  Cluster() { daemon::setLogLevel(daemon::LogLevel::Error); }
  Node& add(std::uint32_t id, std::uint32_t pid = 100, bool replicate = true, WireVersions versions = {}) {
    return *nodes.emplace_back(std::make_unique<Node>(group, clock, id, pid, replicate, versions));
  }
  // Joins quorate, as a node of a healthy cluster does.
  void joinQuorate(Node& node) {
    rejoin(node);
    group.deliver();
  }
  // Joins (again) and learns it is quorate; nothing delivered yet.
  void rejoin(Node& node) {
    group.join(node.member);
    node.replicator->onQuorum(true);
  }
  // A started cluster whose active holds one session, and node 4 joining late: its State is
  // queued, its snapshot not asked for yet.
  Node& startWithLateJoiner() {
    startThree();
    nodes[0]->createSession(1, nowSeconds() + 300);
    group.deliver();
    auto& late = add(4);
    rejoin(late);
    late.replicator->announce();
    return late;
  }
  // Every member announces (the agent's one-second tick) and the group goes quiet.
  void tick(std::int64_t ms = 1000) {
    clock.advance(ms);
    for (auto& node : nodes) {
      if (node->member.joined) {
        node->replicator->announce();
      }
    }
    group.deliver();
  }
  // A cluster that started cold and has an active: node 1.
  void startThree() {
    for (std::uint32_t id = 1; id <= 3; ++id) {
      add(id);
    }
    for (auto& node : nodes) {
      group.join(node->member);
    }
    group.setQuorate(true);
    group.deliver();
    nodes[0]->role = WireRole::Active;
    tick();
  }
  std::int64_t nowSeconds() const { return clock.wallSeconds(); }

  fakes::ManualClock clock;
  fakes::FakeGroup group;
  std::vector<std::unique_ptr<Node>> nodes;
};

} // namespace

TEST_CASE("a quorate node alone in the group is in sync once its view has settled; one without quorum never is") {
  Cluster cluster;
  auto& alone = cluster.add(1);
  cluster.group.join(alone.member);
  cluster.group.deliver();
  CHECK_FALSE(alone.replicator->inSync()); // a restarted node whose Corosync has not merged yet
  cluster.clock.advance(5000);
  alone.replicator->announce();
  cluster.group.deliver();
  CHECK_FALSE(alone.replicator->inSync());
  alone.replicator->onQuorum(true);
  CHECK_FALSE(alone.replicator->inSync()); // the group's view may not have caught up yet
  cluster.clock.advance(999);
  alone.replicator->announce();
  CHECK_FALSE(alone.replicator->inSync());
  cluster.clock.advance(1);
  alone.replicator->announce();
  CHECK(alone.replicator->inSync());
  CHECK(alone.replicator->stats().cold_starts == 1);
}

TEST_CASE("a partition heals: a node that hears 'quorate' before it sees the others does not cold-start") {
  Cluster cluster;
  cluster.startThree();
  auto& active = *cluster.nodes[0];
  active.createSession(1, cluster.nowSeconds() + 300);
  cluster.group.deliver();
  auto& cut_off = *cluster.nodes[2];
  // Cut off alone: it sees the others leave and loses quorum.
  cut_off.replicator->onMembership({cut_off.member.self()}, {},
                                   {active.member.self(), cluster.nodes[1]->member.self()});
  cut_off.replicator->onQuorum(false);
  cut_off.store.sessions.clear(); // what it holds no longer counts
  cluster.clock.advance(5000);
  cut_off.replicator->announce();
  cluster.group.queue.clear();
  // The heal: votequorum says quorate before CPG shows the others.
  cut_off.replicator->onQuorum(true);
  cluster.clock.advance(200);
  cut_off.replicator->announce();
  cluster.group.queue.clear();
  CHECK_FALSE(cut_off.replicator->inSync());
  cut_off.replicator->onMembership(cluster.group.joinedMembers(), {},
                                   {}); // the others, back in its view
  cluster.tick();
  cluster.tick();
  CHECK(cut_off.replicator->inSync());
  CHECK(cut_off.replicator->stats().cold_starts == 1); // the cluster start only
  CHECK(cut_off.store.entries() == 1); // from the active's snapshot
}

TEST_CASE("a cold start: nobody holds state, so everyone is in sync once every member's state is known") {
  Cluster cluster;
  cluster.startThree();
  for (auto& node : cluster.nodes) {
    CHECK(node->replicator->inSync());
    CHECK(node->replicator->stats().cold_starts == 1);
  }
}

TEST_CASE("a cold start waits for a member that has not announced itself, until the grace period ends") {
  Cluster cluster;
  auto& first = cluster.add(1);
  auto& silent = cluster.group.add(2, 100); // a group process that never sends a State
  cluster.group.join(silent);
  cluster.group.join(first.member);
  first.replicator->onQuorum(true);
  cluster.group.deliver();
  CHECK_FALSE(first.replicator->inSync());
  CHECK(first.replicator->settling());
  cluster.clock.advance(1900);
  first.replicator->announce();
  cluster.group.deliver();
  CHECK_FALSE(first.replicator->inSync());
  cluster.clock.advance(200); // past the 2 s grace
  first.replicator->announce();
  CHECK(first.replicator->inSync());
  CHECK_FALSE(first.replicator->settling());
}

TEST_CASE("a member that joins a cluster with state gets a snapshot from the active, and only from it") {
  Cluster cluster;
  cluster.startThree();
  auto& active = *cluster.nodes[0];
  for (std::uint32_t serial = 1; serial <= 5; ++serial) {
    active.createSession(serial, cluster.nowSeconds() + 300);
  }
  cluster.group.deliver();
  active.store.keyring = {9, 9, 9};
  const auto sent_before = [&](std::size_t i) { return cluster.nodes[i]->replicator->stats().snapshots_sent.load(); };
  const std::uint64_t before[] = {sent_before(0), sent_before(1), sent_before(2)};
  auto& late = cluster.add(4);
  cluster.joinQuorate(late);
  cluster.tick();
  CHECK(late.replicator->inSync());
  CHECK(late.replicator->stats().cold_starts == 0);
  CHECK(late.store.entries() == 5);
  CHECK(late.store.keyring == std::vector<std::uint8_t>{9, 9, 9});
  CHECK(sent_before(0) == before[0] + 1);
  CHECK(sent_before(1) == before[1]); // node 2 is in sync, but not the source
  CHECK(sent_before(2) == before[2]);
  // More announcements do not send it again.
  cluster.tick();
  CHECK(sent_before(0) == before[0] + 1);
}

TEST_CASE("without an active, the in-sync member with the lowest node id is the one sync source") {
  Cluster cluster;
  cluster.startThree();
  cluster.nodes[0]->createSession(7, cluster.nowSeconds() + 300);
  cluster.group.deliver();
  cluster.group.leave(cluster.nodes[0]->member); // the active dies
  cluster.group.deliver();
  const auto sent_by = [&](std::size_t i) { return cluster.nodes[i]->replicator->stats().snapshots_sent.load(); };
  const auto node2_before = sent_by(1);
  const auto node3_before = sent_by(2);
  auto& late = cluster.add(5);
  cluster.joinQuorate(late);
  cluster.tick();
  CHECK(late.replicator->inSync());
  CHECK(late.store.has(7));
  CHECK(sent_by(1) == node2_before + 1); // node 2: the lowest in sync
  CHECK(sent_by(2) == node3_before);
}

TEST_CASE("a joining node is not in sync, and not cold-started, while a member that holds state is known") {
  Cluster cluster;
  cluster.startThree();
  auto& late = cluster.add(4);
  cluster.rejoin(late);
  for (std::size_t i = 0; i < 3; ++i) {
    cluster.nodes[i]->replicator->announce();
  }
  cluster.group.deliverQueued(); // every member's State reaches it...
  cluster.group.queue.clear();   // ...the snapshot they answer with is lost
  for (int second = 0; second < 10; ++second) {
    cluster.clock.advance(1000);
    late.replicator->announce();
    cluster.group.deliverQueued();
    cluster.group.queue.clear();
  }
  CHECK_FALSE(late.replicator->inSync());
  CHECK(late.store.entries() == 0);
}

TEST_CASE("sessions queued before the owner's loop flushes make one batch and ask for one wake-up") {
  Cluster cluster;
  cluster.startThree();
  auto& active = *cluster.nodes[0];
  const auto expires = cluster.nowSeconds() + 300;
  for (std::uint32_t serial = 1; serial <= 5; ++serial) {
    active.replicator->sessionCreated(MapSessionStore::record(serial, expires));
  }
  active.replicator->sessionRemoved(MapSessionStore::record(1, expires).id);
  CHECK(active.flush_requests == 1);
  const auto sent = active.replicator->stats().records_sent.load();
  active.replicator->flushPending();
  CHECK(active.replicator->stats().records_sent.load() == sent + 5);
  active.replicator->sessionCreated(MapSessionStore::record(6, expires)); // a new batch
  CHECK(active.flush_requests == 2);
  cluster.group.deliver();
  CHECK(cluster.nodes[1]->store.has(5));
  CHECK_FALSE(cluster.nodes[1]->store.has(1)); // its removal followed it in the same batch
}

TEST_CASE("sync mode: a session is confirmed when its message comes back in the agreed order, not before") {
  Cluster cluster;
  cluster.startThree();
  auto& active = *cluster.nodes[0];
  const auto number = active.createSession(42, cluster.nowSeconds() + 300);
  CHECK(number > 0);
  CHECK(active.flush_requests == 1);
  CHECK(active.store.confirmed_through < number); // sent, not delivered back yet
  CHECK_FALSE(cluster.nodes[1]->store.has(42));
  cluster.group.deliver();
  CHECK(active.store.confirmed_through == number);
  for (auto& node : cluster.nodes) {
    CHECK(node->store.has(42));
  }
}

TEST_CASE("sync mode: sessions in flight when Corosync goes are abandoned, and numbers given out alone are 0") {
  Cluster cluster;
  cluster.startThree();
  auto& active = *cluster.nodes[0];
  const auto number = active.createSession(1, cluster.nowSeconds() + 300);
  cluster.group.leave(active.member); // lost with what it had sent
  CHECK(active.store.abandoned_through == number);
  CHECK(active.store.confirmed_through < number);
  CHECK(active.replicator->sessionCreated(MapSessionStore::record(2, cluster.nowSeconds() + 300)) == 0);
  CHECK_FALSE(cluster.nodes[1]->store.has(1));
}

TEST_CASE("removals and expired sessions") {
  Cluster cluster;
  cluster.startThree();
  auto& active = *cluster.nodes[0];
  active.createSession(1, cluster.nowSeconds() + 300);
  active.createSession(2, cluster.nowSeconds() - 1); // expired before it arrived
  cluster.group.deliver();
  CHECK(cluster.nodes[1]->store.has(1));
  CHECK_FALSE(cluster.nodes[1]->store.has(2));
  CHECK(cluster.nodes[1]->replicator->stats().records_rejected == 1);
  const auto id = MapSessionStore::idOf(1);
  active.replicator->sessionRemoved(id);
  active.replicator->flushPending();
  cluster.group.deliver();
  CHECK_FALSE(cluster.nodes[1]->store.has(id));
  CHECK_FALSE(cluster.nodes[2]->store.has(id));
}

TEST_CASE("the replay window: a message delivered twice, re-sent by another process, or too old is refused") {
  Cluster cluster;
  cluster.startThree();
  auto& active = *cluster.nodes[0];
  auto& standby = *cluster.nodes[1];
  active.replicator->sessionCreated(MapSessionStore::record(1, cluster.nowSeconds() + 300));
  active.replicator->flushPending();
  REQUIRE(cluster.group.queue.size() == 1);
  const auto captured = cluster.group.queue.front();
  cluster.group.deliver();
  standby.store.sessions.clear();

  standby.replicator->onDeliver(captured.from, captured.wire);
  CHECK(standby.rejected(RejectReason::Replayed) == 1);
  CHECK(standby.store.entries() == 0);

  standby.replicator->onDeliver(GroupMember{captured.from.nodeid, captured.from.pid + 1}, captured.wire);
  CHECK(standby.rejected(RejectReason::Replayed) == 2);

  standby.replicator->onDeliver(GroupMember{3, 100}, captured.wire);
  CHECK(standby.rejected(RejectReason::WrongSender) == 1);

  // A new message, held back for longer than two minutes.
  active.replicator->sessionCreated(MapSessionStore::record(2, cluster.nowSeconds() + 3600));
  active.replicator->flushPending();
  const auto late = cluster.group.queue.back();
  cluster.group.queue.clear();
  cluster.clock.advance(121'000);
  standby.replicator->onDeliver(late.from, late.wire);
  CHECK(standby.rejected(RejectReason::Stale) == 1);
  CHECK(standby.store.entries() == 0);

  auto tampered = late.wire;
  tampered.back() ^= 1;
  standby.replicator->onDeliver(late.from, tampered);
  CHECK(standby.rejected(RejectReason::Unauthenticated) == 1);
}

TEST_CASE("a restarted process is a new incarnation: its messages are accepted from sequence 1 again") {
  Cluster cluster;
  cluster.startThree();
  cluster.group.leave(cluster.nodes[2]->member);
  auto& restarted = cluster.add(3, 200);
  cluster.joinQuorate(restarted);
  cluster.tick();
  CHECK(restarted.replicator->inSync());
  CHECK(cluster.nodes[1]->rejected(RejectReason::Replayed) == 0);
  CHECK(cluster.nodes[1]->replicator->peers().contains({3, 200}));
  CHECK_FALSE(cluster.nodes[1]->replicator->peers().contains({3, 100}));
}

TEST_CASE("a member that left before its snapshot arrived gets another when it is back") {
  Cluster cluster;
  auto& late = cluster.startWithLateJoiner();
  auto& active = *cluster.nodes[0];
  // Its State reaches the active, which sends the snapshot; the member leaves before it arrives.
  const auto state = cluster.group.queue;
  cluster.group.queue.clear();
  for (const auto& sent : state) {
    active.replicator->onDeliver(sent.from, sent.wire);
  }
  const auto sent = active.replicator->stats().snapshots_sent.load();
  cluster.group.queue.clear();
  cluster.group.leave(late.member);
  cluster.rejoin(late);
  cluster.group.deliver();
  cluster.tick();
  CHECK(active.replicator->stats().snapshots_sent == sent + 1);
  CHECK(late.replicator->inSync());
  CHECK(late.store.entries() == 1);
}

TEST_CASE("resync: a node whose state is stale asks again, and the source sends a new snapshot") {
  Cluster cluster;
  cluster.startThree();
  auto& active = *cluster.nodes[0];
  active.createSession(1, cluster.nowSeconds() + 300);
  cluster.group.deliver();
  auto& stale = *cluster.nodes[2];
  stale.store.sessions.clear();
  const auto sent = active.replicator->stats().snapshots_sent.load();
  stale.replicator->resync();
  CHECK_FALSE(stale.replicator->inSync());
  cluster.group.deliver();
  CHECK(stale.replicator->inSync());
  CHECK(stale.store.entries() == 1);
  CHECK(active.replicator->stats().snapshots_sent == sent + 1);
}

TEST_CASE("losing Corosync forgets the members and the sync state") {
  Cluster cluster;
  cluster.startThree();
  auto& standby = *cluster.nodes[1];
  CHECK(standby.replicator->peers().size() == 2);
  cluster.group.leave(standby.member);
  CHECK(standby.replicator->peers().empty());
  CHECK_FALSE(standby.replicator->inSync());
}

TEST_CASE("switchover steps travel in the replication stream to every member") {
  Cluster cluster;
  cluster.startThree();
  cluster.nodes[1]->replicator->sendHandover({HandoverMessage::Phase::Request, 1, 2, {}});
  cluster.group.deliver();
  REQUIRE(cluster.nodes[0]->handovers.size() == 1);
  CHECK((cluster.nodes[0]->handovers[0].phase == HandoverMessage::Phase::Request));
  CHECK(cluster.nodes[0]->handovers[0].to == 2);
  CHECK(cluster.nodes[2]->handovers.size() == 1);
  CHECK(cluster.nodes[1]->handovers.empty()); // its own comes back as a confirmation only
}

TEST_CASE("with replication off, nothing is queued and the node counts as in sync") {
  Cluster cluster;
  auto& node = cluster.add(1, 100, false);
  CHECK(node.replicator->inSync());
  CHECK(node.replicator->sessionCreated(MapSessionStore::record(1, cluster.nowSeconds() + 300)) == 0);
  CHECK(node.flush_requests == 0);
}

TEST_CASE("losing quorum makes a node's state stale, whatever order Corosync reports the partition in") {
  for (const bool membership_first : {true, false}) {
    CAPTURE(membership_first);
    Cluster cluster;
    cluster.startThree();
    auto& cut_off = *cluster.nodes[2];
    const auto cold_starts = cut_off.replicator->stats().cold_starts.load();
    // It finds itself alone in the group and without quorum.
    const auto alone = [&] {
      cut_off.replicator->onMembership({cut_off.member.self()}, {},
                                       {cluster.nodes[0]->member.self(), cluster.nodes[1]->member.self()});
    };
    if (membership_first) {
      alone();
      cut_off.replicator->onQuorum(false);
    } else {
      cut_off.replicator->onQuorum(false);
      alone();
    }
    CHECK_FALSE(cut_off.replicator->inSync());
    CHECK(cut_off.replicator->stats().cold_starts == cold_starts);
  }
}

TEST_CASE("sync mode: what is in flight when a member leaves is abandoned, even when it comes back later") {
  Cluster cluster;
  cluster.startThree();
  auto& active = *cluster.nodes[0];
  const auto number = active.createSession(1, cluster.nowSeconds() + 300);
  // Node 3 leaves before the message is delivered; Corosync still delivers it to those that
  // stayed together, but node 3 may never have received it.
  auto queued = cluster.group.queue;
  cluster.group.leave(cluster.nodes[2]->member);
  cluster.group.queue = queued;
  cluster.group.deliver();
  CHECK(active.store.abandoned_through == number);
  CHECK(active.store.confirmations.outcome(number) == failover::tls::SessionConfirmations::Outcome::Unconfirmed);
  // The next one, sent in the new configuration, is confirmed.
  const auto next = active.createSession(2, cluster.nowSeconds() + 300);
  cluster.group.deliver();
  CHECK(active.store.confirmations.outcome(next) == failover::tls::SessionConfirmations::Outcome::Confirmed);
}

TEST_CASE("sync mode: a session that comes back in a group without quorum is not confirmed") {
  Cluster cluster;
  cluster.startThree();
  auto& active = *cluster.nodes[0];
  active.replicator->onQuorum(false);
  CHECK(active.replicator->sessionCreated(MapSessionStore::record(1, cluster.nowSeconds() + 300)) == 0);
  active.replicator->onQuorum(true);
  const auto number = active.createSession(2, cluster.nowSeconds() + 300);
  CHECK(number > 0);
  active.replicator->onQuorum(false); // lost before it came back
  cluster.group.deliver();
  CHECK(active.store.confirmations.outcome(number) == failover::tls::SessionConfirmations::Outcome::Unconfirmed);
  CHECK(active.store.confirmed_through < number);
}

TEST_CASE("a sync source that lost Corosync and came back sends a snapshot again to a member that needs one") {
  Cluster cluster;
  auto& late = cluster.startWithLateJoiner();
  auto& active = *cluster.nodes[0];
  cluster.group.deliverQueued(); // the active answers with a snapshot...
  cluster.group.queue.clear();   // ...lost as the active loses Corosync
  cluster.group.leave(active.member);
  cluster.group.leave(late.member); // the member goes too, and the other two stop
  cluster.group.leave(cluster.nodes[1]->member);
  cluster.group.leave(cluster.nodes[2]->member);
  // The active's Corosync is back first: alone and quorate, it starts the cluster again.
  active.role = WireRole::Standby;
  active.replicator->onQuorum(true);
  cluster.group.join(active.member);
  cluster.group.deliver();
  cluster.clock.advance(1000);
  active.replicator->announce();
  cluster.group.deliver();
  REQUIRE(active.replicator->inSync());
  active.role = WireRole::Active;
  cluster.rejoin(late);
  cluster.group.deliver();
  cluster.tick();
  CHECK(late.replicator->inSync());
  CHECK(late.store.entries() == 1);
}

TEST_CASE("a member that fell out of sync while this node was not the source gets a snapshot once it is") {
  Cluster cluster;
  auto& late = cluster.startWithLateJoiner();
  cluster.group.deliver();
  cluster.tick();
  REQUIRE(late.replicator->inSync()); // the active sent it a snapshot
  auto& active = *cluster.nodes[0];
  cluster.group.leave(cluster.nodes[1]->member);
  cluster.group.leave(cluster.nodes[2]->member);
  // Both lose quorum (out of sync: nobody is the source) and get it back, the active first.
  active.replicator->onQuorum(false);
  late.replicator->onQuorum(false);
  cluster.group.deliver();
  active.replicator->onQuorum(true);
  cluster.clock.advance(500);
  late.replicator->onQuorum(true);
  cluster.clock.advance(500);
  cluster.tick(0); // the active's view has settled: it starts the cluster again, and is the source
  REQUIRE(active.replicator->inSync());
  cluster.tick();
  CHECK(late.replicator->inSync());
  CHECK(late.replicator->stats().cold_starts == 0);
  CHECK(late.store.entries() == 1);
}

TEST_CASE("without quorum a node takes no snapshot: it would carry a minority's state") {
  Cluster cluster;
  auto& late = cluster.startWithLateJoiner();
  late.replicator->onQuorum(false); // its State is on its way; it loses quorum meanwhile
  cluster.group.deliver();          // the active answers with a snapshot
  CHECK(cluster.nodes[0]->replicator->stats().snapshots_sent > 0);
  CHECK_FALSE(late.replicator->inSync());
}

TEST_CASE("a snapshot refused because it came before the member knew it was quorate is sent again") {
  Cluster cluster;
  cluster.startThree();
  cluster.nodes[0]->createSession(1, cluster.nowSeconds() + 300);
  cluster.group.deliver();
  auto& late = cluster.add(4);
  cluster.group.join(late.member); // its State goes out at once; its quorum notice comes later
  cluster.group.deliver();         // the snapshot arrives first, and is refused
  late.replicator->onQuorum(true);
  CHECK_FALSE(late.replicator->inSync());
  cluster.tick(9000);
  CHECK_FALSE(late.replicator->inSync()); // not resent at once: one may still be on its way
  cluster.tick(1000);
  cluster.tick(0);
  CHECK(late.replicator->inSync());
  CHECK(late.store.entries() == 1);
}

TEST_CASE("sync mode: a node alone in a quorate group confirms nothing (Corosync's two_node keeps a lone node quorate)") {
  Cluster cluster;
  auto& alone = cluster.add(1);
  cluster.joinQuorate(alone);
  cluster.tick(1500);
  REQUIRE(alone.replicator->inSync());
  alone.role = WireRole::Active;
  // Nobody else would hold it: no number, so the handshake is not held for a promise.
  CHECK(alone.createSession(7, cluster.nowSeconds() + 300) == 0);
  cluster.group.deliver();
  CHECK(alone.store.confirmed_through == 0);
  // A second member announces itself: from then on sessions are numbered and confirmed.
  auto& other = cluster.add(2, 200);
  cluster.rejoin(other);
  other.replicator->announce();
  cluster.group.deliver();
  const auto number = alone.createSession(8, cluster.nowSeconds() + 300);
  REQUIRE(number > 0);
  cluster.group.deliver();
  CHECK(alone.store.confirmed_through == number);
  CHECK(other.store.has(8));
  // It leaves: numbers stop again.
  cluster.group.leave(other.member);
  CHECK(alone.createSession(9, cluster.nowSeconds() + 300) == 0);
}

TEST_CASE("an in-sync member takes a keyring only from the active: a sync source's snapshot keyring is not the cluster's") {
  Cluster cluster;
  cluster.startThree();
  auto& active = *cluster.nodes[0];
  auto& standby = *cluster.nodes[1];
  auto& other = *cluster.nodes[2];
  active.store.keyring = {1, 1, 1};
  active.replicator->publishKeyring();
  cluster.group.deliver();
  REQUIRE(standby.store.keyring == active.store.keyring);
  other.store.keyring = {9, 9, 9};
  other.replicator->publishKeyring(); // as inside a snapshot for some member out of sync
  cluster.group.deliver();
  CHECK(standby.store.keyring == std::vector<std::uint8_t>{1, 1, 1});
  CHECK(active.store.keyring == std::vector<std::uint8_t>{1, 1, 1});
}

TEST_CASE("a member that joins already active, with no active in view, makes an in-sync standby resync") {
  Cluster cluster;
  auto& standby = cluster.add(2);
  cluster.joinQuorate(standby);
  cluster.tick(1500);
  REQUIRE(standby.replicator->inSync());
  // The other half of a healed two-node partition, which served meanwhile.
  auto& active = cluster.add(1, 200);
  active.role = WireRole::Active;
  cluster.rejoin(active);
  active.replicator->announce();
  cluster.group.deliver();
  CHECK_FALSE(standby.replicator->inSync());
}

TEST_CASE("a member that joins as a standby, or as active while an active is in view, leaves an in-sync node in sync") {
  Cluster cluster;
  cluster.startThree();
  auto& standby = *cluster.nodes[1];
  REQUIRE(standby.replicator->inSync());
  auto& late = cluster.add(4, 400);
  cluster.rejoin(late);
  late.replicator->announce();
  cluster.group.deliver();
  CHECK(standby.replicator->inSync());
  auto& other_active = cluster.add(5, 500); // a healed partition's second active: the roles sort it out
  other_active.role = WireRole::Active;
  cluster.rejoin(other_active);
  other_active.replicator->announce();
  cluster.group.deliver();
  CHECK(standby.replicator->inSync());
}

TEST_CASE("mixed versions: the group writes the highest version every member speaks, and moves up when the last "
          "older member leaves") {
  Cluster cluster;
  const WireVersions next{MESSAGE_VERSION, static_cast<std::uint8_t>(MESSAGE_VERSION + 1)};
  auto& upgraded = cluster.add(1, 100, true, next);
  auto& older = cluster.add(2);
  for (auto& node : cluster.nodes) {
    cluster.group.join(node->member);
  }
  cluster.group.setQuorate(true);
  cluster.group.deliver();
  upgraded.role = WireRole::Active;
  cluster.tick();
  CHECK(upgraded.replicator->groupVersion() == MESSAGE_VERSION);
  CHECK(older.replicator->groupVersion() == MESSAGE_VERSION);
  upgraded.createSession(1, cluster.nowSeconds() + 300);
  cluster.group.deliver();
  CHECK(older.store.entries() == 1); // read: written in the version both speak
  CHECK(older.rejected(RejectReason::Version) == 0);
  // The older node is upgraded: it leaves, and the group moves up to the newer version.
  cluster.group.leave(older.member);
  cluster.group.deliver();
  CHECK(upgraded.replicator->groupVersion() == MESSAGE_VERSION + 1);
  auto& second = cluster.add(3, 100, true, next);
  cluster.joinQuorate(second);
  cluster.tick();
  CHECK(second.replicator->inSync());
  CHECK(second.store.entries() == 1);
  CHECK(upgraded.replicator->groupVersion() == MESSAGE_VERSION + 1);
  upgraded.createSession(2, cluster.nowSeconds() + 300);
  cluster.group.deliver();
  CHECK(second.store.entries() == 2);
  CHECK(second.rejected(RejectReason::Version) == 0);
}

TEST_CASE("mixed versions: a member with no version in common is refused both ways, and never gets in sync") {
  Cluster cluster;
  cluster.startThree();
  cluster.nodes[0]->createSession(1, cluster.nowSeconds() + 300);
  cluster.group.deliver();
  const auto too_new = static_cast<std::uint8_t>(MESSAGE_VERSION + 1);
  auto& newer = cluster.add(4, 100, true, WireVersions{too_new, too_new});
  cluster.joinQuorate(newer);
  cluster.tick();
  cluster.tick();
  CHECK_FALSE(newer.replicator->inSync());
  CHECK(newer.store.entries() == 0);
  CHECK(newer.rejected(RejectReason::Version) > 0);
  CHECK(cluster.nodes[0]->rejected(RejectReason::Version) > 0);
  // The others go on writing the version they share.
  CHECK(cluster.nodes[0]->replicator->groupVersion() == MESSAGE_VERSION);
  CHECK(cluster.nodes[1]->store.entries() == 1);
}
