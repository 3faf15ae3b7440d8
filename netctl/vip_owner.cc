#include "netctl/vip_owner.h"

#include "netctl/frames.h"

#include <sys/epoll.h>

#include <algorithm>

namespace failover::netctl {

using sys::Errc;

namespace {

// rtnetlink acknowledges an address before it returns, so the RTM_NEWADDR is normally already
// queued; this bounds the wait when it is not (then the addresses are re-read).
constexpr std::chrono::milliseconds CONFIRM_TIMEOUT{1000};
// arp_ignore=8: reply to no ARP request on this interface (a standby in shared-ip mode must
// not answer for the VIP it has configured). arp_announce=2: always use the interface's best
// address as the ARP source, never the VIP (the standby must not advertise it either).
constexpr int ARP_IGNORE_ALL = 8;
constexpr int ARP_ANNOUNCE_BEST_LOCAL = 2;

bool contains(const std::vector<IpPrefix>& list, const IpPrefix& prefix) {
  return std::find(list.begin(), list.end(), prefix) != list.end();
}

} // namespace

sys::Result<std::unique_ptr<VipOwner>> VipOwner::create(VipPlan plan, sys::EventLoop& loop,
                                                        Callbacks callbacks) {
  if (plan.vips.empty()) {
    return sys::fail(Errc::InvalidArgument, "no VIP to own");
  }
  auto route = RouteSocket::open();
  if (!route) {
    return std::unexpected(route.error());
  }
  auto monitor = NetlinkMonitor::open(plan.monitor_buffer_bytes);
  if (!monitor) {
    return std::unexpected(monitor.error());
  }
  auto announcer = Announcer::open();
  if (!announcer) {
    return std::unexpected(announcer.error());
  }
  auto announce_timer = sys::TimerFd::create();
  auto confirm_timer = sys::TimerFd::create();
  auto hold_timer = sys::TimerFd::create();
  auto probe_timer = sys::TimerFd::create();
  auto guard_timer = sys::TimerFd::create();
  for (const auto* timer : {&announce_timer, &confirm_timer, &hold_timer, &probe_timer, &guard_timer}) {
    if (!*timer) {
      return std::unexpected(timer->error());
    }
  }
  auto rules = sys::Offload::create(loop);
  if (!rules) {
    return std::unexpected(rules.error());
  }
  std::unique_ptr<VipOwner> owner(new VipOwner(
      std::move(plan), loop, std::move(callbacks), std::move(*route), std::move(*monitor),
      std::move(*announcer), std::move(*announce_timer), std::move(*confirm_timer),
      std::move(*hold_timer), std::move(*probe_timer), std::move(*guard_timer)));
  owner->rules_ = std::move(*rules);
  if (auto ready = owner->setUpStandby(); !ready) {
    (void)owner->shutdown();
    return std::unexpected(ready.error());
  }
  return owner;
}

VipOwner::VipOwner(VipPlan plan, sys::EventLoop& loop, Callbacks callbacks, RouteSocket route,
                   NetlinkMonitor monitor, Announcer announcer, sys::TimerFd announce_timer,
                   sys::TimerFd confirm_timer, sys::TimerFd hold_timer, sys::TimerFd probe_timer,
                   sys::TimerFd guard_timer)
    : plan_(std::move(plan)), loop_(loop), callbacks_(std::move(callbacks)),
      route_(std::move(route)), monitor_(std::move(monitor)), announcer_(std::move(announcer)),
      announce_timer_(std::move(announce_timer)), confirm_timer_(std::move(confirm_timer)),
      hold_timer_(std::move(hold_timer)), probe_timer_(std::move(probe_timer)),
      guard_timer_(std::move(guard_timer)), sysctls_(Sysctl(plan_.sysctl_root), plan_.state_file) {}

VipOwner::~VipOwner() { (void)shutdown(); }

sys::Status VipOwner::setUpStandby() {
  auto link = route_.link(plan_.interface);
  if (!link) {
    return std::unexpected(link.error());
  }
  link_ = *link;
  if (plan_.guard) {
    // First of all: a VIP left by a killed run is silenced before anything else happens.
    auto guard = VipGuard::attach(link_.index, plan_.interface, plan_.vips, plan_.guard->pin_directory);
    if (!guard) {
      return std::unexpected(guard.error());
    }
    guard_ = std::move(*guard);
    if (guard_->tookOver()) {
      reconciled_.push_back("took over the VIP guard an earlier run left on " + plan_.interface);
    }
  }
  for (const auto& vip : plan_.vips) {
    if (vip.address.family == Family::V6 &&
        Sysctl(plan_.sysctl_root).get("net/ipv6/conf/" + plan_.interface + "/disable_ipv6").value_or(0) != 0) {
      return sys::fail(Errc::InvalidArgument,
                       "VIP " + toString(vip) + ": IPv6 is disabled on " + plan_.interface +
                           " (net.ipv6.conf." + plan_.interface + ".disable_ipv6 = 1)");
    }
    if (vip.address.family == Family::V4) {
      frames_.push_back(gratuitousArpFrame(link_.mac, vip.address, ArpForm::Request));
      frames_.push_back(gratuitousArpFrame(link_.mac, vip.address, ArpForm::Reply));
    } else {
      frames_.push_back(unsolicitedNeighbourAdvertisement(link_.mac, vip.address));
    }
  }

  auto restored = sysctls_.reconcile();
  if (!restored) {
    return std::unexpected(restored.error());
  }
  for (const auto& line : *restored) {
    reconciled_.push_back("restored sysctl " + line + " left by an earlier run");
  }
  auto present = route_.addresses(link_.index);
  if (!present) {
    return std::unexpected(present.error());
  }
  for (const auto& vip : plan_.vips) {
    if (moves(vip) && contains(*present, vip)) {
      // A standby must not hold the VIP; it is left over from a crash (or added by hand).
      if (auto removed = route_.removeAddress(link_.index, vip); !removed) {
        return removed;
      }
      reconciled_.push_back("removed stale VIP " + toString(vip) + " from " + plan_.interface);
    }
  }
  if (plan_.mode == TakeoverMode::SharedIp) {
    // Ignore ARP before the VIP appears, so the standby never answers for it.
    if (auto ignored = ignoreArp(true); !ignored) {
      return ignored;
    }
    for (const auto& vip : plan_.vips) {
      if (moves(vip)) {
        continue;
      }
      if (auto added = route_.addAddress(link_.index, vip, plan_.address_lifetime); !added) {
        return added;
      }
    }
  }
  if (plan_.down_on_demote && link_.admin_up) {
    if (auto down = route_.setLinkUp(link_.index, false); !down) {
      return down;
    }
    link_downed_ = true;
  }
  for (const auto& vip : plan_.vips) {
    if (!plan_.hold.ports.empty()) {
      if (auto installed = HoldRule{vip.address, plan_.hold.ports, plan_.hold.queue}.install();
          !installed) {
        return installed;
      }
    }
  }
  hold_rule_in_place_ = !plan_.hold.ports.empty();
  auto watch = [this](int fd, auto handler) {
    return loop_.add(fd, EPOLLIN, [handler](std::uint32_t) { handler(); });
  };
  for (auto status : {watch(monitor_.fd(), [this] { onNetlink(); }),
                      watch(announce_timer_.fd(), [this] {
                        announce_timer_.acknowledge();
                        sendBurstFrame();
                      }),
                      watch(confirm_timer_.fd(), [this] {
                        confirm_timer_.acknowledge();
                        onConfirmTimeout();
                      }),
                      watch(hold_timer_.fd(), [this] {
                        hold_timer_.acknowledge();
                        releaseHold();
                      }),
                      watch(probe_timer_.fd(), [this] {
                        probe_timer_.acknowledge();
                        onProbeTimeout();
                      }),
                      watch(guard_timer_.fd(), [this] {
                        guard_timer_.acknowledge();
                        onGuardTimer();
                      })}) {
    if (!status) {
      return status;
    }
  }
  next_lifetime_refresh_ = monotonicNow() + plan_.address_lifetime / 3;
  return armGuardTimer();
}

sys::Status VipOwner::armGuardTimer() {
  // While answering, the gate is refreshed five times per bound, so that a loop a little late
  // never lets it shut; otherwise the timer only renews the addresses' lifetime, if any.
  if (guard_ && answering()) {
    return guard_timer_.arm(std::max<std::chrono::nanoseconds>(std::chrono::milliseconds(1), plan_.guard->bound / 5));
  }
  if (plan_.address_lifetime.count() > 0) {
    return guard_timer_.arm(std::max<std::chrono::nanoseconds>(
        std::chrono::nanoseconds(0), next_lifetime_refresh_ - monotonicNow()));
  }
  return guard_timer_.disarm();
}

bool VipOwner::gateOpen() const noexcept {
  return guard_ != nullptr && gate_open_until_ > monotonicNow();
}

sys::Status VipOwner::openGate() {
  if (!guard_) {
    return {};
  }
  const auto now = monotonicNow();
  gate_open_until_ = now + plan_.guard->bound;
  if (gate_limit_ && *gate_limit_ < gate_open_until_) {
    gate_open_until_ = *gate_limit_;
    if (gate_open_until_ <= now) {
      shutGate();
      return sys::fail(sys::Errc::Unavailable, "the lease that lets this node answer for the VIP has ended");
    }
  }
  return guard_->openUntil(gate_open_until_);
}

void VipOwner::limitGate(std::chrono::nanoseconds until) {
  gate_limit_ = until;
  if (guard_ && answering() && gate_open_until_ > monotonicNow()) {
    (void)openGate(); // a limit that has passed shuts the gate now; the guard timer then lets the VIP go
  }
}

void VipOwner::shutGate() {
  gate_open_until_ = std::chrono::nanoseconds{0};
  if (guard_) {
    // If even this fails the gate shuts by itself within the bound: nothing refreshes it.
    (void)guard_->shut();
  }
}

void VipOwner::onGuardTimer() {
  const auto now = monotonicNow();
  if (guard_ && answering()) {
    if (gate_limit_ && now >= *gate_limit_) {
      fail("the lease that lets this node answer for the VIP has ended: the kernel stopped answering for it");
    } else if (now >= gate_open_until_) {
      // The kernel has already shut the gate: this process was frozen, starved or stalled
      // past the bound, and another node may have taken the VIP meanwhile. It must not
      // answer again on its own say-so: let the VIP go, and let the election decide anew.
      ++guard_fired_;
      const auto last_refresh = gate_open_until_ - plan_.guard->bound;
      const auto stalled = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_refresh);
      fail("the VIP guard shut the gate: this process did not run for " + std::to_string(stalled.count()) +
           " ms (bound " + std::to_string(plan_.guard->bound.count()) + " ms)");
    } else if (auto opened = openGate(); !opened) {
      fail("cannot keep the VIP guard open: " + opened.error().message);
    }
  }
  if (plan_.address_lifetime.count() > 0 && now >= next_lifetime_refresh_) {
    next_lifetime_refresh_ = now + plan_.address_lifetime / 3;
    refreshLifetimes();
  }
  (void)armGuardTimer();
}

