// The control commands, answered against a fake target: what each request asks of the node
// and what the operator reads back.
#include "daemon/control/dispatch.h"

#include <doctest/doctest.h>

using namespace failover;
using namespace failover::daemon;

namespace {

struct FakeTarget final : ControlTarget {
  Decision handle(const Event& event) override {
    events.push_back(event);
    Decision decision = next;
    decision.from = decision.to = current;
    return decision;
  }
  Role role() const override { return current; }
  std::string nameOf(std::uint32_t node) const override { return node == 2 ? "beta" : "node"; }
  std::optional<std::uint32_t> nodeNamed(const std::string& name) const override {
    return name == "beta" ? std::optional<std::uint32_t>(2) : std::nullopt;
  }
  nlohmann::json status() const override { return {{"role", "active"}}; }
  sys::Result<std::size_t> rotateKeys() override {
    ++rotations;
    return 3;
  }
  std::expected<std::vector<std::string>, std::string> reload() override {
    if (reload_error) {
      return std::unexpected(*reload_error);
    }
    return std::vector<std::string>{"log-level"};
  }

  Role current = Role::Active;
  Decision next;
  std::vector<Event> events;
  int rotations = 0;
  std::optional<std::string> reload_error;
};

nlohmann::json ask(FakeTarget& target, const std::string& line) {
  const auto answer = answerControl(line, target);
  REQUIRE(!answer.empty());
  CHECK(answer.back() == '\n');
  return nlohmann::json::parse(answer);
}

} // namespace

TEST_CASE("switchover names its target by node name, and an unknown name is an error") {
  FakeTarget target;
  target.next.target = 2;
  auto answer = ask(target, "1 switchover beta");
  CHECK(answer["ok"] == true);
  CHECK(answer["target"] == "beta");
  REQUIRE(target.events.size() == 1);
  const auto* switchover = std::get_if<event::Switchover>(&target.events[0]);
  REQUIRE(switchover != nullptr);
  CHECK(switchover->target == std::optional<std::uint32_t>(2));

  answer = ask(target, "1 switchover gamma");
  CHECK(answer["ok"] == false);
  CHECK(answer["error"] == "no member named 'gamma'");
  CHECK(target.events.size() == 1); // nothing decided

  ask(target, "1 switchover");
  REQUIRE(target.events.size() == 2);
  CHECK_FALSE(std::get<event::Switchover>(target.events[1]).target);
}

TEST_CASE("a command the decision core refuses is an error carrying its reason") {
  FakeTarget target;
  target.next.refused = "another node is active";
  const auto answer = ask(target, "1 promote");
  CHECK(answer["ok"] == false);
  CHECK(answer["error"] == "another node is active");
  CHECK(std::holds_alternative<event::Promote>(target.events.at(0)));
}

TEST_CASE("maintenance on, with and without --force, and off") {
  FakeTarget target;
  ask(target, "1 maintenance on --force");
  ask(target, "1 maintenance on");
  ask(target, "1 maintenance off");
  REQUIRE(target.events.size() == 3);
  CHECK(std::get<event::MaintenanceOn>(target.events[0]).force);
  CHECK_FALSE(std::get<event::MaintenanceOn>(target.events[1]).force);
  CHECK(std::holds_alternative<event::MaintenanceOff>(target.events[2]));
  const auto answer = ask(target, "1 maintenance sideways");
  CHECK(answer["ok"] == false);
  CHECK(target.events.size() == 3);
}

TEST_CASE("rotate-keys only on the active; reload answers what it applied or why not") {
  FakeTarget target;
  target.current = Role::Standby;
  auto answer = ask(target, "1 rotate-keys");
  CHECK(answer["ok"] == false);
  CHECK(target.rotations == 0);
  target.current = Role::Active;
  answer = ask(target, "1 rotate-keys");
  CHECK(answer["ticket_keys"] == 3);
  CHECK(target.rotations == 1);

  answer = ask(target, "1 reload");
  CHECK(answer["changed"] == nlohmann::json::array({"log-level"}));
  target.reload_error = "preempt cannot change while running";
  answer = ask(target, "1 reload");
  CHECK(answer["ok"] == false);
  CHECK(answer["error"] == "preempt cannot change while running");
}

TEST_CASE("bad requests: a malformed line, an unknown command, a wrong version") {
  FakeTarget target;
  auto answer = ask(target, "1 dance");
  CHECK(answer["ok"] == false);
  CHECK(answer["error"].get<std::string>().find("unknown command 'dance'") != std::string::npos);
  CHECK(answer["error"].get<std::string>().find("switchover") != std::string::npos); // names the commands
  answer = ask(target, "9 status");
  CHECK(answer["ok"] == false);
  answer = ask(target, "");
  CHECK(answer["ok"] == false);
  CHECK(target.events.empty());
  answer = ask(target, "1 status");
  CHECK(answer["ok"] == true);
  CHECK(answer["role"] == "active");
}

TEST_CASE("the control socket: root always, the configured group's members too, others never") {
  const ucred root{1, 0, 0};
  const ucred member{1, 1000, 50};
  const ucred supplementary{1, 1000, 1000};
  CHECK(mayControl(root, {}, std::nullopt));
  CHECK(mayControl(member, {}, 50));
  CHECK(mayControl(supplementary, {7, 50}, 50));
  CHECK_FALSE(mayControl(supplementary, {7}, 50));
  CHECK_FALSE(mayControl(member, {50}, std::nullopt));
}
