// cluster-watch: a lab probe run inside a node namespace. It joins a CPG group and tracks
// quorum, and prints one line per change, so the lab waits on events instead of polling:
//   ready nodeid=1
//   totem t=123.456789 members=1,2,3
//   quorum t=123.456789 quorate=1 members=1,2,3
// t is CLOCK_MONOTONIC seconds (Python's time.monotonic()). Exits 1 when corosync goes away.
#include "daemon/cluster/corosync_handle.h"
#include "sys/event_loop.h"

#include <sys/epoll.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <string>

using namespace failover;
using failover::daemon::cluster::describe;

namespace {

double monotonicSeconds() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

std::string joinIds(const uint32_t* ids, std::size_t count) {
  std::string text;
  for (std::size_t i = 0; i < count; ++i) {
    text += (i == 0 ? "" : ",") + std::to_string(ids[i]);
  }
  return text;
}

void onTotemChange(cpg_handle_t, cpg_ring_id, uint32_t count, const uint32_t* members) noexcept {
  std::printf("totem t=%.6f members=%s\n", monotonicSeconds(), joinIds(members, count).c_str());
}

void onGroupChange(cpg_handle_t, const cpg_name*, const cpg_address*, size_t, const cpg_address*,
                   size_t, const cpg_address*, size_t) noexcept {}

void onDeliver(cpg_handle_t, const cpg_name*, uint32_t, uint32_t, void*, size_t) noexcept {}

void onQuorum(quorum_handle_t, uint32_t quorate, quorum_ring_id, uint32_t count,
              const uint32_t* members) noexcept {
  std::printf("quorum t=%.6f quorate=%u members=%s\n", monotonicSeconds(), quorate,
              joinIds(members, count).c_str());
}

int die(const std::string& message) {
  std::fprintf(stderr, "cluster-watch: %s\n", message.c_str());
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string group_name = argc > 1 ? argv[1] : "failoverd-lab-watch";

  cpg_model_v1_data_t cpg_model{};
  cpg_model.cpg_deliver_fn = onDeliver;
  cpg_model.cpg_confchg_fn = onGroupChange;
  cpg_model.cpg_totem_confchg_fn = onTotemChange;
  cpg_model.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF;
  auto opened_cpg = daemon::cluster::openCpg(cpg_model, nullptr);
  if (!opened_cpg) {
    return die("cpg_model_initialize: " + describe(opened_cpg.error()));
  }
  auto& cpg = *opened_cpg;

  quorum_model_v1_data_t quorum_model{};
  quorum_model.quorum_notify_fn = onQuorum;
  auto opened_quorum = daemon::cluster::openQuorum(quorum_model, nullptr);
  if (!opened_quorum) {
    return die("quorum_model_initialize: " + describe(opened_quorum.error()));
  }
  auto& quorum = *opened_quorum;

  unsigned int local_id = 0;
  if (auto rc = cpg_local_get(cpg.get(), &local_id); rc != CS_OK) {
    return die("cpg_local_get: " + describe(rc));
  }
  const cpg_name group = daemon::cluster::cpgGroupName(group_name);
  if (auto rc = cpg_join(cpg.get(), &group); rc != CS_OK) {
    return die("cpg_join: " + describe(rc));
  }
  if (auto rc = quorum_trackstart(quorum.get(), CS_TRACK_CURRENT | CS_TRACK_CHANGES); rc != CS_OK) {
    return die("quorum_trackstart: " + describe(rc));
  }
  std::printf("ready nodeid=%u\n", local_id);

  int cpg_fd = -1;
  int quorum_fd = -1;
  cpg_fd_get(cpg.get(), &cpg_fd);
  quorum_fd_get(quorum.get(), &quorum_fd);
  auto loop = sys::EventLoop::create();
  auto signals = sys::SignalFd::create({SIGTERM, SIGINT});
  if (!loop || !signals) {
    return die("cannot create the event loop");
  }
  int exit_code = 0;
  const auto lost = [&](const char* what, cs_error_t rc) {
    std::fprintf(stderr, "cluster-watch: %s: %s\n", what, describe(rc).c_str());
    exit_code = 1;
    loop->stop();
  };
  (void)loop->add(cpg_fd, EPOLLIN, [&](std::uint32_t) {
    if (auto rc = cpg_dispatch(cpg.get(), CS_DISPATCH_ALL); rc != CS_OK) {
      lost("cpg_dispatch", rc);
    }
  });
  (void)loop->add(quorum_fd, EPOLLIN, [&](std::uint32_t) {
    if (auto rc = quorum_dispatch(quorum.get(), CS_DISPATCH_ALL); rc != CS_OK) {
      lost("quorum_dispatch", rc);
    }
  });
  (void)loop->add(signals->fd(), EPOLLIN, [&](std::uint32_t) { loop->stop(); });
  if (auto ran = loop->run(); !ran) {
    return die(ran.error().message);
  }
  return exit_code;
}