void VipOwner::refreshLifetimes() {
  for (const auto& vip : plan_.vips) {
    // Moved VIPs only while owned (and not the IPv6 ones a quiesced node gave up); shared
    // ones always, for they are on standbys too.
    const bool held = moves(vip) ? answering() && !quiescedAway(vip) : true;
    if (!held) {
      continue;
    }
    if (auto renewed = route_.addAddress(link_.index, vip, plan_.address_lifetime); !renewed && answering()) {
      fail("cannot renew the lifetime of VIP " + toString(vip) + ": " + renewed.error().message);
      return;
    }
  }
}

bool VipOwner::moves(const IpPrefix& vip) const noexcept {
  return plan_.mode == TakeoverMode::MoveIp || vip.address.family == Family::V6;
}

sys::Status VipOwner::ignoreArp(bool ignore) {
  const auto ignore_key = interfaceSysctl(plan_.interface, "arp_ignore");
  const auto announce_key = interfaceSysctl(plan_.interface, "arp_announce");
  if (auto set = sysctls_.set(announce_key, ARP_ANNOUNCE_BEST_LOCAL); !set) {
    return set;
  }
  if (ignore) {
    return sysctls_.set(ignore_key, ARP_IGNORE_ALL);
  }
  // "Clearing" arp_ignore means giving back the operator's own value, not forcing 0.
  return sysctls_.set(ignore_key, sysctls_.original(ignore_key).value_or(0));
}

