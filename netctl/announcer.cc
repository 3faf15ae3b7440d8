#include "netctl/announcer.h"

#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

namespace failover::netctl {

sys::Result<Announcer> Announcer::open() {
  sys::UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    auto error = sys::systemError("cannot open an AF_PACKET socket for announcements");
    if (error.code == sys::Errc::PermissionDenied) {
      error.message += " (needs root or CAP_NET_RAW)";
    }
    return std::unexpected(error);
  }
  return Announcer(std::move(fd));
}

sys::Status Announcer::send(unsigned interface_index, std::span<const std::uint8_t> frame) const {
  if (frame.size() < ETH_HLEN) {
    return sys::fail(sys::Errc::InvalidArgument, "frame shorter than an Ethernet header");
  }
  sockaddr_ll destination{};
  destination.sll_family = AF_PACKET;
  destination.sll_ifindex = static_cast<int>(interface_index);
  destination.sll_halen = ETH_ALEN;
  std::memcpy(destination.sll_addr, frame.data(), ETH_ALEN);
  const ssize_t sent = ::sendto(fd_.get(), frame.data(), frame.size(), 0,
                                reinterpret_cast<const sockaddr*>(&destination), sizeof destination);
  if (sent < 0) {
    return std::unexpected(
        sys::systemError("cannot send an announcement on interface index " +
                         std::to_string(interface_index)));
  }
  return {};
}

} // namespace failover::netctl
