#include "daemon/plans.h"

namespace failover::daemon {

RoleSettings roleSettings(const Config& config) {
  RoleSettings settings;
  settings.priority = config.node_priority;
  settings.preempt = config.preempt;
  settings.guard_bound = config.guard.bound;
  settings.lease = config.lease.enabled;
  return settings;
}

netctl::VipPlan vipPlan(const Config& config) {
  netctl::VipPlan plan;
  plan.interface = config.interface;
  plan.vips = config.vips;
  plan.mode = config.takeover_mode;
  plan.down_on_demote = config.down_on_demote;
  plan.announce = config.announce;
  if (config.hold_timeout.count() > 0) {
    plan.hold.ports = {config.listener.port};
    plan.hold.queue = config.hold_queue;
    plan.hold.timeout = config.hold_timeout;
  }
  plan.state_file = config.state_directory / ("netctl-" + config.interface + ".state");
  plan.probe_timeout = config.probe_timeout;
  plan.guard = netctl::GuardPlan{config.guard.pin_directory / config.interface, config.guard.bound};
  plan.address_lifetime = config.vip_lifetime;
  return plan;
}

} // namespace failover::daemon