sys::Status VipOwner::promote(std::chrono::milliseconds wait_out) {
  if (state_ != State::Standby) {
    return {};
  }
  if (wait_out.count() > 0) {
    // The probe timer is free until the wait is over: it ends the wait.
    state_ = State::WaitingOut;
    probe_timer_due_ = monotonicNow() + wait_out;
    return probe_timer_.arm(wait_out);
  }
  if (plan_.probe_timeout.count() > 0) {
    for (const auto& vip : plan_.vips) {
      if (vip.address.family != Family::V4) {
        continue;
      }
      auto probe = ArpProbe::send(link_.index, link_.mac, vip.address);
      if (!probe) {
        stopProbing();
        return std::unexpected(probe.error());
      }
      probes_.push_back(std::move(*probe));
      probed_.push_back(vip);
      const std::size_t index = probes_.size() - 1;
      (void)loop_.add(probes_.back().fd(), EPOLLIN,
                      [this, index](std::uint32_t) { onProbeAnswer(index); });
    }
    if (!probes_.empty()) {
      state_ = State::Probing;
      probe_timer_due_ = monotonicNow() + plan_.probe_timeout;
      (void)probe_timer_.arm(plan_.probe_timeout);
      return {};
    }
  }
  return takeOver();
}

void VipOwner::stopProbing() {
  (void)probe_timer_.disarm();
  for (const auto& probe : probes_) {
    loop_.remove(probe.fd());
  }
  probes_.clear();
  probed_.clear();
}

