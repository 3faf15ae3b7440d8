// vip-tool: drives netctl's VipOwner inside a lab node, so the lab tests exercise the real
// takeover code against a real kernel. Commands on stdin, one per line:
//   promote | ready | demote | quit
// Events on stdout, one per line, t = CLOCK_MONOTONIC seconds:
//   standby t=.. reconciled=N      (set up; N things undone from an earlier run)
//   taken t=.. frames=N            (VIP ours and announced)
//   held t=.. n=N                  (N connection attempts are being held)
//   released t=.. held=N           (service ready, N held connection attempts let through)
//   demoted t=..  | lost t=.. reason=...  | error what=...  | stopped
#include "netctl/vip_owner.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <boost/program_options.hpp>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

using namespace failover;
namespace po = boost::program_options;

namespace {

double now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void event(const std::string& text) { std::printf("%s\n", text.c_str()); }

std::string stamp() {
  char text[32];
  std::snprintf(text, sizeof text, "t=%.6f", now());
  return text;
}

} // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  netctl::VipPlan plan;
  std::vector<std::string> vips;
  std::string mode = "move-ip";
  unsigned interval_ms = 100, repeat_ms = 5000, hold_timeout_ms = 3000, probe_ms = 0;
  std::vector<unsigned> ports;
  unsigned queue = 0;
  po::options_description options("vip-tool");
  options.add_options()
    ("interface", po::value(&plan.interface)->required(), "")
    ("vip", po::value(&vips)->required(), "")
    ("mode", po::value(&mode), "move-ip or shared-ip")
    ("count", po::value(&plan.announce.count), "")
    ("interval-ms", po::value(&interval_ms), "")
    ("repeat-ms", po::value(&repeat_ms), "")
    ("hold-port", po::value(&ports), "")
    ("hold-queue", po::value(&queue), "")
    ("hold-timeout-ms", po::value(&hold_timeout_ms), "")
    ("down-on-demote", po::bool_switch(&plan.down_on_demote), "")
    ("probe-ms", po::value(&probe_ms), "ARP-probe the VIP this long before taking it")
    ("state-file", po::value(&plan.state_file)->required(), "");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, options), vm);
    po::notify(vm);
  } catch (const po::error& error) {
    std::fprintf(stderr, "vip-tool: %s\n", error.what());
    return 2;
  }
  plan.mode = mode == "shared-ip" ? netctl::TakeoverMode::SharedIp : netctl::TakeoverMode::MoveIp;
  plan.announce.interval = std::chrono::milliseconds(interval_ms);
  plan.announce.repeat_after = std::chrono::milliseconds(repeat_ms);
  plan.hold.timeout = std::chrono::milliseconds(hold_timeout_ms);
  plan.probe_timeout = std::chrono::milliseconds(probe_ms);
  plan.hold.queue = static_cast<std::uint16_t>(queue);
  for (auto port : ports) {
    plan.hold.ports.push_back(static_cast<std::uint16_t>(port));
  }
  for (const auto& text : vips) {
    auto prefix = netctl::parseIpPrefix(text);
    if (!prefix) {
      std::fprintf(stderr, "vip-tool: %s\n", prefix.error().message.c_str());
      return 2;
    }
    plan.vips.push_back(*prefix);
  }

  auto loop = sys::EventLoop::create();
  auto signals = sys::SignalFd::create({SIGTERM, SIGINT});
  if (!loop || !signals) {
    return 1;
  }
  netctl::VipOwner* owner_ptr = nullptr;
  auto owner = netctl::VipOwner::create(
      plan, *loop,
      {[&] { event("taken " + stamp() + " frames=" + std::to_string(owner_ptr->framesSent())); },
       [&](const std::string& reason) { event("lost " + stamp() + " reason=" + reason); },
       [&](std::size_t held) { event("held " + stamp() + " n=" + std::to_string(held)); },
       [&](bool serviceable) { event(std::string("link ") + (serviceable ? "serviceable" : "unserviceable")); },
       [&](const std::string& what) { event("background-failed " + stamp() + " what=" + what); }});
  if (!owner) {
    event("error what=" + owner.error().message);
    return 1;
  }
  owner_ptr = owner->get();
  event("standby " + stamp() + " reconciled=" + std::to_string((*owner)->reconciled().size()));
  for (const auto& note : (*owner)->reconciled()) {
    std::fprintf(stderr, "vip-tool: %s\n", note.c_str());
  }

  std::string pending;
  const auto command = [&](const std::string& line) {
    sys::Status status;
    if (line == "promote") {
      status = (*owner)->promote({});
    } else if (line == "ready") {
      status = (*owner)->serviceReady();
      event("released " + stamp() + " held=" + std::to_string((*owner)->connectionsHeld()));
    } else if (line == "demote") {
      status = (*owner)->demote();
      event("demoted " + stamp());
    } else if (line == "quit") {
      loop->stop();
    } else if (!line.empty()) {
      event("error what=unknown command " + line);
    }
    if (!status) {
      event("error what=" + status.error().message);
    }
  };
  (void)loop->add(STDIN_FILENO, EPOLLIN, [&](std::uint32_t) {
    char buffer[256];
    const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n <= 0) {
      loop->remove(STDIN_FILENO);
      loop->stop();
      return;
    }
    pending.append(buffer, static_cast<std::size_t>(n));
    for (auto newline = pending.find('\n'); newline != std::string::npos;
         newline = pending.find('\n')) {
      command(pending.substr(0, newline));
      pending.erase(0, newline + 1);
    }
  });
  (void)loop->add(signals->fd(), EPOLLIN, [&](std::uint32_t) { loop->stop(); });
  (void)loop->run();
  if (auto down = (*owner)->shutdown(); !down) {
    event("error what=" + down.error().message);
    return 1;
  }
  event("stopped");
  return 0;
}
