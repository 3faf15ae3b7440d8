#include "daemon/status.h"

#include <doctest/doctest.h>

using namespace failover::daemon;

namespace {
nlohmann::json snapshot(const std::string& role) {
  return {{"schema", 1},
          {"version", "1.2.3"},
          {"started_at", 1700000000},
          {"last_transition", {{"at", 1700000100}}},
          {"open_connections", 12},
          {"handshake_failures", 13},
          {"tls_service", {{"pid", 4242}, {"user", "failoverd-tls"}, {"starts", 3}, {"channel_errors", 1},
                           {"sessions_unreported", 2}, {"sessions_refused", 4}}},
          {"ticket_key", {{"created", 1700000000}, {"age_seconds", 4000}, {"rotation_seconds", 3600}}},
          {"certificates", nlohmann::json::array({{{"chain", "/etc/failoverd/a \"b\".crt"}, {"seconds_left", -5}},
                                                  {{"chain", "/etc/ssl/c.crt"}, {"seconds_left", 86400}}})},
          {"role", role},
          {"transitions", 3},
          {"members", nlohmann::json::array({{{"name", "n1"}, {"lag", nullptr}}})},
          {"quorate", true},
          {"in_sync", true},
          {"eligible", true},
          {"service_link", true},
          {"guard", nullptr},
          {"replication",
           {{"sent", 1}, {"received", 2}, {"records_sent", 3}, {"records_applied", 4}, {"cold_starts", 7}, {"rejected", nlohmann::json::object()},
            {"protocol_version", 2},
            {"sync", {{"held", 0}, {"confirmed", 0}, {"unprotected", 0}, {"closed", 0}, {"wait_us", 0}}}}},
          {"lease",
           {{"enabled", true}, {"held", true}, {"renewals", 11}, {"missed_renewals", 2}, {"losses", 1},
            {"grants_given", 9}, {"rejected", {{"replayed", 4}}}}},
          {"sessions_cached", 5},
          {"handshakes", {{"full_tls12", 6}}},
          {"service",
           {{"connections", {{"h2", 8}, {"http/1.1", 9}}}, {"http_requests", 10}, {"http_errors", 1},
            {"backend_connect_failures", 2}, {"bytes_relayed", 0}}}};
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
  CHECK(text.find("failoverd_replication_protocol_version 2\n") != std::string::npos);
  CHECK(text.find("failoverd_handshakes_total{kind=\"full_tls12\"} 6\n") != std::string::npos);
  CHECK(text.find("failoverd_connections_total{protocol=\"h2\"} 8\n") != std::string::npos);
  CHECK(text.find("failoverd_connections_total{protocol=\"http/1.1\"} 9\n") != std::string::npos);
  CHECK(text.find("failoverd_backend_connect_failures_total 2\n") != std::string::npos);
  CHECK(text.find("failoverd_lease_held 1\n") != std::string::npos);
  CHECK(text.find("failoverd_lease_renewals_total 11\n") != std::string::npos);
  CHECK(text.find("failoverd_lease_missed_renewals_total 2\n") != std::string::npos);
  CHECK(text.find("failoverd_lease_losses_total 1\n") != std::string::npos);
  CHECK(text.find("failoverd_lease_rejected_total{reason=\"replayed\"} 4\n") != std::string::npos);
  CHECK(text.find("failoverd_build_info{version=\"1.2.3\",schema=\"1\"} 1\n") != std::string::npos);
  CHECK(text.find("failoverd_start_time_seconds 1700000000\n") != std::string::npos);
  CHECK(text.find("failoverd_last_transition_timestamp_seconds 1700000100\n") != std::string::npos);
  CHECK(text.find("failoverd_open_connections 12\n") != std::string::npos);
  CHECK(text.find("failoverd_handshake_failures_total 13\n") != std::string::npos);
  CHECK(text.find("failoverd_tls_service_starts_total 3\n") != std::string::npos);
  CHECK(text.find("failoverd_tls_service_channel_errors_total 1\n") != std::string::npos);
  CHECK(text.find("failoverd_tls_sessions_unreported_total 2\n") != std::string::npos);
  CHECK(text.find("failoverd_tls_sessions_refused_total 4\n") != std::string::npos);
  CHECK(text.find("failoverd_ticket_key_age_seconds 4000\n") != std::string::npos);
  CHECK(text.find("failoverd_ticket_key_rotation_seconds 3600\n") != std::string::npos);
  // A label value is escaped as the exposition format wants; an expired certificate goes negative.
  CHECK(text.find("failoverd_certificate_expiry_seconds{chain=\"/etc/failoverd/a \\\"b\\\".crt\"} -5\n") !=
        std::string::npos);
  CHECK(text.find("failoverd_certificate_expiry_seconds{chain=\"/etc/ssl/c.crt\"} 86400\n") != std::string::npos);
  auto off = snapshot("active");
  off["lease"] = {{"enabled", false}};
  CHECK(renderPrometheus(off).find("failoverd_lease") == std::string::npos);
}

TEST_CASE("the metrics endpoint answers GET and HEAD of /metrics only, and reads the status only then") {
  int reads = 0;
  const auto status = [&reads] {
    ++reads;
    auto s = snapshot("active");
    s["request_servers"] = {{"control", {{"timed_out", 2}, {"evicted", 5}}}, {"metrics", nullptr}};
    return s;
  };
  const auto scrape = metricsResponse("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9477", status);
  CHECK(scrape.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(scrape.find("Content-Type: text/plain; version=0.0.4\r\n") != std::string::npos);
  CHECK(scrape.find("failoverd_role{role=\"active\"} 1\n") != std::string::npos);
  CHECK(scrape.find("failoverd_request_connections_dropped_total{server=\"control\",reason=\"evicted\"} 5\n") !=
        std::string::npos);
  CHECK(scrape.find("server=\"metrics\"") == std::string::npos);
  CHECK(reads == 1);
  const auto body_length = scrape.size() - (scrape.find("\r\n\r\n") + 4);
  CHECK(scrape.find("Content-Length: " + std::to_string(body_length) + "\r\n") != std::string::npos);

  const auto head = metricsResponse("HEAD /metrics?x=1 HTTP/1.1", status);
  CHECK(head.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(head.ends_with("\r\n\r\n"));
  CHECK(head.find("Content-Length: " + std::to_string(body_length) + "\r\n") != std::string::npos);

  CHECK(metricsResponse("GET / HTTP/1.1", status).starts_with("HTTP/1.1 404 Not Found\r\n"));
  CHECK(metricsResponse("GET /metrics/../etc HTTP/1.1", status).starts_with("HTTP/1.1 404 Not Found\r\n"));
  const auto post = metricsResponse("POST /metrics HTTP/1.1", status);
  CHECK(post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
  CHECK(post.find("Allow: GET, HEAD\r\n") != std::string::npos);
  CHECK(metricsResponse("\x16\x03\x01 hello", status).starts_with("HTTP/1.1 400 Bad Request\r\n"));
  CHECK(reads == 2);
}