void VipOwner::onProbeAnswer(std::size_t index) {
  if (state_ != State::Probing) {
    return;
  }
  const auto owner = probes_[index].answer();
  if (!owner) {
    return;
  }
  const auto vip = probed_[index];
  stopProbing();
  state_ = State::Standby;
  if (callbacks_.lost) {
    callbacks_.lost("VIP " + toString(vip) + " is already answered by " + toString(*owner) +
                    " on " + plan_.interface +
                    ": another host has this address; remove it there, or fix the VIP");
  }
}

void VipOwner::onProbeTimeout() {
  if (state_ != State::WaitingOut && state_ != State::Probing) {
    return;
  }
  if (const auto late = monotonicNow() - probe_timer_due_; plan_.guard && late > plan_.guard->bound) {
    // This process stalled past the guard's bound while it waited: to the others it was
    // gone, and one of them may hold the VIP by now. The decision to take it was made on
    // what was true before the stall; let the election make it again on what is true now
    // (the cluster simulator found a node that took the VIP on such a stale decision).
    stopProbing();
    state_ = State::Standby;
    if (callbacks_.lost) {
      callbacks_.lost("this process stalled for " +
                      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(late).count()) +
                      " ms while waiting to take the VIP (guard bound " + std::to_string(plan_.guard->bound.count()) +
                      " ms): deciding again");
    }
    return;
  }
  if (state_ == State::WaitingOut) {
    state_ = State::Standby;
    if (auto taken = promote({}); !taken && callbacks_.lost) {
      callbacks_.lost(taken.error().message);
    }
    return;
  }
  // Nobody else answered: the VIP is free to take.
  stopProbing();
  state_ = State::Standby;
  if (auto taken = takeOver(); !taken && callbacks_.lost) {
    callbacks_.lost(taken.error().message);
  }
}

sys::Status VipOwner::takeOver() {
  // A node whose service link is dead must not claim the VIP: it would hold it unreachable
  // (and, after a partition heals, win it back from a node that can serve).
  if (!link_downed_) {
    auto link = route_.link(link_.index);
    if (!link) {
      return std::unexpected(link.error());
    }
    if (!link->admin_up || !link->carrier_up) {
      return sys::fail(Errc::Unavailable, "interface " + plan_.interface +
                                              (link->admin_up ? " has no carrier" : " is down") +
                                              ": not taking the VIP");
    }
  }
  if (!plan_.hold.ports.empty()) {
    auto hold = PacketHold::bind(plan_.hold.queue, plan_.hold.max_held);
    if (!hold) {
      return std::unexpected(hold.error());
    }
    hold_ = std::move(*hold);
    if (auto added = loop_.add(hold_->fd(), EPOLLIN, [this](std::uint32_t) {
          auto read = hold_->onReadable();
          if (!read) {
            fail(read.error().message);
          } else if (*read > 0 && callbacks_.held) {
            callbacks_.held(hold_->held());
          }
        });
        !added) {
      hold_.reset();
      return added;
    }
    (void)hold_timer_.arm(plan_.hold.timeout);
  }
  if (link_downed_) {
    if (auto up = route_.setLinkUp(link_.index, true); !up) {
      return up;
    }
    link_downed_ = false;
  }
  // The gate opens before the node can answer; from here on the timer keeps it open.
  if (auto opened = openGate(); !opened) {
    return opened;
  }
  state_ = State::Confirming;
  (void)armGuardTimer();
  if (plan_.mode == TakeoverMode::SharedIp) {
    if (auto answer = ignoreArp(false); !answer) {
      shutGate();
      state_ = State::Standby;
      return answer;
    }
  }
  bool added_any = false;
  for (const auto& vip : plan_.vips) {
    if (!moves(vip)) {
      continue;
    }
    if (auto added = route_.addAddress(link_.index, vip, plan_.address_lifetime); !added) {
      (void)demote();
      return added;
    }
    added_any = true;
  }
  if (!added_any) {
    becomeActive();
    return {};
  }
  (void)confirm_timer_.arm(CONFIRM_TIMEOUT);
  // The kernel's RTM_NEWADDR for the VIPs is usually queued by now.
  onNetlink();
  return {};
}

