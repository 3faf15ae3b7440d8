// netctl against the real kernel, in a private network namespace that the test command
// creates (unshare --net): rtnetlink requests, the monitor, and lost-event recovery.
#include "netctl/rtnl.h"
#include "netctl/sys/event_loop.h"
#include "netctl/sys/process.h"
#include "netctl/vip_owner.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

using namespace failover;
using namespace failover::netctl;
using namespace std::chrono_literals;

namespace {

void sh(const std::vector<std::string>& argv) {
  const auto result = sys::runCommand(argv, 10s);
  REQUIRE(result);
  INFO(result->output);
  REQUIRE(result->exit_code == 0);
}

// A veth pair, both ends up (so the link has carrier), in this test's own namespace; the
// kernel here has no dummy interfaces.
struct Dummy {
  std::string name;
  explicit Dummy(std::string n) : name(std::move(n)) {
    sh({"ip", "link", "add", name, "address", "02:18:01:00:00:77", "type", "veth", "peer",
        "name", name + "p"});
    sh({"ip", "link", "set", name + "p", "up"});
    sh({"ip", "link", "set", name, "up"});
  }
  ~Dummy() { (void)sys::runCommand({"ip", "link", "del", name}, 10s); }
};

bool has(const std::vector<IpPrefix>& list, const IpPrefix& prefix) {
  return std::find(list.begin(), list.end(), prefix) != list.end();
}

} // namespace

TEST_CASE("route socket: link facts, idempotent add and remove, link up and down") {
  Dummy dummy("fodummy0");
  auto route = RouteSocket::open();
  REQUIRE(route);
  const auto link = route->link(dummy.name);
  REQUIRE(link);
  CHECK(toString(link->mac) == "02:18:01:00:00:77");
  CHECK(link->admin_up);
  CHECK(route->link(link->index)->name == dummy.name);

  const auto vip = parseIpPrefix("198.18.1.10/24").value();
  const auto vip6 = parseIpPrefix("fd00:198:18::10/64").value();
  REQUIRE(route->addAddress(link->index, vip));
  REQUIRE(route->addAddress(link->index, vip)); // "already there" is success
  REQUIRE(route->addAddress(link->index, vip6));
  auto present = route->addresses(link->index);
  REQUIRE(present);
  CHECK(has(*present, vip));
  CHECK(has(*present, vip6));
  // No duplicate address detection: the IPv6 VIP is usable at once, not "tentative".
  const auto shown = sys::runCommand({"ip", "-6", "addr", "show", "to", "fd00:198:18::10"}, 10s);
  CHECK(shown->output.find("nodad") != std::string::npos);
  CHECK(shown->output.find("tentative") == std::string::npos);

  REQUIRE(route->removeAddress(link->index, vip));
  REQUIRE(route->removeAddress(link->index, vip)); // "not there" is success
  CHECK_FALSE(has(route->addresses(link->index).value(), vip));

  REQUIRE(route->setLinkUp(link->index, false));
  CHECK_FALSE(route->link(link->index)->admin_up);
  REQUIRE(route->setLinkUp(link->index, true));
  CHECK(route->link(link->index)->admin_up);

  const auto missing = route->link(std::string("nosuch0"));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("does not exist") != std::string::npos);
}

TEST_CASE("the monitor reports address and link changes") {
  Dummy dummy("fodummy1");
  auto route = RouteSocket::open();
  auto monitor = NetlinkMonitor::open();
  REQUIRE(route);
  REQUIRE(monitor);
  const auto index = route->link(dummy.name)->index;
  const auto vip = parseIpPrefix("198.18.1.20/24").value();
  REQUIRE(route->addAddress(index, vip));
  REQUIRE(route->removeAddress(index, vip));
  REQUIRE(route->setLinkUp(index, false));
  auto events = monitor->read();
  REQUIRE(events);
  const auto seen = [&](NetEvent::Kind kind) {
    return std::any_of(events->begin(), events->end(), [&](const NetEvent& e) {
      return e.kind == kind && e.index == index &&
             (kind == NetEvent::Kind::LinkChanged ? !e.admin_up : e.prefix == vip);
    });
  };
  CHECK(seen(NetEvent::Kind::AddressAdded));
  CHECK(seen(NetEvent::Kind::AddressRemoved));
  CHECK(seen(NetEvent::Kind::LinkChanged));
}

TEST_CASE("events lost to a full buffer (ENOBUFS) are reported as a resync, not ignored") {
  Dummy dummy("fodummy2");
  auto route = RouteSocket::open();
  auto monitor = NetlinkMonitor::open(4096);
  REQUIRE(route);
  REQUIRE(monitor);
  const auto index = route->link(dummy.name)->index;
  // Far more notifications than a 4 KiB buffer (which the kernel doubles) can hold.
  for (int i = 1; i <= 200; ++i) {
    const auto prefix = parseIpPrefix("198.18.3." + std::to_string(i) + "/32").value();
    REQUIRE(route->addAddress(index, prefix));
  }
  auto events = monitor->read();
  REQUIRE(events);
  CHECK(std::any_of(events->begin(), events->end(),
                    [](const NetEvent& e) { return e.kind == NetEvent::Kind::Resync; }));
}

TEST_CASE("an active owner re-reads the kernel after lost events and sees its VIP gone") {
  Dummy dummy("fodummy3");
  auto loop = sys::EventLoop::create();
  REQUIRE(loop);
  VipPlan plan;
  plan.interface = dummy.name;
  plan.vips = {parseIpPrefix("198.18.1.10/24").value()};
  plan.announce.count = 1;
  plan.announce.repeat_after = 0ms;
  plan.monitor_buffer_bytes = 4096;
  plan.state_file = std::filesystem::temp_directory_path() / "failoverd-kernel-test.state";
  std::string lost;
  bool taken = false;
  auto owner = VipOwner::create(plan, *loop, {[&] { taken = true; },
                                              [&](const std::string& why) { lost = why; }, {}});
  REQUIRE(owner);
  REQUIRE((*owner)->promote());
  for (int i = 0; i < 10 && !taken; ++i) {
    REQUIRE(loop->runOnce(100ms));
  }
  REQUIRE(taken);
  CHECK((*owner)->state() == VipOwner::State::Active);

  // Behind the owner's back: flood the monitor so it overflows, and remove the VIP within
  // the flood, so that the removal event itself is among those lost.
  auto route = RouteSocket::open();
  const auto index = route->link(dummy.name)->index;
  for (int i = 1; i <= 100; ++i) {
    REQUIRE(route->addAddress(index, parseIpPrefix("198.18.4." + std::to_string(i) + "/32").value()));
  }
  REQUIRE(route->removeAddress(index, plan.vips.front()));
  for (int i = 1; i <= 100; ++i) {
    REQUIRE(route->addAddress(index, parseIpPrefix("198.18.5." + std::to_string(i) + "/32").value()));
  }
  for (int i = 0; i < 10 && lost.empty(); ++i) {
    REQUIRE(loop->runOnce(100ms));
  }
  CHECK(lost.find("198.18.1.10/24") != std::string::npos);
  CHECK((*owner)->state() == VipOwner::State::Standby);
  REQUIRE((*owner)->shutdown());
}
