#pragma once

#include "daemon/cluster/replicator.h"
#include "daemon/role/role_machine.h"

#include <optional>
#include <string>

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
// A member's name as it announced it (this node's own for self_id), else "node N".
std::string memberName(const cluster::Replicator& replicator, std::uint32_t node, std::uint32_t self_id,
                       const std::string& self_name);
// The node that announced this name (this node's own id for self_name).
std::optional<std::uint32_t> memberNamed(const cluster::Replicator& replicator, const std::string& name,
                                         std::uint32_t self_id, const std::string& self_name);
// This node's State, before the replicator adds its sync fields.
cluster::StateMessage describeSelf(std::string name, unsigned priority, const RoleMachine& roles,
                                   const ClusterFacts& facts);

} // namespace failover::daemon