void VipOwner::onNetlink() {
  auto events = monitor_.read();
  if (!events) {
    fail(events.error().message);
    return;
  }
  bool resync = false;
  std::vector<IpPrefix> added;
  for (const auto& event : *events) {
    switch (event.kind) {
    case NetEvent::Kind::Resync:
      resync = true;
      break;
    case NetEvent::Kind::AddressAdded:
      if (event.index == link_.index) {
        added.push_back(event.prefix);
      }
      break;
    case NetEvent::Kind::AddressRemoved:
      if (event.index == link_.index && state_ == State::Active && contains(plan_.vips, event.prefix) &&
          !quiescedAway(event.prefix)) {
        fail("VIP " + toString(event.prefix) + " was removed from " + plan_.interface +
             " by someone else");
        return;
      }
      break;
    case NetEvent::Kind::LinkChanged:
      if (event.index != link_.index) {
        break;
      }
      onLinkChanged(event.admin_up, event.carrier_up);
      if (state_ != State::Standby && (!event.admin_up || !event.carrier_up)) {
        fail("interface " + plan_.interface + (event.admin_up ? " lost its carrier" : " went down"));
        return;
      }
      break;
    }
  }
  if (resync) {
    if (auto link = route_.link(link_.index)) {
      onLinkChanged(link->admin_up, link->carrier_up);
    }
  }
  if (resync && state_ != State::Standby) {
    // Events were lost: believe the kernel's current state, not what we last heard.
    auto present = route_.addresses(link_.index);
    auto link = route_.link(link_.index);
    if (!present || !link) {
      fail("cannot re-read " + plan_.interface + " after lost netlink events");
      return;
    }
    if (!link->admin_up || !link->carrier_up) {
      fail("interface " + plan_.interface + " is down (found after lost netlink events)");
      return;
    }
    if (state_ == State::Active) {
      for (const auto& vip : plan_.vips) {
        if (!contains(*present, vip) && !quiescedAway(vip)) {
          fail("VIP " + toString(vip) + " is gone from " + plan_.interface +
               " (found after lost netlink events)");
          return;
        }
      }
    }
    added = *present;
  }
  if (state_ == State::Confirming) {
    confirmIfComplete(added);
  }
}

void VipOwner::onLinkChanged(bool admin_up, bool carrier_up) {
  const bool was = serviceable();
  link_.admin_up = admin_up;
  link_.carrier_up = carrier_up;
  if (was != serviceable() && callbacks_.service_link) {
    callbacks_.service_link(serviceable());
  }
}

void VipOwner::onConfirmTimeout() {
  if (state_ != State::Confirming) {
    return;
  }
  auto present = route_.addresses(link_.index);
  if (!present) {
    fail(present.error().message);
    return;
  }
  confirmIfComplete(*present);
  if (state_ == State::Confirming) {
    fail("the kernel did not confirm the VIP on " + plan_.interface + " within " +
         std::to_string(CONFIRM_TIMEOUT.count()) + " ms");
  }
}

