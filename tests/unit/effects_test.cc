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
  std::vector<std::string> calls;
};

Decision withEffects(std::vector<Effect> effects) {
  Decision decision;
  decision.effects = std::move(effects);
  return decision;
}

std::string nameOf(std::uint32_t node) { return "n" + std::to_string(node); }

} // namespace

TEST_CASE("effects reach the VIP and the cluster in the decision's order") {
  setLogLevel(LogLevel::Error);
  fakes::FakeVip vip;
  RecordingCluster cluster;
  const auto outcome = carryOutEffects(
      withEffects({effect::HoldNewConnections{}, effect::CloseConnections{}, effect::StopAnswering{2},
                   effect::SendHandover{{HandoverStep::Phase::Released, 1, 2, {}}},
                   effect::ForwardHeld{{2, 0, 0, 0, 0, 7}}, effect::ReleaseVip{}}),
      vip, cluster, nameOf);
  CHECK(vip.calls == std::vector<std::string>{"hold", "quiesce", "forward 7", "demote"});
  CHECK(cluster.calls == std::vector<std::string>{"close", "handover 2 to 2"});
  CHECK_FALSE(outcome.exit);
  CHECK_FALSE(outcome.takeover_failed);
}

TEST_CASE("a takeover that cannot start stops the sequence and says why") {
  setLogLevel(LogLevel::Error);
  fakes::FakeVip vip;
  vip.failing = "promote";
  RecordingCluster cluster;
  const auto outcome =
      carryOutEffects(withEffects({effect::TakeVip{Millis{50}}, effect::PublishKeyring{}}), vip, cluster, nameOf);
  CHECK(vip.calls == std::vector<std::string>{"promote 50"});
  CHECK(cluster.calls.empty()); // no keyring published for a takeover that did not happen
  REQUIRE(outcome.takeover_failed);
  CHECK(outcome.takeover_failed->find("promote failed") != std::string::npos);
}

TEST_CASE("a release that fails is logged and the rest still runs; exit comes back to the caller") {
  setLogLevel(LogLevel::Error);
  fakes::FakeVip vip;
  vip.failing = "demote";
  RecordingCluster cluster;
  const auto outcome =
      carryOutEffects(withEffects({effect::ReleaseVip{}, effect::Resync{}, effect::Exit{}}), vip, cluster, nameOf);
  CHECK(vip.calls == std::vector<std::string>{"demote"});
  CHECK(cluster.calls == std::vector<std::string>{"resync"});
  CHECK(outcome.exit);
}
