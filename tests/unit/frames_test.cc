#include "netctl/frames.h"

#include <doctest/doctest.h>

#include <vector>

using namespace failover::netctl;

namespace {
const MacAddress N1_MAC{{0x02, 0x18, 0x01, 0x00, 0x00, 0x01}};
}

TEST_CASE("gratuitous ARP request, byte for byte") {
  const auto vip = parseIpAddress("198.18.1.10").value();
  const std::vector<std::uint8_t> expected{
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // Ethernet destination: broadcast
      0x02, 0x18, 0x01, 0x00, 0x00, 0x01,  // Ethernet source
      0x08, 0x06,                          // ARP
      0x00, 0x01, 0x08, 0x00, 0x06, 0x04,  // Ethernet / IPv4, lengths 6 and 4
      0x00, 0x01,                          // request
      0x02, 0x18, 0x01, 0x00, 0x00, 0x01,  // sender MAC
      198,  18,   1,    10,                // sender IP = VIP
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // target MAC: unknown
      198,  18,   1,    10,                // target IP = VIP
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // padding to 60 bytes
  CHECK(gratuitousArpFrame(N1_MAC, vip, ArpForm::Request) == expected);
}

TEST_CASE("gratuitous ARP reply, byte for byte") {
  const auto vip = parseIpAddress("198.18.1.10").value();
  const std::vector<std::uint8_t> expected{
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x18, 0x01, 0x00, 0x00, 0x01, 0x08, 0x06,
      0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
      0x00, 0x02,                          // reply
      0x02, 0x18, 0x01, 0x00, 0x00, 0x01, 198, 18, 1, 10,
      0x02, 0x18, 0x01, 0x00, 0x00, 0x01,  // target MAC = sender MAC
      198,  18,   1,    10,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  CHECK(gratuitousArpFrame(N1_MAC, vip, ArpForm::Reply) == expected);
}

TEST_CASE("unsolicited neighbour advertisement, byte for byte") {
  const auto vip = parseIpAddress("fd00:198:18::10").value();
  // The checksum 0x5605 was computed independently (Python, RFC 1071 over the pseudo-header).
  const std::vector<std::uint8_t> expected{
      0x33, 0x33, 0x00, 0x00, 0x00, 0x01,  // all-nodes multicast MAC
      0x02, 0x18, 0x01, 0x00, 0x00, 0x01, 0x86, 0xdd,
      0x60, 0x00, 0x00, 0x00,              // IPv6, no traffic class or flow label
      0x00, 0x20,                          // payload length 32
      58,   255,                           // ICMPv6, hop limit 255
      0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10,  // source = VIP
      0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,                // ff02::1
      136,  0,    0x56, 0x05,              // neighbour advertisement, checksum
      0x20, 0x00, 0x00, 0x00,              // Override set, Router and Solicited clear
      0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10,  // target = VIP
      2,    1,                             // target link-layer address option, 8 bytes
      0x02, 0x18, 0x01, 0x00, 0x00, 0x01};
  CHECK(unsolicitedNeighbourAdvertisement(N1_MAC, vip) == expected);
}

TEST_CASE("MAC addresses parse and print") {
  CHECK(toString(parseMacAddress("02:18:01:00:00:0a").value()) == "02:18:01:00:00:0a");
  CHECK_FALSE(parseMacAddress("02:18:01:00:00"));
  CHECK_FALSE(parseMacAddress("02:18:01:00:00:01:02"));
  CHECK_FALSE(parseMacAddress("zz:18:01:00:00:01"));
}

TEST_CASE("ARP probe: sender IP 0.0.0.0, and claims on the VIP are recognised") {
  const auto vip = parseIpAddress("198.18.1.10").value();
  const auto probe = arpProbeFrame(N1_MAC, vip);
  REQUIRE(probe.size() == 60);
  CHECK(probe[21] == 1); // request
  CHECK(std::vector(probe.begin() + 28, probe.begin() + 32) == std::vector<std::uint8_t>{0, 0, 0, 0});
  CHECK(std::vector(probe.begin() + 38, probe.begin() + 42) ==
        std::vector<std::uint8_t>{198, 18, 1, 10});
  // Our own probe (sender IP 0.0.0.0) is no claim; another host's reply for the VIP is.
  CHECK_FALSE(arpSenderOf(probe, vip, N1_MAC));
  const MacAddress other{{0x02, 0x18, 0x01, 0x00, 0x01, 0x01}};
  const auto reply = gratuitousArpFrame(other, vip, ArpForm::Reply);
  CHECK((arpSenderOf(reply, vip, N1_MAC) == other));
  CHECK_FALSE(arpSenderOf(gratuitousArpFrame(N1_MAC, vip, ArpForm::Reply), vip, N1_MAC));
  CHECK_FALSE(arpSenderOf(std::vector<std::uint8_t>(20, 0), vip, N1_MAC));
}
