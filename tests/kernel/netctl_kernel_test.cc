// netctl against the real kernel, in a private network namespace that the test command
// creates (unshare --net --mount): rtnetlink requests, the monitor, lost-event recovery, the
// VIP guard (eBPF) and address lifetimes.
#include "netctl/announcer.h"
#include "netctl/arp_probe.h"
#include "netctl/rtnl.h"
#include "sys/event_loop.h"
#include "sys/process.h"
#include "netctl/vip_guard.h"
#include "netctl/vip_owner.h"

#include <bpf/bpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>

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
                                              [&](const std::string& why) { lost = why; }, {}, {}, {}});
  REQUIRE(owner);
  REQUIRE((*owner)->promote({}));
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

namespace {

// A bpf file system of the test's own (the test runs in a private mount namespace), removed
// with it.
struct BpfFs {
  std::filesystem::path dir;
  BpfFs() {
    char pattern[] = "/tmp/failoverd-bpffs-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    dir = pattern;
    sh({"mount", "-t", "bpf", "bpf", dir.string()});
  }
  ~BpfFs() {
    (void)sys::runCommand({"umount", dir.string()}, 10s);
    std::error_code ec;
    std::filesystem::remove(dir, ec);
  }
};

// Asks from `from` who has `vip` (an RFC 5227 probe) and waits up to `wait` for a reply;
// returns the MAC that answered, if any.
std::optional<MacAddress> whoHas(const LinkInfo& from, const IpAddress& vip, std::chrono::milliseconds wait) {
  auto probe = ArpProbe::send(from.index, from.mac, vip);
  REQUIRE(probe);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd readable{probe->fd(), POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (::poll(&readable, 1, static_cast<int>(std::max<std::int64_t>(1, left.count()))) > 0) {
      if (auto owner = probe->answer()) {
        return owner;
      }
    }
  }
  return std::nullopt;
}

// An IPv4 frame from the client's side to the node's MAC and `vip`, put on the wire by hand:
// both ends are in this namespace, so the kernel would route a socket's packet over loopback.
// protocol 17 gives a UDP-looking packet; 6 a TCP SYN to `port`. Checksums are not filled in:
// the guard acts before the kernel checks them.
std::vector<std::uint8_t> frameToVip(const LinkInfo& node, const LinkInfo& client, const IpAddress& vip,
                                     std::uint8_t protocol, std::uint16_t port = 0) {
  std::vector<std::uint8_t> frame(node.mac.bytes.begin(), node.mac.bytes.end());
  frame.insert(frame.end(), client.mac.bytes.begin(), client.mac.bytes.end());
  const std::uint8_t length = protocol == 6 ? 40 : 28;
  const std::uint8_t ipv4[] = {0x08, 0x00, 0x45, 0, 0, length, 0, 0, 0, 0, 64, protocol, 0, 0, 198, 18, 1, 99};
  frame.insert(frame.end(), std::begin(ipv4), std::end(ipv4));
  frame.insert(frame.end(), vip.bytes.begin(), vip.bytes.begin() + 4);
  if (protocol == 6) {
    const std::uint8_t tcp[] = {0xc3, 0x50, static_cast<std::uint8_t>(port >> 8), static_cast<std::uint8_t>(port & 0xff),
                                0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0};
    frame.insert(frame.end(), std::begin(tcp), std::end(tcp));
  }
  frame.resize(std::max<std::size_t>(frame.size(), 60));
  return frame;
}

// Sends `frame` from the client's side and waits (bounded) until `count()` grows; returns
// whether it did.
template <class Count> bool sentAndCounted(const LinkInfo& client, const std::vector<std::uint8_t>& frame, Count count) {
  const auto before = count();
  auto wire = Announcer::open();
  REQUIRE(wire);
  REQUIRE(wire->send(client.index, frame));
  const auto deadline = std::chrono::steady_clock::now() + 500ms;
  while (count() == before && std::chrono::steady_clock::now() < deadline) {
    pollfd idle{-1, 0, 0};
    (void)::poll(&idle, 0, 10);
  }
  return count() > before;
}

} // namespace

