#pragma once

#include "daemon/role/role_machine.h"
#include "sys/error.h"

#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include <expected>
#include <optional>
#include <string>
#include <vector>

namespace failover::daemon {

// What the control commands act on. The agent is one; the unit tests have a fake, so the
// mapping from a request to what it does is tested without a daemon.
class ControlTarget {
public:
  virtual ~ControlTarget() = default;
  // Feeds the role machine (promote, demote, switchover, maintenance) and carries out its decision.
  virtual Decision handle(const Event& event) = 0;
  virtual Role role() const = 0;
  virtual std::string nameOf(std::uint32_t node) const = 0;
  virtual std::optional<std::uint32_t> nodeNamed(const std::string& name) const = 0;
  virtual nlohmann::json status() const = 0;
  // Rotates the ticket keys and publishes the keyring; returns how many keys it holds.
  virtual sys::Result<std::size_t> rotateKeys() = 0;
  // The live keys it applied, or why it kept the running configuration.
  virtual std::expected<std::vector<std::string>, std::string> reload() = 0;
};

// Answers one request line of the control protocol (control/protocol.h) with one JSON line.
std::string answerControl(const std::string& line, ControlTarget& target);
std::string errorLine(const std::string& message);

// Who may use the control socket: root always; members of the configured group too (primary
// or supplementary, as the kernel reports them for the peer process, not as /etc/group lists).
bool mayControl(const ucred& peer, const std::vector<gid_t>& groups, std::optional<gid_t> group);

} // namespace failover::daemon
