#pragma once

#include "sys/error.h"

#include <string>
#include <string_view>
#include <vector>

namespace failover::daemon {

// The control protocol (version 1), over the control socket:
//   request:  one line, "1 COMMAND [ARGUMENT...]\n", at most 1 KiB, words separated by spaces
//   response: one JSON object and a newline; {"ok": true, ...} or {"ok": false, "error": "..."}
// Commands: CONTROL_COMMANDS below (see failoverctl(8)).
inline constexpr unsigned CONTROL_VERSION = 1;
inline constexpr std::size_t MAX_CONTROL_REQUEST = 1024;

struct ControlRequest {
  unsigned version = CONTROL_VERSION;
  std::string command;
  std::vector<std::string> arguments;
};

// The commands, in one table: failoverctl's help lists it, the daemon names it when a
// command is unknown. `remote`: sent over the socket (keygen is failoverctl's own).
struct ControlCommand {
  std::string_view name;
  std::string_view usage;
  std::string_view help;
  bool remote = true;
};
inline constexpr ControlCommand CONTROL_COMMANDS[] = {
    {"status", "status [--json]", "this node's role, the members, quorum, the VIP owner, sync and lag"},
    {"promote", "promote", "make this node active (when no other node is)"},
    {"demote", "demote", "step down; an in-sync standby takes over"},
    {"switchover", "switchover [[--to] NODE]", "planned handover of the VIP to NODE (or the best standby)"},
    {"maintenance", "maintenance on [--force]|off", "on: hand over if active and never be elected; off: back"},
    {"rotate-keys", "rotate-keys", "rotate the TLS ticket keys cluster-wide (on the active)"},
    {"reload", "reload", "re-read the configuration and apply what may change live (as SIGHUP)"},
    {"keygen", "keygen FILE", "create a new random cluster key file (mode 0600)", false},
};
// "status, promote, ...": the commands the daemon answers.
std::string remoteCommandNames();

// The one decoder of control requests.
sys::Result<ControlRequest> parseControlRequest(std::string_view line);
std::string formatControlRequest(const ControlRequest& request);

} // namespace failover::daemon