TEST_CASE("the VIP guard: the kernel answers for the VIP only while the gate is fresh, also after its owner is gone") {
  BpfFs bpffs;
  Dummy dummy("foguard0"); // the node's side; its peer foguard0p plays the client
  auto route = RouteSocket::open();
  REQUIRE(route);
  const auto node = route->link(dummy.name).value();
  const auto client = route->link(dummy.name + "p").value();
  const auto vip = parseIpPrefix("198.18.1.10/24").value();
  REQUIRE(route->addAddress(node.index, vip));
  const auto pins = bpffs.dir / "node" / dummy.name;
  constexpr auto REPLY_WAIT = 300ms;

  // No guard yet: the kernel answers.
  CHECK(whoHas(client, vip.address, REPLY_WAIT) == std::optional(node.mac));

  auto guard = VipGuard::attach(node.index, dummy.name, std::span(&vip, 1), pins);
  REQUIRE(guard);
  CHECK_FALSE((*guard)->tookOver());
  // Attached shut: silent, and the dropped request is counted.
  CHECK_FALSE(whoHas(client, vip.address, REPLY_WAIT).has_value());
  CHECK((*guard)->drops().value().arp_requests >= 1);

  REQUIRE((*guard)->openUntil(monotonicNow() + 10s));
  CHECK(whoHas(client, vip.address, REPLY_WAIT) == std::optional(node.mac));

  // Nobody refreshes: the kernel shuts the gate by itself when the moment passes.
  const auto until = monotonicNow() + 50ms;
  REQUIRE((*guard)->openUntil(until));
  while (monotonicNow() < until + 5ms) {
    pollfd none{-1, 0, 0};
    (void)::poll(&none, 0, 5);
  }
  CHECK_FALSE(whoHas(client, vip.address, REPLY_WAIT).has_value());
  const auto dropped = (*guard)->drops().value().arp_requests;
  CHECK(dropped >= 2);

  // The owner dies (its object goes without detach, as in kill -9): the guard stays.
  REQUIRE((*guard)->openUntil(monotonicNow() + 100ms));
  guard->reset();
  CHECK(std::filesystem::exists(pins / "vip_guard_gate"));
  pollfd none{-1, 0, 0};
  (void)::poll(&none, 0, 150);
  CHECK_FALSE(whoHas(client, vip.address, REPLY_WAIT).has_value());

  // A restarted owner takes the pinned maps over (the counters survive) and starts shut.
  auto again = VipGuard::attach(node.index, dummy.name, std::span(&vip, 1), pins);
  REQUIRE(again);
  CHECK((*again)->tookOver());
  CHECK((*again)->drops().value().arp_requests > dropped);
  CHECK((*again)->deadline().value().count() == 0);
  CHECK_FALSE(whoHas(client, vip.address, REPLY_WAIT).has_value());
  REQUIRE((*again)->openUntil(monotonicNow() + 10s));
  CHECK(whoHas(client, vip.address, REPLY_WAIT) == std::optional(node.mac));

  // Packets to the VIP are dropped too while shut (a client's SYN gets no RST). Both ends are
  // in this namespace, so the kernel would route to the VIP over loopback: the client's
  // packet is put on the wire by hand.
  const auto unserved = [&] { return (*again)->drops().value().unserved_syns; };
  // Gate open: a SYN for a port someone listens on passes; one for a port nobody serves (the
  // service's process is gone) is dropped rather than refused with a reset.
  sys::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(4433);
  REQUIRE(::bind(listener.get(), reinterpret_cast<const sockaddr*>(&any), sizeof any) == 0);
  REQUIRE(::listen(listener.get(), 8) == 0);
  CHECK_FALSE(sentAndCounted(client, frameToVip(node, client, vip.address, 6, 4433), unserved));
  CHECK(sentAndCounted(client, frameToVip(node, client, vip.address, 6, 4434), unserved));
  REQUIRE((*again)->shut());
  CHECK(sentAndCounted(client, frameToVip(node, client, vip.address, 17),
                       [&] { return (*again)->drops().value().packets_in; }));

  // A clean stop removes the filters and the pins: the kernel answers again.
  REQUIRE((*again)->detach());
  CHECK_FALSE(std::filesystem::exists(pins / "vip_guard_gate"));
  CHECK(whoHas(client, vip.address, REPLY_WAIT) == std::optional(node.mac));
}

