#include "netctl/frames.h"

#include <algorithm>
#include <cstdio>

namespace failover::netctl {

namespace {

constexpr std::size_t ETHERNET_MIN_FRAME = 60; // without the FCS, which the NIC appends
constexpr std::uint16_t ETHERTYPE_ARP = 0x0806;
constexpr std::uint16_t ETHERTYPE_IPV4 = 0x0800;
constexpr std::uint16_t ETHERTYPE_IPV6 = 0x86dd;
constexpr std::uint8_t IPPROTO_ICMPV6_NUMBER = 58;
constexpr std::uint8_t ICMPV6_NEIGHBOUR_ADVERTISEMENT = 136;
constexpr std::uint8_t ND_OPTION_TARGET_LINK_LAYER = 2;
constexpr std::uint8_t NA_FLAG_OVERRIDE = 0x20;
constexpr std::uint8_t ND_HOP_LIMIT = 255; // receivers drop ND packets with any other value

class FrameWriter {
public:
  void u8(std::uint8_t value) { bytes_.push_back(value); }
  void u16(std::uint16_t value) {
    u8(static_cast<std::uint8_t>(value >> 8));
    u8(static_cast<std::uint8_t>(value & 0xff));
  }
  void u32(std::uint32_t value) {
    u16(static_cast<std::uint16_t>(value >> 16));
    u16(static_cast<std::uint16_t>(value & 0xffff));
  }
  template <std::size_t N> void bytes(const std::array<std::uint8_t, N>& data, std::size_t count = N) {
    bytes_.insert(bytes_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(count));
  }
  void zeros(std::size_t count) { bytes_.insert(bytes_.end(), count, 0); }
  std::size_t size() const { return bytes_.size(); }
  void put16(std::size_t at, std::uint16_t value) {
    bytes_[at] = static_cast<std::uint8_t>(value >> 8);
    bytes_[at + 1] = static_cast<std::uint8_t>(value & 0xff);
  }
  std::vector<std::uint8_t>& data() { return bytes_; }

private:
  std::vector<std::uint8_t> bytes_;
};

void ethernetHeader(FrameWriter& frame, const std::array<std::uint8_t, 6>& destination,
                    const MacAddress& source, std::uint16_t ethertype) {
  frame.bytes(destination);
  frame.bytes(source.bytes);
  frame.u16(ethertype);
}

// The Internet checksum (RFC 1071) of the ICMPv6 message and its IPv6 pseudo-header.
std::uint16_t icmpv6Checksum(const IpAddress& source, const IpAddress& destination,
                             const std::uint8_t* message, std::size_t length) {
  std::uint32_t sum = 0;
  const auto add = [&sum](const std::uint8_t* data, std::size_t size) {
    for (std::size_t i = 0; i + 1 < size; i += 2) {
      sum += static_cast<std::uint32_t>(data[i] << 8 | data[i + 1]);
    }
    if (size % 2 != 0) {
      sum += static_cast<std::uint32_t>(data[size - 1] << 8);
    }
  };
  add(source.bytes.data(), 16);
  add(destination.bytes.data(), 16);
  sum += static_cast<std::uint32_t>(length);
  sum += IPPROTO_ICMPV6_NUMBER;
  add(message, length);
  while (sum >> 16 != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

} // namespace

std::string toString(const MacAddress& mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac.bytes[0], mac.bytes[1],
                mac.bytes[2], mac.bytes[3], mac.bytes[4], mac.bytes[5]);
  return text;
}

sys::Result<MacAddress> parseMacAddress(std::string_view text) {
  MacAddress mac;
  unsigned values[6];
  char tail = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &values[0], &values[1], &values[2],
                  &values[3], &values[4], &values[5], &tail) != 6) {
    return sys::fail(sys::Errc::InvalidArgument,
                     "'" + copy + "' is not a MAC address (e.g. 02:18:01:00:00:01)");
  }
  std::transform(values, values + 6, mac.bytes.begin(),
                 [](unsigned v) { return static_cast<std::uint8_t>(v); });
  return mac;
}

std::vector<std::uint8_t> gratuitousArpFrame(const MacAddress& mac, const IpAddress& vip,
                                             ArpForm form) {
  constexpr std::array<std::uint8_t, 6> broadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  FrameWriter frame;
  ethernetHeader(frame, broadcast, mac, ETHERTYPE_ARP);
  frame.u16(1); // hardware type: Ethernet
  frame.u16(ETHERTYPE_IPV4);
  frame.u8(6); // hardware address length
  frame.u8(4); // protocol address length
  frame.u16(static_cast<std::uint16_t>(form));
  frame.bytes(mac.bytes);
  frame.bytes(vip.bytes, 4);
  if (form == ArpForm::Reply) {
    frame.bytes(mac.bytes);
  } else {
    frame.zeros(6);
  }
  frame.bytes(vip.bytes, 4);
  frame.zeros(ETHERNET_MIN_FRAME - frame.size());
  return std::move(frame.data());
}

std::vector<std::uint8_t> arpProbeFrame(const MacAddress& mac, const IpAddress& vip) {
  auto frame = gratuitousArpFrame(mac, vip, ArpForm::Request);
  constexpr std::size_t sender_ip = 28;
  std::fill_n(frame.begin() + sender_ip, 4, 0);
  return frame;
}

std::optional<MacAddress> arpSenderOf(std::span<const std::uint8_t> frame, const IpAddress& vip,
                                      const MacAddress& own) {
  constexpr std::size_t arp_length = 42;
  if (frame.size() < arp_length || frame[12] != 0x08 || frame[13] != 0x06 ||
      vip.family != Family::V4) {
    return std::nullopt;
  }
  if (!std::equal(vip.bytes.begin(), vip.bytes.begin() + 4, frame.begin() + 28)) {
    return std::nullopt;
  }
  MacAddress sender;
  std::copy_n(frame.begin() + 22, 6, sender.bytes.begin());
  if (sender == own) {
    return std::nullopt;
  }
  return sender;
}

std::vector<std::uint8_t> unsolicitedNeighbourAdvertisement(const MacAddress& mac,
                                                            const IpAddress& vip) {
  constexpr std::array<std::uint8_t, 6> all_nodes_mac{0x33, 0x33, 0, 0, 0, 1};
  IpAddress all_nodes{Family::V6, {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
  constexpr std::uint16_t icmp_length = 24 + 8; // advertisement + one option
  constexpr std::size_t ip_header = 14;
  constexpr std::size_t icmp_start = ip_header + 40;

  FrameWriter frame;
  ethernetHeader(frame, all_nodes_mac, mac, ETHERTYPE_IPV6);
  frame.u32(0x60000000); // version 6, traffic class 0, flow label 0
  frame.u16(icmp_length);
  frame.u8(IPPROTO_ICMPV6_NUMBER);
  frame.u8(ND_HOP_LIMIT);
  frame.bytes(vip.bytes);
  frame.bytes(all_nodes.bytes);
  frame.u8(ICMPV6_NEIGHBOUR_ADVERTISEMENT);
  frame.u8(0);  // code
  frame.u16(0); // checksum, filled below
  frame.u8(NA_FLAG_OVERRIDE);
  frame.zeros(3);
  frame.bytes(vip.bytes);
  frame.u8(ND_OPTION_TARGET_LINK_LAYER);
  frame.u8(1); // option length in units of 8 bytes
  frame.bytes(mac.bytes);
  frame.put16(icmp_start + 2, icmpv6Checksum(vip, all_nodes, frame.data().data() + icmp_start,
                                             icmp_length));
  return std::move(frame.data());
}

} // namespace failover::netctl
