#pragma once

#include "netctl/frames.h"
#include "sys/error.h"

#include <chrono>

namespace failover::netctl {

// The VIP as the decision's effects drive it. VipOwner is the real one (tested in the lab and
// the kernel tests); the unit tests drive a fake.
class VipControl {
public:
  virtual ~VipControl() = default;
  // Takes the VIP over, not before `wait_out` (a failed owner's guard may answer that long).
  virtual sys::Status promote(std::chrono::milliseconds wait_out) = 0;
  virtual sys::Status demote() = 0;
  // Planned switchover: stop answering ARP/NA for the VIP while keeping the IPv4 address.
  virtual sys::Status quiesce() = 0;
  // The switchover failed: answer for the VIP again and announce it.
  virtual sys::Status resume() = 0;
  // Planned switchover: hold new connection attempts while the open ones finish.
  virtual sys::Status holdNewConnections() = 0;
  // Forward the held connection attempts to the new active.
  virtual void forwardHeld(const MacAddress& to) = 0;
};

} // namespace failover::netctl
