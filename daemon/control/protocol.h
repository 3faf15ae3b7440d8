#pragma once

#include "sys/error.h"

#include <string>
#include <string_view>
#include <vector>

namespace failover::daemon {

// The control protocol (version 1), over the control socket:
//   request:  one line, "1 COMMAND [ARGUMENT...]\n", at most 1 KiB, words separated by spaces
//   response: one JSON object and a newline; {"ok": true, ...} or {"ok": false, "error": "..."}
// Commands: status, promote, demote (see failoverctl(8)).
inline constexpr unsigned CONTROL_VERSION = 1;
inline constexpr std::size_t MAX_CONTROL_REQUEST = 1024;

struct ControlRequest {
  unsigned version = CONTROL_VERSION;
  std::string command;
  std::vector<std::string> arguments;
};

// The one decoder of control requests.
sys::Result<ControlRequest> parseControlRequest(std::string_view line);
std::string formatControlRequest(const ControlRequest& request);

} // namespace failover::daemon
