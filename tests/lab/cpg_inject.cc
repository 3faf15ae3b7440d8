// cpg-inject: a hostile local process for the bad-input test. It may talk to Corosync (it
// runs as root on a node) but does not have the cluster key. It joins the failoverd group,
// captures one authentic message, then multicasts: a forged one (random payload under a
// plausible header), the captured one again (a replay), a truncated copy, and a copy with
// another version. It captures from NODE, the node it runs on, so that the replay carries the
// right sender and is refused as a replay, not as a wrong sender. Prints "captured N" and
// "sent 4"; bounded by a 10 s timer.
//   cpg-inject GROUP NODE
#include "daemon/cluster/corosync_handle.h"
#include "sys/event_loop.h"

#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace failover;
using failover::daemon::cluster::describe;

namespace {

std::vector<std::uint8_t> captured;
std::uint32_t own_pid = 0;
std::uint32_t capture_node = 0;

void onDeliver(cpg_handle_t, const cpg_name*, uint32_t nodeid, uint32_t pid, void* message, size_t length) noexcept {
  if (pid != own_pid && nodeid == capture_node && captured.empty()) {
    const auto* bytes = static_cast<const std::uint8_t*>(message);
    captured.assign(bytes, bytes + length);
  }
}

void onGroup(cpg_handle_t, const cpg_name*, const cpg_address*, size_t, const cpg_address*, size_t,
             const cpg_address*, size_t) noexcept {}

bool multicast(cpg_handle_t handle, std::vector<std::uint8_t> message) {
  iovec iov{message.data(), message.size()};
  for (int attempt = 0; attempt < 100; ++attempt) {
    const auto rc = cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
    if (rc == CS_OK) {
      return true;
    }
    if (rc != CS_ERR_TRY_AGAIN) {
      std::fprintf(stderr, "cpg-inject: cpg_mcast_joined: %s\n", describe(rc).c_str());
      return false;
    }
  }
  return false;
}

} // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc != 3) {
    std::fprintf(stderr, "usage: cpg-inject GROUP NODE\n");
    return 2;
  }
  own_pid = static_cast<std::uint32_t>(::getpid());
  capture_node = static_cast<std::uint32_t>(std::stoul(argv[2]));
  cpg_model_v1_data_t model{};
  model.cpg_deliver_fn = onDeliver;
  model.cpg_confchg_fn = onGroup;
  auto opened = daemon::cluster::openCpg(model, nullptr);
  if (!opened) {
    std::fprintf(stderr, "cpg-inject: %s\n", describe(opened.error()).c_str());
    return 1;
  }
  auto& cpg = *opened;
  const cpg_name name = daemon::cluster::cpgGroupName(argv[1]);
  if (auto rc = cpg_join(cpg.get(), &name); rc != CS_OK) {
    std::fprintf(stderr, "cpg-inject: cpg_join: %s\n", describe(rc).c_str());
    return 1;
  }
  int fd = -1;
  cpg_fd_get(cpg.get(), &fd);
  auto loop = sys::EventLoop::create();
  auto deadline = sys::TimerFd::create();
  if (!loop || !deadline || !deadline->arm(std::chrono::seconds(10))) {
    return 1;
  }
  (void)loop->add(fd, EPOLLIN, [&](std::uint32_t) {
    cpg_dispatch(cpg.get(), CS_DISPATCH_ALL);
    if (!captured.empty()) {
      loop->stop();
    }
  });
  (void)loop->add(deadline->fd(), EPOLLIN, [&](std::uint32_t) { loop->stop(); });
  (void)loop->run();
  if (captured.empty()) {
    std::fprintf(stderr, "cpg-inject: captured nothing within 10 s\n");
    return 1;
  }
  std::printf("captured %zu\n", captured.size());

  auto forged = captured;
  std::mt19937 random(42);
  for (std::size_t i = 48; i < forged.size(); ++i) { // keep the header and nonce, replace the rest
    forged[i] = static_cast<std::uint8_t>(random());
  }
  auto truncated = std::vector<std::uint8_t>(captured.begin(), captured.begin() + 30);
  auto other_version = captured;
  other_version[4] = 9;
  int sent = 0;
  for (auto& message : {forged, captured, truncated, other_version}) {
    sent += multicast(cpg.get(), message) ? 1 : 0;
  }
  std::printf("sent %d\n", sent);
  return sent == 4 ? 0 : 1;
}
