#pragma once

#include "netctl/address.h"
#include "netctl/announcer.h"
#include "netctl/arp_probe.h"
#include "netctl/hold.h"
#include "netctl/rtnl.h"
#include "sys/event_loop.h"
#include "sys/offload.h"
#include "netctl/sysctl.h"
#include "netctl/vip_control.h"
#include "netctl/vip_guard.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace failover::netctl {

// How a node takes the VIP (BRIEF section 2, and keepalived/IPaddr2).
enum class TakeoverMode {
  MoveIp,   // the active adds the VIP; standbys do not have it
  SharedIp, // IPv4 VIPs are on every node and standbys ignore ARP (arp_ignore=8); IPv6 VIPs
            // move as in MoveIp, because Linux has no arp_ignore for neighbour discovery and
            // a standby holding the address would answer solicitations for it
};

struct AnnouncePlan {
  unsigned count = 5;                        // frames per VIP and form in a burst
  std::chrono::milliseconds interval{100};   // between the frames of a burst
  std::chrono::milliseconds repeat_after{5000}; // a second burst (0: none), as keepalived does
};

struct HoldPlan {
  std::vector<std::uint16_t> ports; // empty: no connection hold
  std::uint16_t queue = 0;
  std::chrono::milliseconds timeout{3000}; // longest a SYN is held if the service never gets ready
  std::uint32_t max_held = 4096;
};

// The dead man's switch below the process (VipGuard, docs/netctl.md "The VIP guard").
struct GuardPlan {
  std::filesystem::path pin_directory; // on a bpf file system; one directory per interface
  std::chrono::milliseconds bound{50}; // the gate shuts this long after the owner's last refresh
};

struct VipPlan {
  std::string interface;
  std::vector<IpPrefix> vips;
  TakeoverMode mode = TakeoverMode::MoveIp;
  bool down_on_demote = false; // bring the interface down when demoted (self-fence)
  AnnouncePlan announce;
  HoldPlan hold;
  std::filesystem::path state_file; // where sysctl originals survive a crash
  std::filesystem::path sysctl_root = "/proc/sys";
  int monitor_buffer_bytes = NetlinkMonitor::DEFAULT_BUFFER;
  // Before taking an IPv4 VIP, ask the segment whether another host answers for it and wait
  // this long for a reply (0: do not ask). A reply refuses the takeover.
  std::chrono::milliseconds probe_timeout{0};
  // Without a guard nothing below this process stops the node answering for the VIP if the
  // process dies (tools and tests only; the daemon always has one).
  std::optional<GuardPlan> guard;
  // The VIPs are added with this lifetime and refreshed while owned (0: forever), so that the
  // kernel removes them itself this long (plus its expiry check, about a second) after the
  // owner is gone: a coarse backstop that needs no BPF.
  std::chrono::seconds address_lifetime{0};
};

// Owns the VIP on one interface: the standby set-up, the takeover sequence, the release
// sequence, and the undo of everything it changed. The order of a takeover is fixed:
//   bind the connection hold -> (shared-ip) answer ARP again / (move-ip) add the VIPs ->
//   wait for the kernel's RTM_NEWADDR -> announce (GARP request+reply, unsolicited NA) ->
//   `taken` -> the service listens -> serviceReady() releases the held SYNs.
// Release runs the same steps backwards. Everything runs on the caller's event loop.
class VipOwner final : public VipControl {
public:
  enum class State { Standby, WaitingOut, Probing, Confirming, Active };

  struct Callbacks {
    std::function<void()> taken;                    // the VIP is ours and announced
    // The VIP or the link was lost while active, or a takeover could not complete.
    std::function<void(const std::string&)> lost;
    std::function<void(std::size_t)> held;          // connection attempts now being held
    // The service interface became able (up with carrier) or unable to serve.
    std::function<void(bool)> service_link;
    // A step run in the background failed (adding or removing the connection-hold rule):
    // the VIP is unaffected, but connection attempts may not be held during the next move.
    std::function<void(const std::string&)> background_failed;
  };

  // Sets the node up as a standby, first undoing what a crashed earlier run left behind
  // (its sysctls, a stale VIP) and installing the hold rule. Notes on what it reconciled are
  // in reconciled().
  static sys::Result<std::unique_ptr<VipOwner>> create(VipPlan plan, sys::EventLoop& loop,
                                                       Callbacks callbacks);
  ~VipOwner() override;
  VipOwner(const VipOwner&) = delete;
  VipOwner& operator=(const VipOwner&) = delete;

  // Takes the VIP over. With `wait_out`, not before that long: the previous owner's guard
  // may hold its gate open that long after it was last seen (a failover, not a handover).
  sys::Status promote(std::chrono::milliseconds wait_out) override;
  // The service now accepts on the VIP: let the held connection attempts through.
  sys::Status serviceReady();
  sys::Status demote() override;
  // Planned switchover, on the active: stop answering ARP for the VIP (and give up IPv6
  // VIPs, which cannot be ignored) while keeping the IPv4 VIP, so clients that still have
  // this node's MAC cached are served until the new active's announcement reaches them.
  sys::Status quiesce() override;
  // The switchover failed: answer for the VIP again and announce it.
  sys::Status resume() override;
  // Planned switchover, on the active, before quiesce(): hold new connection attempts so
  // that none is in flight when the VIP moves (open ones finish here meanwhile).
  sys::Status holdNewConnections() override;
  // After the new active has the VIP: forward the held SYNs to it (its MAC), drop ours, and
  // do the same with those that still reach this node until it lets the VIP go.
  void forwardHeld(const MacAddress& to) override;
  // Demotes if needed and restores every address, sysctl, rule and link state it changed.
  sys::Status shutdown();
  // With a lease (the daemon's majority lease): the guard's gate may stay open no later than
  // `until` (CLOCK_MONOTONIC, as bpf_ktime_get_ns() reads it; 0 keeps it shut), whatever the
  // liveness bound would allow. Written into the kernel at once while answering.
  void limitGate(std::chrono::nanoseconds until);

