#include "daemon/status.h"

#include "daemon/log.h"
#include "daemon/replication_facts.h"
#include "failover/version.h"
#include "tls/http.h"

#include <chrono>
#include <sstream>

namespace failover::daemon {
namespace {
// Null for a server not (yet) listening.
nlohmann::json requestServerStatus(const RequestServer* server) {
  if (server == nullptr) {
    return nullptr;
  }
  const auto& c = server->counters();
  return {{"refused", c.refused}, {"too_large", c.too_large}, {"timed_out", c.timed_out}, {"evicted", c.evicted}};
}

// A label value in the text exposition format: backslash, quote and newline escaped.
std::string labelValue(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}
} // namespace

nlohmann::json buildStatus(const StatusSources& from) {
  using nlohmann::json;
  const auto& config = from.config;
  const auto& roles = from.roles;
  const auto& replicator = from.replicator;
  auto& tls_server = from.tls;
  const auto& vip_owner = from.vip;
  const auto elected = roles.electedActive(from.facts);
  const bool eligible = roles.eligible(from.facts);
  json members = json::array();
  json self = {{"name", config.node_name}, {"id", from.node_id}, {"role", toString(roles.role())},
               {"priority", roles.priority()}, {"in_sync", replicator.inSync()},
               {"eligible", eligible}, {"self", true}, {"lag", nullptr},
               {"sessions_cached", tls_server.cache().stats().entries},
               {"protocol_versions", {replicator.versions().min, replicator.versions().max}}};
  members.push_back(self);
  std::optional<std::string> owner;
  if (roles.role() == Role::Active) {
    owner = config.node_name;
  }
  for (const auto& [key, peer] : replicator.peers()) {
    if (!peer.state) {
      continue;
    }
    json lag = nullptr;
    if (roles.role() == Role::Active && peer.state->applied_incarnation == replicator.incarnation()) {
      lag = replicator.sequence() - std::min(replicator.sequence(), peer.state->applied_sequence);
    }
    if (peer.state->role == cluster::WireRole::Active) {
      owner = peer.state->name;
    }
    members.push_back({{"name", peer.state->name}, {"id", peer.member.nodeid},
                       {"role", toString(fromWire(peer.state->role))}, {"priority", peer.state->priority},
                       {"in_sync", peer.state->in_sync}, {"eligible", peer.state->eligible}, {"self", false},
                       {"lag", lag}, {"sessions_cached", peer.state->cache_entries},
                       {"protocol_versions", {peer.state->speaks.min, peer.state->speaks.max}},
                       {"heard_ms_ago", from.clock.monotonicMs() - peer.last_heard_ms}});
  }
  json vips = json::array();
  for (const auto& vip : config.vips) {
    vips.push_back(netctl::toString(vip));
  }
  const auto& stats = replicator.stats();
  json rejected = json::object();
  for (std::size_t i = 0; i < stats.rejected.size(); ++i) {
    rejected[std::string(cluster::toString(static_cast<cluster::RejectReason>(i)))] = stats.rejected[i].load();
  }
  const auto& tls = tls_server.counters();
  json guard = nullptr;
  if (const auto* vip_guard = vip_owner.guard()) {
    guard = {{"bound_ms", config.guard.bound.count()}, {"open", vip_owner.gateOpen()}, {"fired", vip_owner.guardFired()}};
    if (const auto drops = vip_guard->drops()) {
      guard["drops"] = {{"arp_requests", drops->arp_requests}, {"solicitations", drops->solicitations},
                        {"packets_in", drops->packets_in}, {"announcements", drops->announcements},
                        {"packets_out", drops->packets_out}, {"unserved_syns", drops->unserved_syns}};
    }
  }
  json certificates = json::array();
  const auto now = std::time(nullptr);
  for (const auto& certificate : tls_server.context()->certificates()) {
    certificates.push_back({{"chain", certificate.chain.string()}, {"not_after", certificate.not_after},
                            {"seconds_left", certificate.not_after - now}});
  }
  const auto created = tls_server.keyring().currentCreated();
  return {{"schema", STATUS_SCHEMA},
          {"version", VERSION},
          {"started_at", from.started_at},
          {"node", config.node_name},
          {"id", from.node_id},
          {"role", toString(roles.role())},
          {"connected", from.facts.connected},
          {"quorate", from.facts.quorate},
          {"in_sync", replicator.inSync()},
          {"eligible", eligible},
          {"service_link", vip_owner.serviceable()},
          {"guard", guard},
          {"vips", vips},
          {"vip_owner", owner ? json(*owner) : json(nullptr)},
          {"elected", elected ? json(*elected) : json(nullptr)},
          {"switchover", roles.handoverTarget()
                             ? json{{"target", memberName(replicator, *roles.handoverTarget(), from.node_id, config.node_name)}, {"phase", roles.handoverPhase()}}
                             : json(nullptr)},
          {"members", members},
          {"sessions_cached", tls_server.cache().stats().entries},
          {"open_connections", tls_server.openConnections()},
          {"handshake_failures", tls.handshake_failures.load()},
          {"tls_service",
           {{"pid", from.tls_service.pid > 0 ? json(from.tls_service.pid) : json(nullptr)},
            {"user", config.tls_user.name},
            {"starts", from.tls_service.starts},
            {"channel_errors", from.tls_service.channel_errors},
            {"sessions_unreported", tls.sessions_unreported.load()},
            {"sessions_refused", tls.sessions_rejected.load()}}},
          {"certificates", certificates},
          {"ticket_keys", tls_server.keyring().size()},
          {"ticket_key",
           {{"created", created ? json(*created) : json(nullptr)},
            {"age_seconds", created ? json(now - *created) : json(nullptr)},
            {"rotation_seconds", tls_server.config().ticket_rotation.count()}}},
          {"last_transition",
           {{"from", toString(from.last_transition.from)}, {"to", toString(from.last_transition.to)},
            {"reason", from.last_transition.reason}, {"at", from.last_transition_at}}},
          {"transitions", from.transitions},
          {"lease", from.lease != nullptr ? from.lease->status() : json{{"enabled", false}}},
          {"replication",
           {{"enabled", config.replication}, {"sent", stats.sent.load()}, {"received", stats.received.load()},
            {"records_sent", stats.records_sent.load()}, {"records_applied", stats.records_applied.load()},
            {"records_rejected", stats.records_rejected.load()}, {"dropped", stats.dropped.load()},
            {"snapshots_sent", stats.snapshots_sent.load()}, {"cold_starts", stats.cold_starts.load()},
            {"rejected", rejected},
            {"protocol_version", replicator.groupVersion()},
            {"mode", config.listener.sync.enabled ? "sync" : "async"},
            {"sync",
             {{"held", tls.sync_held.load()}, {"confirmed", tls.sync_confirmed.load()},
              {"unprotected", tls.sync_unprotected.load()}, {"closed", tls.sync_closed.load()},
              {"wait_us", tls.sync_wait_us.load()}}}}},
          {"handshakes",
           {{"full_tls12", tls.full_tls12.load()}, {"full_tls13", tls.full_tls13.load()},
            {"resumed_tls12_session_id", tls.resumed_tls12_session_id.load()},
            {"resumed_tls12_ticket", tls.resumed_tls12_ticket.load()},
            {"resumed_tls13_stateful", tls.resumed_tls13_stateful.load()},
            {"resumed_tls13_ticket", tls.resumed_tls13_ticket.load()}}},
          {"service",
           {{"connections", {{"h2", tls.connections_http2.load()}, {"http/1.1", tls.connections_http11.load()}}},
            {"http_requests", tls.http_requests.load()},
            {"http_errors", tls.http_errors.load()},
            {"backend_connect_failures", tls.backend_connect_failures.load()},
            {"bytes_relayed", tls.bytes_relayed.load()}}},
          {"control_refused", from.control != nullptr ? from.control->counters().refused : 0},
          {"request_servers",
           {{"control", requestServerStatus(from.control)}, {"metrics", requestServerStatus(from.metrics)}}},
          // The live settings as the components hold them (what a reload changed).
          {"settings",
           {{"log_level", toString(logLevel())},
            {"priority", roles.priority()},
            {"preempt", roles.preempt()},
            {"notify_program", from.hooks != nullptr ? json(from.hooks->program().string()) : json(nullptr)},
            {"notify_timeout_ms", from.hooks != nullptr ? json(from.hooks->timeout().count()) : json(nullptr)}}}};
}


std::string renderPrometheus(const nlohmann::json& s) {
  std::ostringstream out;
  const auto gauge = [&out](const std::string& name, const std::string& help, const std::string& type) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  gauge("failoverd_build_info", "always 1: this failoverd's version, and the status schema it reports", "gauge");
  out << "failoverd_build_info{version=\"" << s["version"].get<std::string>() << "\",schema=\"" << s["schema"]
      << "\"} 1\n";
  gauge("failoverd_start_time_seconds", "when this failoverd started, in Unix time", "gauge");
  out << "failoverd_start_time_seconds " << s["started_at"] << "\n";
  gauge("failoverd_last_transition_timestamp_seconds",
        "when this node last changed role, in Unix time (0: not since it started)", "gauge");
  out << "failoverd_last_transition_timestamp_seconds " << s["last_transition"]["at"] << "\n";
  gauge("failoverd_open_connections", "TLS connections open now", "gauge");
  out << "failoverd_open_connections " << s["open_connections"] << "\n";
  const auto& tls_service = s["tls_service"];
  gauge("failoverd_tls_service_starts_total",
        "TLS service processes started (the first one, restarts after a failure, replacements on reload)", "counter");
  out << "failoverd_tls_service_starts_total " << tls_service["starts"] << "\n";
  gauge("failoverd_tls_service_channel_errors_total",
        "TLS service processes cut off for sending what the channel's format refuses", "counter");
  out << "failoverd_tls_service_channel_errors_total " << tls_service["channel_errors"] << "\n";
  gauge("failoverd_tls_sessions_unreported_total",
        "sessions the TLS service could not report to the agent (channel full): not replicated", "counter");
  out << "failoverd_tls_sessions_unreported_total " << tls_service["sessions_unreported"] << "\n";
  gauge("failoverd_tls_sessions_refused_total",
        "replicated sessions the TLS service refused to import (their DER is not a session for their ID and context)",
        "counter");
  out << "failoverd_tls_sessions_refused_total " << tls_service["sessions_refused"] << "\n";
  gauge("failoverd_certificate_expiry_seconds", "seconds until each served certificate's notAfter (negative: expired)",
        "gauge");
  for (const auto& certificate : s["certificates"]) {
    out << "failoverd_certificate_expiry_seconds{chain=\"" << labelValue(certificate["chain"].get<std::string>())
        << "\"} " << certificate["seconds_left"] << "\n";
  }
  if (const auto& key = s["ticket_key"]; !key["age_seconds"].is_null()) {
    gauge("failoverd_ticket_key_age_seconds", "age of the key that encrypts new session tickets", "gauge");
    out << "failoverd_ticket_key_age_seconds " << key["age_seconds"] << "\n";
  }
  gauge("failoverd_ticket_key_rotation_seconds", "the configured ticket-key rotation interval", "gauge");
  out << "failoverd_ticket_key_rotation_seconds " << s["ticket_key"]["rotation_seconds"] << "\n";
  gauge("failoverd_role", "1 for this node's current role", "gauge");
  for (const auto role : {Role::Standby, Role::Active, Role::HandingOver, Role::Maintenance, Role::Fault}) {
    out << "failoverd_role{role=\"" << toString(role) << "\"} " << (s["role"].get<std::string>() == toString(role) ? 1 : 0) << "\n";
  }
  gauge("failoverd_transitions_total", "role transitions since start", "counter");
  out << "failoverd_transitions_total " << s["transitions"] << "\n";
  gauge("failoverd_members", "failoverd processes in the cluster group, this one included", "gauge");
  out << "failoverd_members " << s["members"].size() << "\n";
  gauge("failoverd_quorate", "1 if this node's partition is quorate", "gauge");
  out << "failoverd_quorate " << (s["quorate"].get<bool>() ? 1 : 0) << "\n";
  gauge("failoverd_in_sync", "1 if this node holds the cluster's sessions and keys", "gauge");
  out << "failoverd_in_sync " << (s["in_sync"].get<bool>() ? 1 : 0) << "\n";
  gauge("failoverd_eligible", "1 if this node may be elected (it does not yield and can serve)", "gauge");
  out << "failoverd_eligible " << (s["eligible"].get<bool>() ? 1 : 0) << "\n";
  gauge("failoverd_service_link_up", "1 if the service interface is up with carrier", "gauge");
  out << "failoverd_service_link_up " << (s["service_link"].get<bool>() ? 1 : 0) << "\n";
  if (const auto& guard = s["guard"]; !guard.is_null()) {
    gauge("failoverd_vip_guard_open", "1 while the VIP guard lets this node answer for the VIP", "gauge");
    out << "failoverd_vip_guard_open " << (guard["open"].get<bool>() ? 1 : 0) << "\n";
    gauge("failoverd_vip_guard_fired_total",
          "times the VIP guard shut the gate by itself while this node owned the VIP (a stalled daemon)",
          "counter");
    out << "failoverd_vip_guard_fired_total " << guard["fired"] << "\n";
    if (guard.contains("drops")) {
      gauge("failoverd_vip_guard_drops_total", "frames and packets for the VIP the guard dropped, by kind",
            "counter");
      for (const auto& [kind, count] : guard["drops"].items()) {
        out << "failoverd_vip_guard_drops_total{kind=\"" << kind << "\"} " << count << "\n";
      }
    }
  }
  if (const auto lease = s.value("lease", nlohmann::json::object()); lease.value("enabled", false)) {
    gauge("failoverd_lease_held", "1 while this node holds the majority lease", "gauge");
    out << "failoverd_lease_held " << (lease["held"].get<bool>() ? 1 : 0) << "\n";
    gauge("failoverd_lease_renewals_total", "lease requests of this node that a majority of voters granted",
          "counter");
    out << "failoverd_lease_renewals_total " << lease["renewals"] << "\n";
    gauge("failoverd_lease_missed_renewals_total", "lease requests no majority granted before the next one",
          "counter");
    out << "failoverd_lease_missed_renewals_total " << lease["missed_renewals"] << "\n";
    gauge("failoverd_lease_losses_total", "times the lease ended while this node still wanted it", "counter");
    out << "failoverd_lease_losses_total " << lease["losses"] << "\n";
    gauge("failoverd_lease_grants_given_total", "lease requests this node granted as a voter", "counter");
    out << "failoverd_lease_grants_given_total " << lease["grants_given"] << "\n";
    gauge("failoverd_lease_rejected_total", "lease datagrams dropped, by reason", "counter");
    for (const auto& [reason, count] : lease["rejected"].items()) {
      out << "failoverd_lease_rejected_total{reason=\"" << reason << "\"} " << count << "\n";
    }
  }
  const auto& r = s["replication"];
  gauge("failoverd_replication_messages_sent_total", "replication messages sent", "counter");
  out << "failoverd_replication_messages_sent_total " << r["sent"] << "\n";
  gauge("failoverd_replication_messages_received_total", "replication messages received", "counter");
  out << "failoverd_replication_messages_received_total " << r["received"] << "\n";
  gauge("failoverd_replication_records_sent_total", "session records sent", "counter");
  out << "failoverd_replication_records_sent_total " << r["records_sent"] << "\n";
  gauge("failoverd_replication_records_applied_total", "session records imported", "counter");
  out << "failoverd_replication_records_applied_total " << r["records_applied"] << "\n";
  gauge("failoverd_replication_protocol_version",
        "the replication protocol version this node writes: the highest every member speaks", "gauge");
  out << "failoverd_replication_protocol_version " << r["protocol_version"] << "\n";
  gauge("failoverd_replication_cold_starts_total",
        "times this node was in sync without a snapshot because no member held any state", "counter");
  out << "failoverd_replication_cold_starts_total " << r["cold_starts"] << "\n";
  gauge("failoverd_replication_rejected_total", "messages dropped, by reason", "counter");
  for (const auto& [reason, count] : r["rejected"].items()) {
    out << "failoverd_replication_rejected_total{reason=\"" << reason << "\"} " << count << "\n";
  }
  gauge("failoverd_replication_lag_messages", "messages a member has yet to apply (from the active)", "gauge");
  for (const auto& member : s["members"]) {
    if (!member["lag"].is_null()) {
      out << "failoverd_replication_lag_messages{member=\"" << member["name"].get<std::string>() << "\"} "
          << member["lag"] << "\n";
    }
  }
  const auto& sync = r["sync"];
  gauge("failoverd_sync_handshakes_total",
        "sync mode: handshakes whose session was confirmed before the final flight, or not (unprotected, closed)",
        "counter");
  for (const auto* outcome : {"confirmed", "unprotected", "closed"}) {
    out << "failoverd_sync_handshakes_total{outcome=\"" << outcome << "\"} " << sync[outcome] << "\n";
  }
  gauge("failoverd_sync_held_total", "sync mode: handshakes that had to wait for their confirmation", "counter");
  out << "failoverd_sync_held_total " << sync["held"] << "\n";
  gauge("failoverd_sync_wait_seconds_total", "sync mode: time handshakes spent waiting", "counter");
  out << "failoverd_sync_wait_seconds_total " << static_cast<double>(sync["wait_us"].get<std::uint64_t>()) / 1e6 << "\n";
  gauge("failoverd_sessions_cached", "sessions in this node's cache", "gauge");
  out << "failoverd_sessions_cached " << s["sessions_cached"] << "\n";
  gauge("failoverd_handshake_failures_total",
        "TLS handshakes that failed: the client's error or hang-up, or a flight its socket refused", "counter");
  out << "failoverd_handshake_failures_total " << s["handshake_failures"] << "\n";
  gauge("failoverd_handshakes_total", "TLS handshakes completed, by kind", "counter");
  for (const auto& [kind, count] : s["handshakes"].items()) {
    out << "failoverd_handshakes_total{kind=\"" << kind << "\"} " << count << "\n";
  }
  const auto service = s.value("service", nlohmann::json::object());
  if (!service.empty()) {
    gauge("failoverd_connections_total", "TLS connections, by the application protocol ALPN chose", "counter");
    for (const auto& [protocol, count] : service["connections"].items()) {
      out << "failoverd_connections_total{protocol=\"" << protocol << "\"} " << count << "\n";
    }
    gauge("failoverd_http_requests_total", "HTTP requests answered by the static service (HTTP/1.1 and HTTP/2)",
          "counter");
    out << "failoverd_http_requests_total " << service["http_requests"] << "\n";
    gauge("failoverd_http_errors_total",
          "error answers (4xx, and the relay's 502) and HTTP/2 connections ended for a protocol error", "counter");
    out << "failoverd_http_errors_total " << service["http_errors"] << "\n";
    gauge("failoverd_backend_connect_failures_total", "relay connections whose backend could not be reached",
          "counter");
    out << "failoverd_backend_connect_failures_total " << service["backend_connect_failures"] << "\n";
    gauge("failoverd_relayed_bytes_total", "bytes the relay carried, both directions", "counter");
    out << "failoverd_relayed_bytes_total " << service["bytes_relayed"] << "\n";
  }
  gauge("failoverd_request_connections_dropped_total",
        "connections to the control socket or the metrics endpoint closed without their answer, by reason",
        "counter");
  const auto servers = s.value("request_servers", nlohmann::json::object());
  for (const auto& [server, counters] : servers.items()) {
    if (counters.is_null()) {
      continue; // not listening (no metrics-listen)
    }
    for (const auto& [reason, count] : counters.items()) {
      out << "failoverd_request_connections_dropped_total{server=\"" << server << "\",reason=\"" << reason
          << "\"} " << count << "\n";
    }
  }
  return out.str();
}

std::string metricsResponse(std::string_view request, const std::function<nlohmann::json()>& status) {
  std::string out;
  // The request server stops at the blank line and hands over the head without it.
  const auto parsed = tls::parseHttpRequest(std::string(request) + "\r\n\r\n");
  if (parsed.status != tls::HttpParse::Status::Complete) {
    tls::respondError(parsed.error_status != 0 ? parsed.error_status : 400, out);
    return out;
  }
  if (tls::respondUnlessGetOrHead(parsed.request, out)) {
    return out;
  }
  const std::string_view target = parsed.request.target;
  if (target.substr(0, target.find('?')) != "/metrics") {
    tls::respondError(404, out);
    return out;
  }
  const auto body = renderPrometheus(status());
  out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  if (parsed.request.method != "HEAD") {
    out += body;
  }
  return out;
}

} // namespace failover::daemon
