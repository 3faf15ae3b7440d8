#include "netctl/hold.h"

#include "sys/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <sys/socket.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

#include <array>
#include <cerrno>

namespace failover::netctl {

using sys::Errc;
using sys::fail;

namespace {

constexpr std::chrono::milliseconds IPTABLES_TIMEOUT{10'000};
constexpr const char* RULE_COMMENT = "failoverd-hold";
// iptables' multiport match takes at most 15 ports.
constexpr std::size_t MAX_PORTS = 15;
// A SYN with every TCP option fits; anything longer is not forwarded whole (and dropped).
constexpr std::uint32_t MAX_COPIED = 256;
// Bounds the loop that deletes duplicate copies of the rule.
constexpr int MAX_RULE_COPIES = 16;

sys::Result<sys::CommandResult> runIptables(const std::vector<std::string>& argv) {
  auto result = sys::runCommand(argv, IPTABLES_TIMEOUT);
  if (!result && result.error().code == Errc::NotFound) {
    result.error().message += " (apt-get install iptables)";
  }
  return result;
}

} // namespace

std::vector<std::string> HoldRule::command(Action action) const {
  std::vector<std::string> argv{vip.family == Family::V4 ? "iptables" : "ip6tables", "-w", "5"};
  switch (action) {
  case Action::Check:
    argv.push_back("-C");
    break;
  case Action::Insert:
    argv.push_back("-I");
    break;
  case Action::Delete:
    argv.push_back("-D");
    break;
  }
  argv.insert(argv.end(), {"INPUT", "-d", toString(vip), "-p", "tcp", "--syn"});
  if (ports.size() == 1) {
    argv.insert(argv.end(), {"--dport", std::to_string(ports.front())});
  } else if (!ports.empty()) {
    std::string list;
    for (auto port : ports) {
      list += (list.empty() ? "" : ",") + std::to_string(port);
    }
    argv.insert(argv.end(), {"-m", "multiport", "--dports", list});
  }
  argv.insert(argv.end(), {"-m", "comment", "--comment", RULE_COMMENT, "-j", "NFQUEUE",
                           "--queue-num", std::to_string(queue), "--queue-bypass"});
  return argv;
}

sys::Result<bool> HoldRule::present() const {
  if (ports.empty() || ports.size() > MAX_PORTS) {
    return fail(Errc::InvalidArgument, "the connection hold takes 1 to 15 ports, not " +
                                           std::to_string(ports.size()));
  }
  auto result = runIptables(command(Action::Check));
  if (!result) {
    return std::unexpected(result.error());
  }
  // iptables -C: 0 present, 1 absent; anything else is an error (bad rule, no permission).
  if (result->exit_code == 0 || result->exit_code == 1) {
    return result->exit_code == 0;
  }
  return fail(Errc::System, "iptables -C failed (" + std::to_string(result->exit_code) +
                                "): " + result->output);
}

sys::Status HoldRule::install() const {
  auto there = present();
  if (!there) {
    return std::unexpected(there.error());
  }
  if (*there) {
    return {};
  }
  auto result = runIptables(command(Action::Insert));
  if (!result) {
    return std::unexpected(result.error());
  }
  if (result->exit_code != 0) {
    return fail(Errc::System, "cannot insert the connection-hold rule: " + result->output);
  }
  return {};
}

sys::Status HoldRule::remove() const {
  for (int copy = 0; copy < MAX_RULE_COPIES; ++copy) {
    auto there = present();
    if (!there) {
      return std::unexpected(there.error());
    }
    if (!*there) {
      return {};
    }
    auto result = runIptables(command(Action::Delete));
    if (!result) {
      return std::unexpected(result.error());
    }
    if (result->exit_code != 0) {
      return fail(Errc::System, "cannot delete the connection-hold rule: " + result->output);
    }
  }
  return fail(Errc::System, "more than " + std::to_string(MAX_RULE_COPIES) +
                                " copies of the connection-hold rule; remove them by hand");
}

sys::Result<std::unique_ptr<PacketHold>> PacketHold::bind(std::uint16_t queue, std::uint32_t max_held) {
  std::unique_ptr<PacketHold> hold(new PacketHold());
  hold->handle_ = nfq_open();
  if (hold->handle_ == nullptr) {
    auto error = sys::systemError("cannot open an nfnetlink queue socket");
    if (error.code == Errc::PermissionDenied) {
      error.message += " (needs root or CAP_NET_ADMIN)";
    }
    return std::unexpected(error);
  }
  hold->queue_ = nfq_create_queue(hold->handle_, queue, &PacketHold::onPacket, hold.get());
  if (hold->queue_ == nullptr) {
    return std::unexpected(sys::systemError("cannot bind NFQUEUE " + std::to_string(queue) +
                                            " (is another process bound to it?)"));
  }
  // The packet itself (a SYN is small): a handover forwards held SYNs to the new active.
  if (nfq_set_mode(hold->queue_, NFQNL_COPY_PACKET, MAX_COPIED) < 0 ||
      nfq_set_queue_maxlen(hold->queue_, max_held) < 0 ||
      nfq_set_queue_flags(hold->queue_, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN) < 0) {
    return std::unexpected(sys::systemError("cannot configure NFQUEUE " + std::to_string(queue)));
  }
  const int fd = nfq_fd(hold->handle_);
  // Non-blocking, so that draining in onReadable() stops at EAGAIN instead of waiting.
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  return hold;
}

PacketHold::~PacketHold() {
  // Anything still held would be dropped when the queue goes away: let it through instead.
  (void)release();
  if (queue_ != nullptr) {
    nfq_destroy_queue(queue_);
  }
  if (handle_ != nullptr) {
    nfq_close(handle_);
  }
}

int PacketHold::fd() const noexcept { return nfq_fd(handle_); }

int PacketHold::onPacket(nfq_q_handle* queue, nfgenmsg*, nfq_data* data, void* opaque) noexcept {
  auto& self = *static_cast<PacketHold*>(opaque);
  const nfqnl_msg_packet_hdr* header = nfq_get_msg_packet_hdr(data);
  if (header == nullptr) {
    return 0;
  }
  const std::uint32_t id = ntohl(header->packet_id);
  if (self.forward_) {
    unsigned char* packet = nullptr;
    const int length = nfq_get_payload(data, &packet);
    if (length > 0) {
      self.forward_(std::span<const std::uint8_t>(packet, static_cast<std::size_t>(length)));
    }
    nfq_set_verdict(queue, id, NF_DROP, 0, nullptr);
    return 0;
  }
  if (!self.holding_) {
    nfq_set_verdict(queue, id, NF_ACCEPT, 0, nullptr);
    return 0;
  }
  try {
    unsigned char* packet = nullptr;
    const int length = nfq_get_payload(data, &packet);
    self.held_.push_back(Held{id, length > 0 ? std::vector<std::uint8_t>(packet, packet + length)
                                              : std::vector<std::uint8_t>{}});
    ++self.total_held_;
  } catch (...) {
    nfq_set_verdict(queue, id, NF_ACCEPT, 0, nullptr);
  }
  return 0;
}

sys::Result<std::size_t> PacketHold::onReadable() {
  const std::size_t before = held_.size();
  std::array<char, 8192> buffer{};
  for (;;) {
    const ssize_t n = ::recv(fd(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return held_.size() - before;
    }
    if (n < 0 && errno == ENOBUFS) {
      // The kernel could not deliver some queue messages; with FAIL_OPEN it accepted those
      // packets itself, so nothing is stranded.
      continue;
    }
    if (n <= 0) {
      return std::unexpected(sys::systemError("reading NFQUEUE"));
    }
    nfq_handle_packet(handle_, buffer.data(), static_cast<int>(n));
  }
}

void PacketHold::forwardAndDrop(std::function<void(std::span<const std::uint8_t>)> forward) {
  (void)onReadable();
  holding_ = false;
  for (const auto& held : held_) {
    if (!held.packet.empty()) {
      forward(held.packet);
    }
    nfq_set_verdict(queue_, held.id, NF_DROP, 0, nullptr);
  }
  held_.clear();
  forward_ = std::move(forward);
}

sys::Status PacketHold::release() {
  holding_ = false;
  forward_ = nullptr;
  sys::Status status;
  for (const auto& held : held_) {
    if (nfq_set_verdict(queue_, held.id, NF_ACCEPT, 0, nullptr) < 0 && status) {
      status = std::unexpected(sys::systemError("NFQUEUE verdict"));
    }
  }
  held_.clear();
  return status;
}

} // namespace failover::netctl