void VipOwner::confirmIfComplete(const std::vector<IpPrefix>& present) {
  // Confirmation of one VIP may arrive in an earlier batch than another's; re-read once
  // any is seen, so that partial batches cannot stall the takeover.
  const bool all = std::all_of(plan_.vips.begin(), plan_.vips.end(),
                               [&](const IpPrefix& vip) { return contains(present, vip); });
  if (all) {
    becomeActive();
    return;
  }
  if (!present.empty()) {
    auto current = route_.addresses(link_.index);
    if (current && std::all_of(plan_.vips.begin(), plan_.vips.end(),
                               [&](const IpPrefix& vip) { return contains(*current, vip); })) {
      becomeActive();
    }
  }
}

void VipOwner::becomeActive() {
  (void)confirm_timer_.disarm();
  state_ = State::Active;
  burst_frames_left_ = plan_.announce.count;
  repeat_pending_ = plan_.announce.count > 0 && plan_.announce.repeat_after.count() > 0;
  if (plan_.announce.count > 0) {
    sendBurstFrame();
  }
  if (callbacks_.taken) {
    callbacks_.taken();
  }
}

void VipOwner::sendBurstFrame() {
  if (state_ != State::Active) {
    return;
  }
  if (burst_frames_left_ == 0) {
    // The timer fired for the second burst.
    if (!repeat_pending_) {
      return;
    }
    repeat_pending_ = false;
    burst_frames_left_ = plan_.announce.count;
  }
  for (const auto& frame : frames_) {
    // A failed announcement is not fatal: the next frame or burst may get through.
    if (announcer_.send(link_.index, frame)) {
      ++frames_sent_;
    }
  }
  --burst_frames_left_;
  if (burst_frames_left_ > 0) {
    (void)announce_timer_.arm(plan_.announce.interval);
  } else if (repeat_pending_) {
    (void)announce_timer_.arm(plan_.announce.repeat_after);
  }
}

sys::Status VipOwner::serviceReady() {
  releaseHold();
  return {};
}

void VipOwner::releaseHold() {
  (void)hold_timer_.disarm();
  if (!hold_ || !hold_->holding()) {
    return;
  }
  // Drain what arrived since the last wake-up, then accept it all; from now on the consumer
  // accepts at once, and the rule is removed so new connections skip userspace entirely.
  (void)hold_->onReadable();
  held_before_ += hold_->held();
  (void)hold_->release();
  changeHoldRules(false);
}

void VipOwner::changeHoldRules(bool install) {
  const auto change = ++hold_rule_changes_;
  hold_rule_in_place_ = false;
  std::vector<HoldRule> rules;
  for (const auto& vip : plan_.vips) {
    rules.push_back(HoldRule{vip.address, plan_.hold.ports, plan_.hold.queue});
  }
  rules_->post(
      [rules = std::move(rules), install]() -> sys::Status {
        for (const auto& rule : rules) {
          if (auto changed = install ? rule.install() : rule.remove(); !changed) {
            return changed;
          }
        }
        return {};
      },
      [this, install, change](const sys::Status& status) {
        if (change == hold_rule_changes_) {
          hold_rule_in_place_ = install && status.has_value();
        }
        if (!status && callbacks_.background_failed) {
          callbacks_.background_failed(std::string(install ? "adding" : "removing") +
                                       " the connection-hold rule: " + status.error().message);
        }
      });
}

bool VipOwner::newConnectionsHeld() const noexcept {
  return plan_.hold.ports.empty() || (hold_ && hold_->holding() && hold_rule_in_place_);
}

std::uint64_t VipOwner::connectionsHeld() const noexcept {
  return hold_ ? hold_->total_held() : held_before_;
}

void VipOwner::disarm() {
  stopProbing();
  (void)announce_timer_.disarm();
  (void)confirm_timer_.disarm();
  (void)hold_timer_.disarm();
  burst_frames_left_ = 0;
  repeat_pending_ = false;
}

sys::Status VipOwner::quiesce() {
  if (state_ != State::Active || quiesced_) {
    return {};
  }
  disarm();
  quiesced_ = true;
  if (auto ignored = ignoreArp(true); !ignored) {
    return ignored;
  }
  for (const auto& vip : plan_.vips) {
    if (vip.address.family == Family::V6) {
      if (auto removed = route_.removeAddress(link_.index, vip); !removed) {
        return removed;
      }
    }
  }
  return {};
}