TEST_CASE("the VIP guard replaces maps an incompatible version pinned") {
  BpfFs bpffs;
  Dummy dummy("foguard2");
  auto route = RouteSocket::open();
  const auto node = route->link(dummy.name).value();
  const auto vip = parseIpPrefix("198.18.1.10/24").value();
  const auto pins = bpffs.dir / dummy.name;
  std::filesystem::create_directories(pins);
  // A gate of another layout (a 4-byte value), as an older or newer version might pin.
  sys::UniqueFd other(bpf_map_create(BPF_MAP_TYPE_ARRAY, "vip_guard_gate", 4, 4, 1, nullptr));
  REQUIRE(other.get() >= 0);
  REQUIRE(bpf_obj_pin(other.get(), (pins / "vip_guard_gate").c_str()) == 0);
  auto guard = VipGuard::attach(node.index, dummy.name, std::span(&vip, 1), pins);
  REQUIRE(guard);
  CHECK((*guard)->tookOver());
  REQUIRE((*guard)->openUntil(monotonicNow() + 10s));
  CHECK((*guard)->deadline().value() > monotonicNow());
  REQUIRE((*guard)->detach());
}

TEST_CASE("the VIP guard refuses a pin directory that is not on a bpf file system, saying how to fix it") {
  Dummy dummy("foguard1");
  auto route = RouteSocket::open();
  const auto node = route->link(dummy.name).value();
  const auto vip = parseIpPrefix("198.18.1.10/24").value();
  auto guard = VipGuard::attach(node.index, dummy.name, std::span(&vip, 1),
                                std::filesystem::temp_directory_path() / "failoverd-not-bpffs");
  REQUIRE_FALSE(guard);
  CHECK(guard.error().message.find("not on a bpf file system") != std::string::npos);
  CHECK(guard.error().message.find("mount -t bpf") != std::string::npos);
}

TEST_CASE("VIPs added with a lifetime expire unless renewed") {
  Dummy dummy("folife0");
  auto route = RouteSocket::open();
  const auto index = route->link(dummy.name)->index;
  const auto vip = parseIpPrefix("198.18.1.30/24").value();
  REQUIRE(route->addAddress(index, vip, 3s));
  const auto shown = sys::runCommand({"ip", "-4", "addr", "show", "dev", dummy.name}, 10s);
  CHECK(shown->output.find("valid_lft 3sec") != std::string::npos);
  // Renewing an existing address restarts its count (replace, not "already there").
  REQUIRE(route->addAddress(index, vip, 60s));
  const auto renewed = sys::runCommand({"ip", "-4", "addr", "show", "dev", dummy.name}, 10s);
  CHECK(renewed->output.find("valid_lft 60sec") != std::string::npos);
  REQUIRE(route->addAddress(index, vip, 3s));
  // The kernel's expiry check runs about once a second: bounded wait for it.
  const auto deadline = std::chrono::steady_clock::now() + 8s;
  bool gone = false;
  while (!gone && std::chrono::steady_clock::now() < deadline) {
    auto monitor = route->addresses(index);
    REQUIRE(monitor);
    gone = !has(*monitor, vip);
    pollfd none{-1, 0, 0};
    (void)::poll(&none, 0, 100);
  }
  CHECK(gone);
}
