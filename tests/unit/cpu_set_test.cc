#include "sys/cpu_set.h"

#include <doctest/doctest.h>

#include <optional>
#include <thread>

using failover::sys::CpuSet;

TEST_CASE("CPU lists: the kernel's syntax both ways, each bad item named") {
  const auto set = CpuSet::parse("0,2-4,7");
  REQUIRE(set);
  CHECK(set->count() == 5);
  CHECK(set->contains(0));
  CHECK_FALSE(set->contains(1));
  CHECK(set->contains(3));
  CHECK(set->contains(7));
  CHECK(set->toString() == "0,2-4,7");
  CHECK(CpuSet::parse("3,1,2")->toString() == "1-3");
  CHECK(CpuSet::parse("5-5")->toString() == "5");
  CHECK(CpuSet::parse("1023")->contains(1023));
  for (const auto* bad : {"", "a", "1,", ",1", "3-1", "1-", "-1", "1024", "0x1", " 1", "1;2"}) {
    CAPTURE(bad);
    const auto parsed = CpuSet::parse(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().message.find("is not a CPU number or range") != std::string::npos);
  }
  CHECK(CpuSet::parse("0,3-1").error().message.starts_with("'3-1'"));
  CHECK(CpuSet::parse("0-1")->without(*CpuSet::parse("1,5")).toString() == "0");
}

TEST_CASE("a thread pinned to a CPU runs there, and a CPU the kernel cannot give is refused by number") {
  const auto all = CpuSet::ofThisThread();
  REQUIRE(all);
  REQUIRE_FALSE(all->empty());
  const auto online = CpuSet::online();
  REQUIRE(online);
  CHECK(all->without(*online).empty());
  // On a thread of its own: pinning the test runner's would confine every later test.
  std::string first_cpu = all->toString().substr(0, all->toString().find_first_of(",-"));
  std::optional<CpuSet> pinned_to;
  failover::sys::Status refused;
  std::thread([&] {
    auto one = CpuSet::parse(first_cpu);
    if (one && one->pinThisThread()) {
      pinned_to = CpuSet::ofThisThread().value_or(CpuSet{});
    }
    refused = CpuSet::parse(first_cpu + ",1023")->pinThisThread();
  }).join();
  REQUIRE(pinned_to);
  CHECK(pinned_to->toString() == first_cpu);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("CPUs 1023 are not available to this process") != std::string::npos);
}
