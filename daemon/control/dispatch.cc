#include "daemon/control/dispatch.h"

#include "daemon/control/protocol.h"

#include <algorithm>

namespace failover::daemon {

namespace {
std::string jsonLine(const nlohmann::json& value) { return value.dump() + "\n"; }
} // namespace

std::string errorLine(const std::string& message) { return jsonLine({{"ok", false}, {"error", message}}); }

bool mayControl(const ucred& peer, const std::vector<gid_t>& groups, std::optional<gid_t> group) {
  if (peer.uid == 0) {
    return true;
  }
  return group && (peer.gid == *group || std::find(groups.begin(), groups.end(), *group) != groups.end());
}

std::string answerControl(const std::string& line, ControlTarget& target) {
  auto request = parseControlRequest(line);
  if (!request) {
    return errorLine(request.error().message);
  }
  const auto command = [&](const Event& event) {
    const auto decision = target.handle(event);
    if (decision.refused) {
      return errorLine(*decision.refused);
    }
    auto answer = nlohmann::json{{"ok", true}, {"role", toString(target.role())}};
    if (decision.target) {
      answer["target"] = target.nameOf(*decision.target);
    }
    return jsonLine(answer);
  };
  if (request->command == "status") {
    auto answer = target.status();
    answer["ok"] = true;
    return jsonLine(answer);
  }
  if (request->command == "promote") {
    return command(event::Promote{});
  }
  if (request->command == "demote") {
    return command(event::Demote{});
  }
  const auto& arguments = request->arguments;
  if (request->command == "switchover") {
    if (arguments.empty()) {
      return command(event::Switchover{});
    }
    if (const auto node = target.nodeNamed(arguments[0])) {
      return command(event::Switchover{node});
    }
    return errorLine("no member named '" + arguments[0] + "'");
  }
  if (request->command == "maintenance" && !arguments.empty() && arguments[0] == "off") {
    return command(event::MaintenanceOff{});
  }
  if (request->command == "maintenance" && !arguments.empty() && arguments[0] == "on") {
    return command(event::MaintenanceOn{arguments.size() > 1 && arguments[1] == "--force"});
  }
  if (request->command == "rotate-keys") {
    if (target.role() != Role::Active) {
      return errorLine("the active node rotates the ticket keys: run this on it");
    }
    const auto rotated = target.rotateKeys();
    if (!rotated) {
      return errorLine(rotated.error().message);
    }
    return jsonLine({{"ok", true}, {"ticket_keys", *rotated}});
  }
  if (request->command == "reload") {
    const auto reloaded = target.reload();
    if (!reloaded) {
      return errorLine(reloaded.error());
    }
    return jsonLine({{"ok", true}, {"changed", *reloaded}});
  }
  return errorLine("unknown command '" + request->command + "' (" + remoteCommandNames() + ")");
}

} // namespace failover::daemon
