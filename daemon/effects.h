#pragma once

#include "daemon/role/role_machine.h"
#include "netctl/vip_control.h"

#include <functional>
#include <optional>
#include <string>

namespace failover::daemon {

// Where a decision's effects go besides the VIP: replication and the TLS service. The agent
// is the real one; the unit tests record what reaches it.
class ClusterEffects {
public:
  virtual ~ClusterEffects() = default;
  virtual void resync() = 0;
  virtual void publishKeyring() = 0;
  virtual void sendHandover(const HandoverStep& step) = 0;
  virtual void closeConnections() = 0;
  // The majority lease (when on): ask for it, give it back, name a switchover's target.
  virtual void contendLease() = 0;
  virtual void releaseLease() = 0;
  virtual void leaseSuccessor(std::uint32_t node) = 0;
};

struct EffectsOutcome {
  // A takeover that could not start: the effects after it did not run; the agent feeds this
  // back to the decision core as TakeoverFailed.
  std::optional<std::string> takeover_failed;
  bool exit = false; // the decision says this process ends (after the rest ran)
};

// Carries out a decision's effects in their order. A VIP operation that fails is logged and
// the others still run; only a takeover that cannot start stops the sequence.
EffectsOutcome carryOutEffects(const Decision& decision, netctl::VipControl& vip, ClusterEffects& cluster,
                               const std::function<std::string(std::uint32_t)>& name_of);

} // namespace failover::daemon
