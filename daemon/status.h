#pragma once

#include "daemon/cluster/replicator.h"
#include "daemon/config.h"
#include "daemon/hooks.h"
#include "daemon/lease_service.h"
#include "daemon/role/role_machine.h"
#include "netctl/vip_owner.h"
#include "sys/clock.h"
#include "tls/server.h"

#include <nlohmann/json.hpp>

#include <ctime>
#include <string>

namespace failover::daemon {

// What the status snapshot is read from: the agent's components, as they are now.
struct StatusSources {
  const Config& config;
  const RoleMachine& roles;
  const ClusterFacts& facts;
  const cluster::Replicator& replicator;
  tls::TlsServer& tls;
  const netctl::VipOwner& vip;
  std::uint32_t node_id;
  const sys::Clock& clock;
  std::uint64_t transitions;
  const Decision& last_transition;
  std::time_t last_transition_at;
  std::uint64_t control_refused;
  const HookRunner* hooks;
  const LeaseService* lease; // null without the lease
};

// The node's status is one snapshot: the JSON document of `failoverctl status --json`.
nlohmann::json buildStatus(const StatusSources& from);

// The same snapshot for Prometheus (the metrics endpoint), so the two can never disagree.
std::string renderPrometheus(const nlohmann::json& status);
// The metrics endpoint's whole HTTP answer (the text exposition format).
std::string metricsResponse(const nlohmann::json& status);

} // namespace failover::daemon
