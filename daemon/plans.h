#pragma once

#include "daemon/config.h"
#include "daemon/role/role_machine.h"
#include "netctl/vip_owner.h"

namespace failover::daemon {

// What the components are built from: the parts of the configuration each one takes.
RoleSettings roleSettings(const Config& config);
netctl::VipPlan vipPlan(const Config& config);

} // namespace failover::daemon
