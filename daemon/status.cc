#include "daemon/status.h"

#include "daemon/role/role_machine.h"

#include <sstream>

namespace failover::daemon {

std::string renderPrometheus(const nlohmann::json& s) {
  std::ostringstream out;
  const auto gauge = [&out](const std::string& name, const std::string& help, const std::string& type) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
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
  const auto& r = s["replication"];
  gauge("failoverd_replication_messages_sent_total", "replication messages sent", "counter");
  out << "failoverd_replication_messages_sent_total " << r["sent"] << "\n";
  gauge("failoverd_replication_messages_received_total", "replication messages received", "counter");
  out << "failoverd_replication_messages_received_total " << r["received"] << "\n";
  gauge("failoverd_replication_records_sent_total", "session records sent", "counter");
  out << "failoverd_replication_records_sent_total " << r["records_sent"] << "\n";
  gauge("failoverd_replication_records_applied_total", "session records imported", "counter");
  out << "failoverd_replication_records_applied_total " << r["records_applied"] << "\n";
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
  gauge("failoverd_handshakes_total", "TLS handshakes completed, by kind", "counter");
  for (const auto& [kind, count] : s["handshakes"].items()) {
    out << "failoverd_handshakes_total{kind=\"" << kind << "\"} " << count << "\n";
  }
  return out.str();
}

} // namespace failover::daemon
