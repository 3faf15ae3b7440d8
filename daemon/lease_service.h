#pragma once

#include "daemon/cluster/lease_link.h"
#include "daemon/config.h"
#include "daemon/role/lease.h"
#include "sys/clock.h"
#include "sys/event_loop.h"
#include "sys/wakeup.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <set>

namespace failover::daemon {

// The majority lease in the daemon (docs/lease.md): the pure lease::Lease on this node's
// CLOCK_MONOTONIC, its UDP link, and its timer. It tells the agent when what the decision core
// knows of it changed, and netctl until when the kernel may let VIP traffic through.
class LeaseService {
public:
  struct Callbacks {
    std::function<void()> changed; // held, or a member's silence, changed: decide again (from the loop)
    // The kernel gate's limit: the lease end on CLOCK_MONOTONIC (0: shut).
    std::function<void(std::chrono::nanoseconds)> limit_gate;
  };
  // Throws std::runtime_error when its sockets cannot be bound (start-up only).
  LeaseService(const Config& config, cluster::Sealer sealer, sys::EventLoop& loop, const sys::Clock& clock,
               Callbacks callbacks);
  ~LeaseService();

  void want();
  void giveUp();
  void nameSuccessor(std::uint32_t node);
  // Corosync's node id for this node, once known: the lease's must be the same.
  void checkNode(std::uint32_t corosync_node);
  void addFacts(ClusterFacts& facts) const;
  nlohmann::json status() const;

private:
  lease::Nanos now() const { return lease::Nanos{clock_.monotonicNs()}; }
  void send(std::vector<lease::Outgoing> outgoing);
  void afterInput();

  const sys::Clock& clock_;
  sys::EventLoop& loop_;
  Callbacks callbacks_;
  lease::Lease lease_;
  std::unique_ptr<cluster::LeaseLink> link_;
  sys::TimerFd timer_;
  // The decision core hears of a change from the loop, after the input that made it: a lease
  // asked for in the middle of carrying out a decision must not start another one.
  std::optional<sys::Wakeup> changed_;
  bool usable_ = true; // false once this node's id turned out not to be the configured one
  bool held_reported_ = false;
  std::set<std::uint32_t> silent_reported_;
};

} // namespace failover::daemon
