#include "daemon/replication_facts.h"

namespace failover::daemon {

using cluster::WireRole;

WireRole toWire(Role role) {
  switch (role) {
  case Role::Active:
    return WireRole::Active;
  case Role::Maintenance:
    return WireRole::Maintenance;
  case Role::Fault:
    return WireRole::Fault;
  case Role::HandingOver:
    return WireRole::HandingOver;
  case Role::Standby:
    break;
  }
  return WireRole::Standby;
}

Role fromWire(WireRole role) {
  switch (role) {
  case WireRole::Active:
    return Role::Active;
  case WireRole::Maintenance:
    return Role::Maintenance;
  case WireRole::Fault:
    return Role::Fault;
  case WireRole::HandingOver:
    return Role::HandingOver;
  default:
    return Role::Standby;
  }
}

cluster::HandoverMessage toMessage(const HandoverStep& step) {
  return {static_cast<cluster::HandoverMessage::Phase>(step.phase), step.from, step.to, step.mac};
}

event::HandoverReceived toEvent(const cluster::GroupMember& from, const cluster::HandoverMessage& message) {
  return {{static_cast<HandoverStep::Phase>(message.phase), message.from, message.to, message.mac}, from.nodeid};
}

void addReplicationFacts(ClusterFacts& facts, const cluster::Replicator& replicator) {
  facts.in_sync = replicator.inSync();
  facts.settling = replicator.settling();
  for (const auto& [key, peer] : replicator.peers()) {
    if (peer.state) {
      facts.others.push_back(MemberInfo{peer.member.nodeid, peer.state->name, peer.state->priority,
                                        fromWire(peer.state->role), peer.state->in_sync, peer.state->eligible});
    }
  }
}

std::string memberName(const cluster::Replicator& replicator, std::uint32_t node, std::uint32_t self_id,
                       const std::string& self_name) {
  for (const auto& [key, peer] : replicator.peers()) {
    if (peer.member.nodeid == node && peer.state) {
      return peer.state->name;
    }
  }
  return node == self_id ? self_name : "node " + std::to_string(node);
}

std::optional<std::uint32_t> memberNamed(const cluster::Replicator& replicator, const std::string& name,
                                         std::uint32_t self_id, const std::string& self_name) {
  if (name == self_name) {
    return self_id;
  }
  for (const auto& [key, peer] : replicator.peers()) {
    if (peer.state && peer.state->name == name) {
      return peer.member.nodeid;
    }
  }
  return std::nullopt;
}

cluster::StateMessage describeSelf(std::string name, unsigned priority, const RoleMachine& roles,
                                   const ClusterFacts& facts) {
  cluster::StateMessage state;
  state.name = std::move(name);
  state.priority = static_cast<std::uint8_t>(priority);
  state.role = toWire(roles.role());
  state.eligible = roles.eligible(facts);
  return state;
}

} // namespace failover::daemon
