#pragma once

#include "netctl/address.h"
#include "sys/error.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

struct bpf_object;

namespace failover::netctl {

struct BpfObjectDeleter {
  void operator()(bpf_object* object) const noexcept;
};
using BpfObjectPtr = std::unique_ptr<bpf_object, BpfObjectDeleter>;

// What the guard has dropped since its maps were created (they survive restarts), by kind.
struct VipGuardDrops {
  std::uint64_t arp_requests = 0;   // ARP requests for a VIP, received
  std::uint64_t solicitations = 0;  // neighbour solicitations for a VIP, received
  std::uint64_t packets_in = 0;     // packets to a VIP
  std::uint64_t announcements = 0;  // ARP frames and neighbour advertisements from a VIP, sent
  std::uint64_t packets_out = 0;    // packets from a VIP
  // Connection attempts to a VIP that no socket would take (the service is gone but the gate
  // not yet shut): dropped, so the client retries instead of being refused.
  std::uint64_t unserved_syns = 0;
};

// The dead man's switch (docs/netctl.md, "The VIP guard"): eBPF programs on the service
// interface's tc ingress and egress hooks that drop everything by which this node would
// answer for a VIP (ARP and neighbour discovery for it, packets to and from it) unless the
// gate is open, that is, unless CLOCK_MONOTONIC is before the moment the owner last wrote.
// The owner keeps pushing that moment forward while it may answer; if it stops (killed,
// frozen, starved), the kernel shuts the gate by itself when the moment passes.
//
// The programs stay attached when the process dies, and the maps are pinned under
// `pin_directory` (on a bpf file system), so a restarted daemon takes them over and replaces
// the programs in place. detach() (a clean stop) removes the filters and the pins.
class VipGuard {
public:
  // Attaches the guard to the interface with the gate shut, taking over the maps a previous
  // run pinned there (then `tookOver()` is true). The VIP set is replaced by `vips`.
  static sys::Result<std::unique_ptr<VipGuard>> attach(unsigned ifindex, const std::string& ifname,
                                                       std::span<const IpPrefix> vips,
                                                       const std::filesystem::path& pin_directory);
  ~VipGuard();
  VipGuard(const VipGuard&) = delete;
  VipGuard& operator=(const VipGuard&) = delete;

  // Packets for the VIPs pass until `deadline` (CLOCK_MONOTONIC); a past one shuts the gate.
  sys::Status openUntil(std::chrono::nanoseconds deadline);
  sys::Status shut() { return openUntil(std::chrono::nanoseconds{0}); }
  // The deadline as the kernel has it now.
  sys::Result<std::chrono::nanoseconds> deadline() const;
  sys::Result<VipGuardDrops> drops() const;
  // A clean stop: the filters and the pinned maps are removed (the gate goes with them).
  sys::Status detach();
  bool tookOver() const noexcept { return took_over_; }

private:
  VipGuard(BpfObjectPtr object, unsigned ifindex, std::filesystem::path pin_directory, bool took_over);

  BpfObjectPtr object_;
  unsigned ifindex_;
  std::filesystem::path pin_directory_;
  bool took_over_;
  bool attached_ = false;
  int gate_fd_ = -1;
  int drops_fd_ = -1;
};

// CLOCK_MONOTONIC now, the clock bpf_ktime_get_ns() reads.
std::chrono::nanoseconds monotonicNow() noexcept;

} // namespace failover::netctl