  State state() const noexcept { return state_; }
  // Whether this node could serve the VIP: its service interface is up with carrier (or down
  // only because this node fences itself while a standby).
  bool serviceable() const noexcept { return link_downed_ || (link_.admin_up && link_.carrier_up); }
  const VipGuard* guard() const noexcept { return guard_.get(); }
  // Whether the guard lets packets for the VIP through (as this process last wrote it).
  bool gateOpen() const noexcept;
  // Times the guard's gate was found shut by the kernel while this node still owned the VIP.
  std::uint64_t guardFired() const noexcept { return guard_fired_; }
  const LinkInfo& link() const noexcept { return link_; }
  const std::vector<std::string>& reconciled() const noexcept { return reconciled_; }
  std::uint64_t framesSent() const noexcept { return frames_sent_; }
  std::uint64_t connectionsHeld() const noexcept;
  // New connection attempts to the VIP are held: the consumer holds and the rule that queues
  // them to it is in the kernel (true without a configured hold: there is nothing to wait for).
  bool newConnectionsHeld() const noexcept;

private:
  VipOwner(VipPlan plan, sys::EventLoop& loop, Callbacks callbacks, RouteSocket route,
           NetlinkMonitor monitor, Announcer announcer, sys::TimerFd announce_timer,
           sys::TimerFd confirm_timer, sys::TimerFd hold_timer, sys::TimerFd probe_timer,
           sys::TimerFd guard_timer);

  sys::Status setUpStandby();
  // Whether vip is added on promotion and removed on demotion (rather than always present).
  bool moves(const IpPrefix& vip) const noexcept;
  sys::Status ignoreArp(bool ignore);
  sys::Status takeOver();
  void onProbeAnswer(std::size_t index);
  void onProbeTimeout();
  void stopProbing();
  void onNetlink();
  void onConfirmTimeout();
  void confirmIfComplete(const std::vector<IpPrefix>& present);
  void becomeActive();
  void sendBurstFrame();
  void releaseHold();
  // Adds (or removes) the connection-hold rule for every VIP on the helper thread: iptables
  // must not stall the loop (sys::Offload says why). Jobs run in order, so an add and a
  // later removal never cross.
  void changeHoldRules(bool install);
  void fail(const std::string& reason);
  void disarm();
  // True from the moment a takeover starts adding the VIPs until the node lets them go.
  bool answering() const noexcept { return state_ == State::Confirming || state_ == State::Active; }
  // quiesce() removed this VIP itself (IPv6 cannot be ignored like ARP): its absence is no loss.
  bool quiescedAway(const IpPrefix& vip) const noexcept { return quiesced_ && vip.address.family == Family::V6; }
  sys::Status openGate();
  void shutGate();
  void onGuardTimer();
  sys::Status armGuardTimer();
  void refreshLifetimes();
  void onLinkChanged(bool admin_up, bool carrier_up);

  VipPlan plan_;
  sys::EventLoop& loop_;
  Callbacks callbacks_;
  RouteSocket route_;
  NetlinkMonitor monitor_;
  Announcer announcer_;
  sys::TimerFd announce_timer_;
  sys::TimerFd confirm_timer_;
  sys::TimerFd hold_timer_;
  sys::TimerFd probe_timer_;
  std::chrono::nanoseconds probe_timer_due_{0}; // when the wait-out or the probe is over
  sys::TimerFd guard_timer_;
  std::unique_ptr<VipGuard> guard_;
  std::chrono::nanoseconds gate_open_until_{0}; // CLOCK_MONOTONIC, as last written; 0: shut
  std::optional<std::chrono::nanoseconds> gate_limit_; // limitGate(); none without a lease
  std::chrono::nanoseconds next_lifetime_refresh_{0};
  std::uint64_t guard_fired_ = 0;
  std::vector<ArpProbe> probes_;
  std::vector<IpPrefix> probed_; // the VIP each probe asks about
  SysctlKeeper sysctls_;
  LinkInfo link_;
  State state_ = State::Standby;
  std::vector<std::vector<std::uint8_t>> frames_;
  unsigned burst_frames_left_ = 0;
  bool repeat_pending_ = false;
  std::uint64_t frames_sent_ = 0;
  std::uint64_t held_before_ = 0;
  std::unique_ptr<PacketHold> hold_;
  // The hold rule's state as the last change asked of the helper thread left it: in place
  // only once an installation asked last has finished well.
  std::uint64_t hold_rule_changes_ = 0;
  bool hold_rule_in_place_ = false;
  bool link_downed_ = false;
  bool shut_down_ = false;
  bool quiesced_ = false;
  std::vector<std::string> reconciled_;
  // Last: its destructor runs the rule changes still queued, while the rest is alive.
  std::unique_ptr<sys::Offload> rules_;
};

} // namespace failover::netctl
