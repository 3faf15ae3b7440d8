#pragma once

#include <cstdint>
#include <vector>

namespace failover::daemon::cluster {

// One process in the CPG group (a node can host a new one after every restart).
struct GroupMember {
  std::uint32_t nodeid = 0;
  std::uint32_t pid = 0;
  friend bool operator==(const GroupMember&, const GroupMember&) = default;
};

// The outgoing half of the cluster bus, as replication uses it. The daemon's is ClusterLink
// (Corosync CPG); the unit tests and the cluster simulator have their own group in one
// process. What comes in (deliveries in agreed order, membership, quorum, the connection)
// is passed to the Replicator's on*() calls by whoever owns the bus.
class GroupBus {
public:
  virtual ~GroupBus() = default;
  // Queues a message for the whole group, this process included; false when it cannot be
  // queued (the caller counts it as dropped).
  virtual bool send(std::vector<std::uint8_t> message) = 0;
  virtual bool connected() const noexcept = 0;
  // This process, as the group names it (valid once connected).
  virtual GroupMember self() const noexcept = 0;
};

} // namespace failover::daemon::cluster
