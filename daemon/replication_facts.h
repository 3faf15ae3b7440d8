#pragma once

#include "daemon/cluster/replicator.h"
#include "daemon/role/role_machine.h"

namespace failover::daemon {

// Where replication meets the decision core: roles and switchover steps as they travel, and
// the facts the core learns from the members' announced states. The agent and the cluster
// simulator both use these, so the simulator decides on what the daemon would see.
cluster::WireRole toWire(Role role);
Role fromWire(cluster::WireRole role);
cluster::HandoverMessage toMessage(const HandoverStep& step);
event::HandoverReceived toEvent(const cluster::GroupMember& from, const cluster::HandoverMessage& message);

// Fills in_sync, settling and the other members' roles from the replicator.
void addReplicationFacts(ClusterFacts& facts, const cluster::Replicator& replicator);
// This node's State, before the replicator adds its sync fields.
cluster::StateMessage describeSelf(std::string name, unsigned priority, const RoleMachine& roles,
                                   const ClusterFacts& facts);

} // namespace failover::daemon
