#pragma once

#include "sys/error.h"
#include "sys/unique_fd.h"

#include <cstdint>
#include <span>

namespace failover::netctl {

// Sends prebuilt Ethernet frames (gratuitous ARP, unsolicited NA) on an interface.
// The AF_PACKET socket is opened with protocol 0, so the kernel never queues received
// frames on it: it is send-only by construction.
class Announcer {
public:
  static sys::Result<Announcer> open();
  sys::Status send(unsigned interface_index, std::span<const std::uint8_t> frame) const;

private:
  explicit Announcer(sys::UniqueFd fd) : fd_(std::move(fd)) {}
  sys::UniqueFd fd_;
};

} // namespace failover::netctl
