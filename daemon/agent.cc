#include "daemon/agent.h"

#include "daemon/log.h"

#include <sys/epoll.h>
#include <systemd/sd-daemon.h>

#include <csignal>
#include <stdexcept>

namespace failover::daemon {

namespace {

constexpr int STOP_SIGNAL = SIGTERM;
constexpr int INTERRUPT_SIGNAL = SIGINT;
constexpr int RELOAD_SIGNAL = SIGHUP;

sys::SignalFd createSignals() {
  auto signals = sys::SignalFd::create({STOP_SIGNAL, INTERRUPT_SIGNAL, RELOAD_SIGNAL});
  if (!signals) {
    throw std::runtime_error(signals.error().message);
  }
  return std::move(*signals);
}

} // namespace

Agent::Agent(Config config, boost::program_options::variables_map command_line,
             sys::EventLoop& loop)
    : config_(std::make_shared<const Config>(std::move(config))),
      command_line_(std::move(command_line)), loop_(loop),
      signals_(createSignals()) {
  if (auto index = netctl::interfaceIndex(config_->interface); !index) {
    throw std::runtime_error("interface (" + config_->source.string() + "): " +
                             index.error().message);
  }
  if (auto added = loop_.add(signals_.fd(), EPOLLIN, [this](std::uint32_t) { onSignal(); });
      !added) {
    throw std::runtime_error(added.error().message);
  }
  setLogLevel(config_->log_level);
  Log{LogLevel::Notice, config_->node_name}
      << "started: interface " << config_->interface << ", " << config_->vips.size()
      << " VIP(s), takeover-mode " << toString(config_->takeover_mode) << ", cluster group '"
      << config_->cluster_group << "'";
  sd_notify(0, "READY=1\nSTATUS=started");
}

Agent::~Agent() { loop_.remove(signals_.fd()); }

void Agent::onSignal() {
  for (;;) {
    auto signal = signals_.next();
    if (!signal) {
      Log{LogLevel::Error} << signal.error().message;
      return;
    }
    switch (*signal) {
    case 0:
      return;
    case STOP_SIGNAL:
    case INTERRUPT_SIGNAL:
      Log{LogLevel::Notice, config_->node_name} << "stopping on signal " << *signal;
      sd_notify(0, "STOPPING=1");
      loop_.stop();
      break;
    case RELOAD_SIGNAL:
      reload();
      break;
    default:
      break;
    }
  }
}

void Agent::reload() {
  sd_notify(0, "RELOADING=1");
  try {
    Config candidate = loadConfig(config_->source, command_line_);
    if (auto change = unreloadableChange(*config_, candidate)) {
      Log{LogLevel::Error, "reload"} << *change << " cannot change while running: restart "
                                     << "failoverd to apply it; keeping the running configuration";
    } else {
      config_ = std::make_shared<const Config>(std::move(candidate));
      setLogLevel(config_->log_level);
      Log{LogLevel::Notice, "reload"} << "configuration reloaded from " << config_->source;
    }
  } catch (const ConfigError& error) {
    for (const auto& problem : error.problems()) {
      Log{LogLevel::Error, "reload"} << problem;
    }
    Log{LogLevel::Error, "reload"} << "keeping the running configuration";
  }
  sd_notify(0, "READY=1");
}

} // namespace failover::daemon
