#pragma once

#include "netctl/frames.h"
#include "sys/error.h"
#include "sys/unique_fd.h"

#include <optional>

namespace failover::netctl {

// Asks the segment whether another host already answers for an IPv4 VIP (RFC 5227 probe),
// so that a node about to take the VIP can refuse when a host outside the cluster owns it.
// Non-blocking: the caller adds fd() to its loop and bounds the wait with its own timer.
class ArpProbe {
public:
  static sys::Result<ArpProbe> send(unsigned interface_index, const MacAddress& own,
                                    const IpAddress& vip);
  int fd() const noexcept { return fd_.get(); }
  // The MAC of a host other than us that claimed the VIP, if one has answered so far.
  std::optional<MacAddress> answer();

private:
  ArpProbe(sys::UniqueFd fd, MacAddress own, IpAddress vip)
      : fd_(std::move(fd)), own_(own), vip_(vip) {}
  sys::UniqueFd fd_;
  MacAddress own_;
  IpAddress vip_;
};

} // namespace failover::netctl