sys::Status VipOwner::holdNewConnections() {
  if (!hold_ || plan_.hold.ports.empty()) {
    return {};
  }
  hold_->holdAgain();
  changeHoldRules(true);
  return {};
}

void VipOwner::forwardHeld(const MacAddress& to) {
  if (!hold_) {
    return;
  }
  hold_->forwardAndDrop([this, to](std::span<const std::uint8_t> packet) {
    const std::uint16_t ethertype = (packet[0] >> 4) == 6 ? 0x86dd : 0x0800;
    std::vector<std::uint8_t> frame(to.bytes.begin(), to.bytes.end());
    frame.insert(frame.end(), link_.mac.bytes.begin(), link_.mac.bytes.end());
    frame.push_back(static_cast<std::uint8_t>(ethertype >> 8));
    frame.push_back(static_cast<std::uint8_t>(ethertype & 0xff));
    frame.insert(frame.end(), packet.begin(), packet.end());
    (void)announcer_.send(link_.index, frame);
  });
}

sys::Status VipOwner::resume() {
  releaseHold();
  if (!quiesced_) {
    return {};
  }
  quiesced_ = false;
  if (auto answer = ignoreArp(false); !answer) {
    return answer;
  }
  for (const auto& vip : plan_.vips) {
    if (auto added = route_.addAddress(link_.index, vip, plan_.address_lifetime); !added) {
      return added;
    }
  }
  becomeActive();
  return {};
}

sys::Status VipOwner::demote() {
  // Silence first, in the kernel: from here on nothing this node still holds answers.
  shutGate();
  disarm();
  const bool was_standby = state_ == State::Standby;
  state_ = State::Standby;
  sys::Status status;
  const auto keep_first_error = [&status](sys::Status step) {
    if (!step && status) {
      status = step;
    }
  };
  for (const auto& vip : plan_.vips) {
    if (moves(vip)) {
      keep_first_error(route_.removeAddress(link_.index, vip));
    }
  }
  if (plan_.mode == TakeoverMode::SharedIp) {
    keep_first_error(ignoreArp(true));
  } else if (quiesced_) {
    // A move-ip standby answers ARP as the operator configured it: put that back.
    keep_first_error(sysctls_.restoreAll());
  }
  quiesced_ = false;
  if (hold_) {
    // The VIP no longer reaches this node, so nothing new can be queued; unbinding is safe.
    loop_.remove(hold_->fd());
    held_before_ = hold_->total_held();
    hold_.reset();
  }
  if (!plan_.hold.ports.empty() && !was_standby) {
    changeHoldRules(true);
  }
  if (plan_.down_on_demote && !link_downed_) {
    keep_first_error(route_.setLinkUp(link_.index, false));
    link_downed_ = true;
  }
  return status;
}

void VipOwner::fail(const std::string& reason) {
  if (state_ == State::Standby) {
    return;
  }
  (void)demote();
  if (callbacks_.lost) {
    callbacks_.lost(reason);
  }
}

sys::Status VipOwner::shutdown() {
  if (shut_down_) {
    return {};
  }
  shut_down_ = true;
  sys::Status status;
  const auto keep_first_error = [&status](sys::Status step) {
    if (!step && status) {
      status = step;
    }
  };
  shutGate();
  disarm();
  (void)guard_timer_.disarm();
  state_ = State::Standby;
  if (rules_) {
    rules_->finish(); // the removal below comes after any change still queued
  }
  for (int fd : {monitor_.fd(), announce_timer_.fd(), confirm_timer_.fd(), hold_timer_.fd(),
                 probe_timer_.fd(), guard_timer_.fd()}) {
    loop_.remove(fd);
  }
  if (hold_) {
    loop_.remove(hold_->fd());
    hold_.reset();
  }
  if (link_.index != 0) {
    for (const auto& vip : plan_.vips) {
      keep_first_error(route_.removeAddress(link_.index, vip));
      if (!plan_.hold.ports.empty()) {
        keep_first_error(HoldRule{vip.address, plan_.hold.ports, plan_.hold.queue}.remove());
      }
    }
    if (link_downed_) {
      keep_first_error(route_.setLinkUp(link_.index, true));
      link_downed_ = false;
    }
  }
  keep_first_error(sysctls_.restoreAll());
  if (guard_) {
    keep_first_error(guard_->detach());
  }
  return status;
}

} // namespace failover::netctl
