#include "netctl/address.h"

#include <doctest/doctest.h>

using namespace failover::netctl;

TEST_CASE("parseIpPrefix accepts IPv4 and IPv6 with a prefix length") {
  const auto v4 = parseIpPrefix("198.18.1.10/24");
  REQUIRE(v4);
  CHECK(v4->address.family == Family::V4);
  CHECK(v4->length == 24);
  CHECK(toString(*v4) == "198.18.1.10/24");
  CHECK(v4->address.bytes[0] == 198);
  CHECK(v4->address.bytes[3] == 10);

  const auto v6 = parseIpPrefix("fd00:198:18::10/64");
  REQUIRE(v6);
  CHECK(v6->address.family == Family::V6);
  CHECK(v6->length == 64);
  CHECK(toString(*v6) == "fd00:198:18::10/64");
}

TEST_CASE("parseIpPrefix rejects what is not an address with a prefix, saying why") {
  for (const char* bad : {"198.18.1.300/24", "198.18.1.10", "198.18.1.10/33", "198.18.1.10/",
                          "198.18.1.10/2x", "fd00::1/129", "", "/24", "eth0/24", "198.18.1.10/-1"}) {
    CAPTURE(bad);
    const auto parsed = parseIpPrefix(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == failover::sys::Errc::InvalidArgument);
    CHECK_FALSE(parsed.error().message.empty());
  }
  CHECK(parseIpPrefix("198.18.1.10").error().message.find("no prefix length") != std::string::npos);
}

TEST_CASE("interface names follow the kernel's rules") {
  CHECK(validateInterfaceName("eth0"));
  CHECK(validateInterfaceName("svc0.100"));
  CHECK_FALSE(validateInterfaceName(""));
  CHECK_FALSE(validateInterfaceName("a-name-too-long0"));
  CHECK_FALSE(validateInterfaceName("eth/0"));
  CHECK_FALSE(validateInterfaceName("eth 0"));
  CHECK(interfaceIndex("lo").value() == 1);
  const auto missing = interfaceIndex("nosuchif0");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == failover::sys::Errc::NotFound);
}
