#include "daemon/status.h"

#include <doctest/doctest.h>

using namespace failover::daemon;

namespace {
nlohmann::json snapshot(const std::string& role) {
  return {{"role", role},
          {"transitions", 3},
          {"members", nlohmann::json::array({{{"name", "n1"}, {"lag", nullptr}}})},
          {"quorate", true},
          {"in_sync", true},
          {"eligible", true},
          {"service_link", true},
          {"guard", nullptr},
          {"replication",
           {{"sent", 1}, {"received", 2}, {"records_sent", 3}, {"records_applied", 4}, {"cold_starts", 7}, {"rejected", nlohmann::json::object()},
            {"sync", {{"held", 0}, {"confirmed", 0}, {"unprotected", 0}, {"closed", 0}, {"wait_us", 0}}}}},
          {"lease",
           {{"enabled", true}, {"held", true}, {"renewals", 11}, {"missed_renewals", 2}, {"losses", 1},
            {"grants_given", 9}, {"rejected", {{"replayed", 4}}}}},
          {"sessions_cached", 5},
          {"handshakes", {{"full_tls12", 6}}}};
}
} // namespace

TEST_CASE("the metrics render the status snapshot: every role has a gauge, handing-over included") {
  const auto text = renderPrometheus(snapshot("handing-over"));
  for (const auto* role : {"standby", "active", "maintenance", "fault"}) {
    CHECK(text.find("failoverd_role{role=\"" + std::string(role) + "\"} 0\n") != std::string::npos);
  }
  CHECK(text.find("failoverd_role{role=\"handing-over\"} 1\n") != std::string::npos);
  CHECK(text.find("failoverd_transitions_total 3\n") != std::string::npos);
  CHECK(text.find("failoverd_quorate 1\n") != std::string::npos);
  CHECK(text.find("failoverd_sessions_cached 5\n") != std::string::npos);
  CHECK(text.find("failoverd_replication_cold_starts_total 7\n") != std::string::npos);
  CHECK(text.find("failoverd_handshakes_total{kind=\"full_tls12\"} 6\n") != std::string::npos);
  CHECK(text.find("failoverd_lease_held 1\n") != std::string::npos);
  CHECK(text.find("failoverd_lease_renewals_total 11\n") != std::string::npos);
  CHECK(text.find("failoverd_lease_missed_renewals_total 2\n") != std::string::npos);
  CHECK(text.find("failoverd_lease_losses_total 1\n") != std::string::npos);
  CHECK(text.find("failoverd_lease_rejected_total{reason=\"replayed\"} 4\n") != std::string::npos);
  auto off = snapshot("active");
  off["lease"] = {{"enabled", false}};
  CHECK(renderPrometheus(off).find("failoverd_lease") == std::string::npos);
}
