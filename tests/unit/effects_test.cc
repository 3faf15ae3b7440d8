// The decision's effects as the agent carries them out, on a fake VIP and a recording cluster.
#include "daemon/effects.h"
#include "daemon/log.h"
#include "tests/fakes/fake_vip.h"

#include <doctest/doctest.h>

using namespace failover;
using namespace failover::daemon;

namespace {

struct RecordingCluster final : ClusterEffects {
  void resync() override { calls.push_back("resync"); }
  void publishKeyring() override { calls.push_back("keyring"); }
  void sendHandover(const HandoverStep& step) override {
    calls.push_back("handover " + std::to_string(static_cast<int>(step.phase)) + " to " + std::to_string(step.to));
  }
  void closeConnections() override { calls.push_back("close"); }
  void contendLease() override { calls.push_back("contend"); }
  void releaseLease() override { calls.push_back("release lease"); }
  void leaseSuccessor(std::uint32_t node) override { calls.push_back("successor " + std::to_string(node)); }
  std::vector<std::string> calls;
};

// A fake VIP (that may be told to fail) and a recording cluster, as the agent's are.
struct Targets {
  explicit Targets(std::string failing = {}) {
    setLogLevel(LogLevel::Error);
    vip.failing = std::move(failing);
  }
  EffectsOutcome run(std::vector<Effect> effects) {
    Decision decision;
    decision.effects = std::move(effects);
    return carryOutEffects(decision, vip, cluster, [](std::uint32_t node) { return "n" + std::to_string(node); });
  }
  fakes::FakeVip vip;
  RecordingCluster cluster;
};

} // namespace

TEST_CASE("effects reach the VIP and the cluster in the decision's order") {
  Targets targets;
  const auto outcome = targets.run({effect::HoldNewConnections{}, effect::CloseConnections{}, effect::StopAnswering{2},
                                    effect::SendHandover{{HandoverStep::Phase::Released, 1, 2, {}}},
                                    effect::ForwardHeld{{2, 0, 0, 0, 0, 7}}, effect::ReleaseVip{}});
  CHECK(targets.vip.calls == std::vector<std::string>{"hold", "quiesce", "forward 7", "demote"});
  CHECK(targets.cluster.calls == std::vector<std::string>{"close", "successor 2", "handover 2 to 2"});
  CHECK_FALSE(outcome.exit);
  CHECK_FALSE(outcome.takeover_failed);
}

TEST_CASE("the lease's effects: asked for, given back after the VIP, and the successor withdrawn when answering again") {
  Targets targets;
  targets.run({effect::ContendLease{}});
  targets.run({effect::AnswerAgain{}});
  targets.run({effect::ReleaseVip{}, effect::ReleaseLease{}});
  CHECK(targets.cluster.calls == std::vector<std::string>{"contend", "successor 0", "release lease"});
  CHECK(targets.vip.calls == std::vector<std::string>{"resume", "demote"});
}

TEST_CASE("a takeover that cannot start stops the sequence and says why") {
  Targets targets("promote");
  const auto outcome = targets.run({effect::TakeVip{Millis{50}}, effect::PublishKeyring{}});
  CHECK(targets.vip.calls == std::vector<std::string>{"promote 50"});
  CHECK(targets.cluster.calls.empty()); // no keyring published for a takeover that did not happen
  REQUIRE(outcome.takeover_failed);
  CHECK(outcome.takeover_failed->find("promote failed") != std::string::npos);
}

TEST_CASE("a release that fails is logged and the rest still runs; exit comes back to the caller") {
  Targets targets("demote");
  const auto outcome = targets.run({effect::ReleaseVip{}, effect::Resync{}, effect::Exit{}});
  CHECK(targets.vip.calls == std::vector<std::string>{"demote"});
  CHECK(targets.cluster.calls == std::vector<std::string>{"resync"});
  CHECK(outcome.exit);
}
