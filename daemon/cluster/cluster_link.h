#pragma once

#include "daemon/cluster/corosync_handle.h"
#include "daemon/cluster/group_bus.h"
#include "sys/error.h"
#include "sys/event_loop.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace failover::daemon::cluster {

// The connection to the local Corosync: one CPG group (CPG_MODEL_V1, in the agreed total
// order) and quorum tracking, both on the agent's event loop. Sends go through a bounded
// queue, retried from a timer on CS_ERR_TRY_AGAIN (never a sleep). On a dispatch error, an
// eviction or a Corosync restart it reports the loss, finalizes, and reconnects from a timer.
class ClusterLink final : public GroupBus {
public:
  struct Callbacks {
    std::function<void(const GroupMember& from, std::span<const std::uint8_t> message)> deliver;
    // The group's processes after a change; `joined` and `left` are the difference.
    std::function<void(const std::vector<GroupMember>& members, const std::vector<GroupMember>& joined,
                       const std::vector<GroupMember>& left)> membership;
    std::function<void(bool quorate)> quorum;
    std::function<void(bool connected)> connection;
  };

  static constexpr std::size_t MAX_QUEUED = 20'000;

  static std::unique_ptr<ClusterLink> create(std::string group, sys::EventLoop& loop, Callbacks callbacks);
  ~ClusterLink() override;
  ClusterLink(const ClusterLink&) = delete;
  ClusterLink& operator=(const ClusterLink&) = delete;

  // Starts connecting (now, and again from a timer after every loss).
  void start();
  // Queues a message for the group; false when the queue is full (the caller counts it).
  bool send(std::vector<std::uint8_t> message) override;

  bool connected() const noexcept override { return static_cast<bool>(cpg_); }
  GroupMember self() const noexcept override { return {local_node_, local_pid_}; }
  std::uint32_t localNode() const noexcept { return local_node_; }
  std::uint32_t localPid() const noexcept { return local_pid_; }
  std::size_t queued() const noexcept { return queue_.size(); }
  const std::string& lastError() const noexcept { return last_error_; }

  // C callbacks (noexcept trampolines); public so that the C side can reach them.
  void onDeliver(std::uint32_t nodeid, std::uint32_t pid, std::span<const std::uint8_t> data) noexcept;
  void onGroupChange(const cpg_address* members, std::size_t count, const cpg_address* left,
                     std::size_t left_count, const cpg_address* joined, std::size_t joined_count) noexcept;
  void onQuorum(bool quorate) noexcept;

private:
  ClusterLink(std::string group, sys::EventLoop& loop, Callbacks callbacks, sys::TimerFd retry,
              sys::TimerFd reconnect);
  sys::Status connect();
  void disconnect(const std::string& why);
  void flush();
  void dispatchCpg();
  void dispatchQuorum();

  std::string group_;
  sys::EventLoop& loop_;
  Callbacks callbacks_;
  sys::TimerFd retry_;
  sys::TimerFd reconnect_;
  CpgHandle cpg_;
  QuorumHandle quorum_;
  int cpg_fd_ = -1;
  int quorum_fd_ = -1;
  std::uint32_t local_node_ = 0;
  std::uint32_t local_pid_ = 0;
  std::deque<std::vector<std::uint8_t>> queue_;
  std::chrono::milliseconds backoff_{1};
  std::string last_error_;
  unsigned failed_attempts_ = 0; // since the last connection (or the start)
};

} // namespace failover::daemon::cluster
