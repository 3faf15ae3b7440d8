#pragma once

#include "daemon/cluster/replicator.h"
#include "daemon/config.h"
#include "daemon/control/request_server.h"
#include "daemon/hooks.h"
#include "daemon/lease_service.h"
#include "daemon/role/role_machine.h"
#include "daemon/tls_service.h"
#include "netctl/vip_owner.h"
#include "sys/clock.h"
#include "tls/server.h"

#include <nlohmann/json.hpp>

#include <ctime>
#include <functional>
#include <string>
#include <string_view>

namespace failover::daemon {

// What the status snapshot is read from: the agent's components, as they are now.
struct StatusSources {
  const Config& config;
  const RoleMachine& roles;
  const ClusterFacts& facts;
  const cluster::Replicator& replicator;
  tls::TlsServer& tls; // the agent's copy: the counters are the TLS service process's
  const TlsService::Stats& tls_service;
  const netctl::VipOwner& vip;
  std::uint32_t node_id;
  const sys::Clock& clock;
  std::uint64_t transitions;
  const Decision& last_transition;
  std::time_t last_transition_at;
  std::time_t started_at;
  const RequestServer* control; // null until it listens
  const RequestServer* metrics; // null without metrics-listen
  const HookRunner* hooks;
  const LeaseService* lease; // null without the lease
};

// The node's status is one snapshot: the JSON document of `failoverctl status --json`. Its
// "schema" grows by one whenever a field changes meaning or goes away (adding one does not):
// docs/status.md lists every field.
inline constexpr int STATUS_SCHEMA = 1;
nlohmann::json buildStatus(const StatusSources& from);

// The same snapshot for Prometheus (the metrics endpoint), so the two can never disagree.
std::string renderPrometheus(const nlohmann::json& status);
// The metrics endpoint's whole HTTP answer to `request` (its head, without the final blank
// line): the text exposition format for GET or HEAD of /metrics, read from status() only then;
// 404 for any other path, 405 for any other method, 400 for what is not an HTTP request.
std::string metricsResponse(std::string_view request, const std::function<nlohmann::json()>& status);

} // namespace failover::daemon
