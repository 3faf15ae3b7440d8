#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace failover::daemon {

// The node's status is one snapshot, the JSON document of `failoverctl status --json`
// (Agent::status). This renders the same snapshot for Prometheus (the metrics endpoint), so
// the two can never disagree.
std::string renderPrometheus(const nlohmann::json& status);

} // namespace failover::daemon
