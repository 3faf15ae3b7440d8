#pragma once

#include "netctl/address.h"

#include <array>
#include <optional>
#include <span>
#include <cstdint>
#include <string>
#include <vector>

namespace failover::netctl {

struct MacAddress {
  std::array<std::uint8_t, 6> bytes{};
  friend bool operator==(const MacAddress&, const MacAddress&) = default;
};

std::string toString(const MacAddress& mac);
sys::Result<MacAddress> parseMacAddress(std::string_view text);

// The two forms of gratuitous ARP: some switches and hosts learn only from one of them
// (RFC 5227 section 3 prefers requests; older gear updates its tables only on replies).
enum class ArpForm : std::uint16_t { Request = 1, Reply = 2 };

// A gratuitous ARP frame announcing that `vip` is at `mac`: Ethernet broadcast, sender IP ==
// target IP == vip, padded to the 60-byte Ethernet minimum. The request form leaves the target
// hardware address zero (RFC 5227); the reply form repeats the sender's (RFC 5944 4.6).
// vip must be IPv4.
std::vector<std::uint8_t> gratuitousArpFrame(const MacAddress& mac, const IpAddress& vip,
                                             ArpForm form);

// An ARP probe (RFC 5227 section 2.1.1) asking who has `vip`: a broadcast request whose sender
// IP is 0.0.0.0, so that no host's ARP table learns anything from it.
std::vector<std::uint8_t> arpProbeFrame(const MacAddress& mac, const IpAddress& vip);

// If frame is an ARP reply or request *from* `vip` (sender IP == vip) sent by another MAC
// than `own`, that MAC: someone else answers for the address.
std::optional<MacAddress> arpSenderOf(std::span<const std::uint8_t> frame, const IpAddress& vip,
                                      const MacAddress& own);

// An unsolicited neighbour advertisement (RFC 4861 section 7.2.6) for the IPv6 `vip` at `mac`:
// to the all-nodes group ff02::1 (Ethernet 33:33:00:00:00:01), hop limit 255, Override flag
// set and Solicited clear, with a target link-layer address option. vip must be IPv6.
std::vector<std::uint8_t> unsolicitedNeighbourAdvertisement(const MacAddress& mac,
                                                            const IpAddress& vip);

} // namespace failover::netctl
