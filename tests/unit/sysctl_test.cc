#include "netctl/sysctl.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>

using namespace failover::netctl;

namespace {
// A fake /proc/sys: plain files under a temporary directory.
struct FakeProcSys {
  std::filesystem::path root;
  std::filesystem::path state;
  FakeProcSys() {
    std::string pattern = (std::filesystem::temp_directory_path() / "failoverd-sysctl-XXXXXX").string();
    root = ::mkdtemp(pattern.data());
    std::filesystem::create_directories(root / "net/ipv4/conf/svc0");
    write("net/ipv4/conf/svc0/arp_ignore", "0");
    write("net/ipv4/conf/svc0/arp_announce", "1");
    state = root / "netctl.state";
  }
  ~FakeProcSys() { std::filesystem::remove_all(root); }
  void write(const std::string& key, const std::string& text) { std::ofstream(root / key) << text << '\n'; }
  int read(const std::string& key) { return Sysctl(root).get(key).value(); }
};
const std::string IGNORE = interfaceSysctl("svc0", "arp_ignore");
const std::string ANNOUNCE = interfaceSysctl("svc0", "arp_announce");
} // namespace

TEST_CASE("the keeper sets values and restores the originals") {
  FakeProcSys proc;
  SysctlKeeper keeper(Sysctl(proc.root), proc.state);
  REQUIRE(keeper.set(IGNORE, 8));
  REQUIRE(keeper.set(ANNOUNCE, 2));
  REQUIRE(keeper.set(IGNORE, 0)); // a second change must not overwrite the recorded original
  REQUIRE(keeper.set(IGNORE, 8));
  CHECK(proc.read(IGNORE) == 8);
  CHECK(proc.read(ANNOUNCE) == 2);
  CHECK(std::filesystem::exists(proc.state));
  REQUIRE(keeper.restoreAll());
  CHECK(proc.read(IGNORE) == 0);
  CHECK(proc.read(ANNOUNCE) == 1);
  CHECK_FALSE(std::filesystem::exists(proc.state));
  CHECK_FALSE(keeper.changed());
}

TEST_CASE("a start after a crash restores what the crashed run changed") {
  FakeProcSys proc;
  {
    SysctlKeeper crashed(Sysctl(proc.root), proc.state);
    REQUIRE(crashed.set(IGNORE, 8));
    REQUIRE(crashed.set(ANNOUNCE, 2));
    // No restoreAll(): the process "died" here, leaving the state file behind.
  }
  CHECK(proc.read(IGNORE) == 8);
  SysctlKeeper next(Sysctl(proc.root), proc.state);
  const auto restored = next.reconcile();
  REQUIRE(restored);
  CHECK(restored->size() == 2);
  CHECK(proc.read(IGNORE) == 0);
  CHECK(proc.read(ANNOUNCE) == 1);
  CHECK_FALSE(std::filesystem::exists(proc.state));
  // Nothing left to do the second time.
  CHECK(next.reconcile().value().empty());
}

TEST_CASE("sysctl errors name the path") {
  FakeProcSys proc;
  const auto missing = Sysctl(proc.root).get(interfaceSysctl("nosuch0", "arp_ignore"));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("nosuch0/arp_ignore") != std::string::npos);
  proc.write(IGNORE, "garbage");
  CHECK(Sysctl(proc.root).get(IGNORE).error().message.find("'garbage' is not a number") !=
        std::string::npos);
}
