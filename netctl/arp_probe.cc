#include "netctl/arp_probe.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/socket.h>

#include <array>
#include <cstring>

namespace failover::netctl {

sys::Result<ArpProbe> ArpProbe::send(unsigned interface_index, const MacAddress& own,
                                     const IpAddress& vip) {
  if (vip.family != Family::V4) {
    return sys::fail(sys::Errc::InvalidArgument, "an ARP probe is for IPv4 addresses only");
  }
  sys::UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ARP)));
  if (!fd) {
    auto error = sys::systemError("cannot open an AF_PACKET socket for the ARP probe");
    if (error.code == sys::Errc::PermissionDenied) {
      error.message += " (needs root or CAP_NET_RAW)";
    }
    return std::unexpected(error);
  }
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ARP);
  address.sll_ifindex = static_cast<int>(interface_index);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0) {
    return std::unexpected(sys::systemError("cannot bind the ARP probe socket"));
  }
  const auto frame = arpProbeFrame(own, vip);
  address.sll_halen = ETH_ALEN;
  std::memset(address.sll_addr, 0xff, ETH_ALEN);
  if (::sendto(fd.get(), frame.data(), frame.size(), 0, reinterpret_cast<const sockaddr*>(&address),
               sizeof address) < 0) {
    return std::unexpected(sys::systemError("cannot send the ARP probe"));
  }
  return ArpProbe(std::move(fd), own, vip);
}

std::optional<MacAddress> ArpProbe::answer() {
  std::array<std::uint8_t, 1514> buffer{};
  for (;;) {
    const ssize_t n = ::recv(fd_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n <= 0) {
      return std::nullopt;
    }
    if (auto sender = arpSenderOf(std::span(buffer.data(), static_cast<std::size_t>(n)), vip_, own_)) {
      return sender;
    }
  }
}

} // namespace failover::netctl
