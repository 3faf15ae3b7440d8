#include "daemon/cluster/cluster_link.h"

#include "daemon/log.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>


namespace failover::daemon::cluster {

using namespace std::chrono_literals;

namespace {

constexpr auto RECONNECT_AFTER = 500ms;
// While Corosync stays away, a reminder every minute (the first failure is the agent's error).
constexpr unsigned REMIND_EVERY = 120;
constexpr auto MAX_BACKOFF = 1000ms;
// Messages per flush: bounded, so a long queue cannot hold the loop (TLS hooks, control).
constexpr int FLUSH_BATCH = 256;

ClusterLink* linkOf(cpg_handle_t handle) {
  void* context = nullptr;
  cpg_context_get(handle, &context);
  return static_cast<ClusterLink*>(context);
}

void deliverTrampoline(cpg_handle_t handle, const cpg_name*, uint32_t nodeid, uint32_t pid, void* message,
                       size_t length) noexcept {
  if (auto* link = linkOf(handle)) {
    link->onDeliver(nodeid, pid, std::span(static_cast<const std::uint8_t*>(message), length));
  }
}

void groupTrampoline(cpg_handle_t handle, const cpg_name*, const cpg_address* members, size_t count,
                     const cpg_address* left, size_t left_count, const cpg_address* joined,
                     size_t joined_count) noexcept {
  if (auto* link = linkOf(handle)) {
    link->onGroupChange(members, count, left, left_count, joined, joined_count);
  }
}

void quorumTrampoline(quorum_handle_t handle, uint32_t quorate, quorum_ring_id, uint32_t,
                      const uint32_t*) noexcept {
  const void* context = nullptr;
  quorum_context_get(handle, &context);
  if (context != nullptr) {
    // The context is the ClusterLink that registered it; libquorum only hands it back const.
    static_cast<ClusterLink*>(const_cast<void*>(context))->onQuorum(quorate != 0);
  }
}

std::vector<GroupMember> membersOf(const cpg_address* list, std::size_t count) {
  std::vector<GroupMember> members;
  for (std::size_t i = 0; i < count; ++i) {
    members.push_back({list[i].nodeid, list[i].pid});
  }
  return members;
}

// Corosync runs as root; a process impersonating its IPC socket would feed us the membership
// (Pacemaker's crm_ipc_is_authentic_process does the same check).
bool providerIsRoot(int fd) {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  return ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 && credentials.uid == 0;
}

} // namespace

std::unique_ptr<ClusterLink> ClusterLink::create(std::string group, sys::EventLoop& loop, Callbacks callbacks) {
  auto retry = sys::TimerFd::create();
  auto reconnect = sys::TimerFd::create();
  if (!retry || !reconnect) {
    return nullptr;
  }
  std::unique_ptr<ClusterLink> link(
      new ClusterLink(std::move(group), loop, std::move(callbacks), std::move(*retry), std::move(*reconnect)));
  auto* self = link.get();
  if (!loop.add(self->retry_.fd(), EPOLLIN, [self](std::uint32_t) {
        self->retry_.acknowledge();
        self->flush();
      }) ||
      !loop.add(self->reconnect_.fd(), EPOLLIN, [self](std::uint32_t) {
        self->reconnect_.acknowledge();
        self->start();
      })) {
    return nullptr;
  }
  return link;
}

ClusterLink::ClusterLink(std::string group, sys::EventLoop& loop, Callbacks callbacks, sys::TimerFd retry,
                         sys::TimerFd reconnect)
    : group_(std::move(group)), loop_(loop), callbacks_(std::move(callbacks)), retry_(std::move(retry)),
      reconnect_(std::move(reconnect)) {}

ClusterLink::~ClusterLink() {
  if (cpg_fd_ >= 0) {
    loop_.remove(cpg_fd_);
  }
  if (quorum_fd_ >= 0) {
    loop_.remove(quorum_fd_);
  }
  loop_.remove(retry_.fd());
  loop_.remove(reconnect_.fd());
}

void ClusterLink::start() {
  if (connected()) {
    return;
  }
  if (auto connected_now = connect(); !connected_now) {
    disconnect(connected_now.error().message);
  }
}

sys::Status ClusterLink::connect() {
  cpg_model_v1_data_t model{};
  model.cpg_deliver_fn = deliverTrampoline;
  model.cpg_confchg_fn = groupTrampoline;
  auto cpg = openCpg(model, this);
  if (!cpg) {
    return sys::fail(sys::Errc::Unavailable, "cannot connect to corosync (cpg): " + describe(cpg.error()));
  }
  quorum_model_v1_data_t quorum_model{};
  quorum_model.quorum_notify_fn = quorumTrampoline;
  auto quorum = openQuorum(quorum_model, this);
  if (!quorum) {
    return sys::fail(sys::Errc::Unavailable, "cannot connect to corosync (quorum): " + describe(quorum.error()));
  }
  int cpg_fd = -1;
  int quorum_fd = -1;
  cpg_fd_get(cpg->get(), &cpg_fd);
  quorum_fd_get(quorum->get(), &quorum_fd);
  if (!providerIsRoot(cpg_fd) || !providerIsRoot(quorum_fd)) {
    return sys::fail(sys::Errc::PermissionDenied, "the corosync IPC peer is not root: refusing to trust it");
  }
  unsigned int local = 0;
  if (auto rc = cpg_local_get(cpg->get(), &local); rc != CS_OK) {
    return sys::fail(sys::Errc::Unavailable, "cpg_local_get: " + describe(rc));
  }
  const cpg_name name = cpgGroupName(group_);
  if (auto rc = cpg_join(cpg->get(), &name); rc != CS_OK) {
    return sys::fail(sys::Errc::Unavailable, "cannot join CPG group '" + group_ + "': " + describe(rc));
  }
  if (auto rc = quorum_trackstart(quorum->get(), CS_TRACK_CURRENT | CS_TRACK_CHANGES); rc != CS_OK) {
    return sys::fail(sys::Errc::Unavailable, "quorum_trackstart: " + describe(rc));
  }
  if (auto added = loop_.add(cpg_fd, EPOLLIN, [this](std::uint32_t) { dispatchCpg(); }); !added) {
    return added;
  }
  if (auto added = loop_.add(quorum_fd, EPOLLIN, [this](std::uint32_t) { dispatchQuorum(); }); !added) {
    loop_.remove(cpg_fd);
    return added;
  }
  cpg_ = std::move(*cpg);
  quorum_ = std::move(*quorum);
  cpg_fd_ = cpg_fd;
  quorum_fd_ = quorum_fd;
  local_node_ = local;
  local_pid_ = static_cast<std::uint32_t>(::getpid());
  last_error_.clear();
  backoff_ = 1ms;
  if (callbacks_.connection) {
    callbacks_.connection(true);
  }
  flush();
  return {};
}

void ClusterLink::disconnect(const std::string& why) {
  const bool was_connected = connected();
  if (cpg_fd_ >= 0) {
    loop_.remove(cpg_fd_);
    cpg_fd_ = -1;
  }
  if (quorum_fd_ >= 0) {
    loop_.remove(quorum_fd_);
    quorum_fd_ = -1;
  }
  cpg_.reset();
  quorum_.reset();
  // Messages queued for a group we are no longer in would arrive out of context.
  queue_.clear();
  last_error_ = why;
  (void)reconnect_.arm(RECONNECT_AFTER);
  failed_attempts_ = was_connected ? 1 : failed_attempts_ + 1;
  // The agent hears of it once (the connection lost, or the first attempt failed), not every
  // 500 ms: the retries go on quietly, with a reminder now and then.
  if (callbacks_.connection && (was_connected || failed_attempts_ == 1)) {
    callbacks_.connection(false);
  } else if (failed_attempts_ % REMIND_EVERY == 0) {
    Log{LogLevel::Warning, "cluster"} << "still no connection to corosync after "
                                      << failed_attempts_ * RECONNECT_AFTER.count() / 1000 << " s: " << why
                                      << "; retrying every " << RECONNECT_AFTER.count() << " ms";
  }
}

bool ClusterLink::send(std::vector<std::uint8_t> message) {
  if (queue_.size() >= MAX_QUEUED || message.empty()) {
    return false;
  }
  queue_.push_back(std::move(message));
  if (queue_.size() == 1) {
    flush();
  }
  return true;
}

void ClusterLink::flush() {
  for (int sent = 0; connected() && !queue_.empty() && sent < FLUSH_BATCH; ++sent) {
    auto& message = queue_.front();
    iovec iov{message.data(), message.size()};
    const auto rc = cpg_mcast_joined(cpg_.get(), CPG_TYPE_AGREED, &iov, 1);
    if (rc == CS_OK) {
      queue_.pop_front();
      backoff_ = 1ms;
      continue;
    }
    if (rc == CS_ERR_TRY_AGAIN || rc == CS_ERR_QUEUE_FULL) {
      // Corosync is busy (a membership change, or flow control): retry later, longer each time.
      (void)retry_.arm(backoff_);
      backoff_ = std::min(backoff_ * 2, MAX_BACKOFF);
      return;
    }
    disconnect("cpg_mcast_joined: " + describe(rc));
    return;
  }
  if (!queue_.empty()) {
    (void)retry_.arm(0ms);
  }
}

void ClusterLink::dispatchCpg() {
  if (auto rc = cpg_dispatch(cpg_.get(), CS_DISPATCH_ALL); rc != CS_OK) {
    disconnect("cpg_dispatch: " + describe(rc) + " (corosync stopped or restarted)");
  }
}

void ClusterLink::dispatchQuorum() {
  if (auto rc = quorum_dispatch(quorum_.get(), CS_DISPATCH_ALL); rc != CS_OK) {
    disconnect("quorum_dispatch: " + describe(rc) + " (corosync stopped or restarted)");
  }
}

void ClusterLink::onDeliver(std::uint32_t nodeid, std::uint32_t pid, std::span<const std::uint8_t> data) noexcept {
  try {
    if (callbacks_.deliver) {
      callbacks_.deliver({nodeid, pid}, data);
    }
  } catch (...) {
    // A handler that throws (out of memory) loses this one message; the daemon goes on.
  }
}

void ClusterLink::onGroupChange(const cpg_address* members, std::size_t count, const cpg_address* left,
                                std::size_t left_count, const cpg_address* joined,
                                std::size_t joined_count) noexcept {
  try {
    const auto gone = membersOf(left, left_count);
    const GroupMember self{local_node_, local_pid_};
    if (std::find(gone.begin(), gone.end(), self) != gone.end()) {
      // We were evicted from the group (testcpg.c's check): start again from nothing.
      disconnect("evicted from CPG group '" + group_ + "'");
      return;
    }
    if (callbacks_.membership) {
      callbacks_.membership(membersOf(members, count), membersOf(joined, joined_count), gone);
    }
  } catch (...) {
    disconnect("out of memory handling a membership change");
  }
}

void ClusterLink::onQuorum(bool quorate) noexcept {
  try {
    if (callbacks_.quorum) {
      callbacks_.quorum(quorate);
    }
  } catch (...) {
  }
}

} // namespace failover::daemon::cluster
