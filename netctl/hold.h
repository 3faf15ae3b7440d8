#pragma once

#include "netctl/address.h"
#include "sys/error.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

struct nfq_handle;
struct nfq_q_handle;
struct nfgenmsg;
struct nfq_data;

namespace failover::netctl {

// The iptables rule that sends new TCP connections (SYN) for the VIP's service ports to an
// NFQUEUE. --queue-bypass makes it fail open: with no consumer bound the kernel lets the
// packets through, so a dead daemon never black-holes the service. (The kernel here has the
// xt NFQUEUE target but not nftables' queue expression.)
struct HoldRule {
  IpAddress vip;
  std::vector<std::uint16_t> ports;
  std::uint16_t queue = 0;

  enum class Action { Check, Insert, Delete };
  // The iptables (IPv4) or ip6tables (IPv6) command line for action.
  std::vector<std::string> command(Action action) const;

  // Inserts the rule unless it is already there (idempotent).
  sys::Status install() const;
  // Deletes every copy of the rule; absent is fine (idempotent).
  sys::Status remove() const;
  sys::Result<bool> present() const;
};

// The NFQUEUE consumer. While bound, every packet the rule queues is either held (until
// release()), forwarded (after forwardAndDrop()) or, after release(), accepted at once. The queue is fail-open as well
// (NFQA_CFG_F_FAIL_OPEN): if it is full, or this process cannot keep up, the kernel accepts.
class PacketHold {
public:
  static sys::Result<std::unique_ptr<PacketHold>> bind(std::uint16_t queue, std::uint32_t max_held);
  ~PacketHold();
  PacketHold(const PacketHold&) = delete;
  PacketHold& operator=(const PacketHold&) = delete;

  int fd() const noexcept;
  // Reads what the kernel queued; call when fd() is readable. Returns how many packets it
  // newly held.
  sys::Result<std::size_t> onReadable();
  // Accepts every held packet and lets later ones through at once.
  sys::Status release();
  // Holds new packets again (an active node about to hand the VIP over).
  void holdAgain() noexcept {
    holding_ = true;
    forward_ = nullptr;
  }
  // Gives every held packet (an IPv4/IPv6 packet) to `forward`, then drops the local copy:
  // the connection starts on the node they were forwarded to. Later packets go the same way
  // until release(): a client that still has this node's MAC cached must not open a
  // connection here that the VIP's removal would then reset.
  void forwardAndDrop(std::function<void(std::span<const std::uint8_t>)> forward);

  std::size_t held() const noexcept { return held_.size(); }
  std::uint64_t total_held() const noexcept { return total_held_; }
  bool holding() const noexcept { return holding_; }

private:
  PacketHold() = default;
  static int onPacket(nfq_q_handle* queue, nfgenmsg*, nfq_data* data, void* self) noexcept;

  nfq_handle* handle_ = nullptr;
  nfq_q_handle* queue_ = nullptr;
  struct Held {
    std::uint32_t id;
    std::vector<std::uint8_t> packet;
  };
  std::vector<Held> held_;
  std::uint64_t total_held_ = 0;
  bool holding_ = true;
  std::function<void(std::span<const std::uint8_t>)> forward_; // set by forwardAndDrop()
};

} // namespace failover::netctl
