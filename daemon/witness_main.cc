// failoverd-witness: the majority lease's third voter for a two-node cluster (docs/lease.md,
// "The witness"). No VIP, no TLS, no Corosync: it answers the nodes' lease requests over UDP,
// sealed with the cluster key, and promises like any voter.
#include "daemon/cluster/lease_link.h"
#include "daemon/config.h"
#include "daemon/exit_codes.h"
#include "daemon/log.h"
#include "failover/version.h"
#include "sys/clock.h"
#include "sys/event_loop.h"
#include "sys/process.h"
#include "tls/secret.h"

#include <boost/program_options.hpp>
#include <sys/epoll.h>
#include <systemd/sd-daemon.h>

#include <csignal>
#include <iostream>

namespace po = boost::program_options;
using namespace failover;

namespace {

constexpr const char* DEFAULT_WITNESS_CONFIG = "/etc/failoverd/witness.conf";

int run(const daemon::WitnessConfig& config) {
  daemon::setLogLevel(config.log_level);
  auto loop = sys::EventLoop::create();
  auto signals = sys::SignalFd::create({SIGTERM, SIGINT});
  auto key = tls::readSecretFile(config.cluster_key_file, daemon::MIN_CLUSTER_KEY, daemon::MAX_CLUSTER_KEY);
  auto sealer = key ? daemon::cluster::Sealer::create(key->view()) : std::unexpected(key.error());
  if (!loop || !signals || !sealer) {
    std::cerr << "failoverd-witness: cannot start: "
              << (!loop ? loop.error().message : !signals ? signals.error().message : "cluster-key-file: " + sealer.error().message)
              << '\n';
    return EXIT_RUNTIME_FAILURE;
  }
  sys::SystemClock clock;
  daemon::lease::Lease lease(config.lease.settings, daemon::lease::Nanos{clock.monotonicNs()});
  std::unique_ptr<daemon::cluster::LeaseLink> link;
  auto created = daemon::cluster::LeaseLink::create(
      std::move(*sealer), config.lease.settings.self, config.lease.voters, clock, *loop,
      [&](std::uint32_t from, const daemon::lease::Message& message) {
        for (const auto& answer : lease.receive(from, message, daemon::lease::Nanos{clock.monotonicNs()})) {
          link->send(answer);
        }
      });
  if (!created) {
    std::cerr << "failoverd-witness: cannot start: " << created.error().message << '\n';
    return EXIT_RUNTIME_FAILURE;
  }
  link = std::move(*created);
  if (config.realtime_priority > 0) {
    if (auto scheduled = sys::setThreadRealtime(config.realtime_priority); !scheduled) {
      std::cerr << "failoverd-witness: cannot start: realtime-priority = " << config.realtime_priority << ": "
                << scheduled.error().message << " (it needs CAP_SYS_NICE; realtime-priority = 0 runs without it)\n";
      return EXIT_RUNTIME_FAILURE;
    }
  }
  bool stop = false;
  (void)loop->add(signals->fd(), EPOLLIN, [&](std::uint32_t) {
    stop = true;
    loop->stop();
  });
  daemon::Log{daemon::LogLevel::Notice, config.name}
      << "witness voting in a lease of " << config.lease.voters.size() << " voters (lease "
      << config.lease.settings.length.count() / 1'000'000 << " ms); it grants nothing for that long after it starts";
  sd_notify(0, "READY=1\nSTATUS=voting");
  if (auto ran = loop->run(); !ran) {
    std::cerr << "failoverd-witness: event loop failed: " << ran.error().message << '\n';
    return EXIT_RUNTIME_FAILURE;
  }
  const auto& stats = lease.stats();
  daemon::Log{daemon::LogLevel::Notice, config.name}
      << "stopping" << (stop ? " on a signal" : "") << ": " << stats.grants_given << " grants given, "
      << stats.requests_refused << " requests refused";
  return EXIT_OK;
}

} // namespace

int main(int argc, char** argv) {
  po::options_description generic("Options");
  generic.add_options()("help,h", "show this help and exit")("version,V", "show the version and exit")(
      "config,c", po::value<std::string>()->default_value(DEFAULT_WITNESS_CONFIG)->value_name("FILE"),
      "configuration file (node-name, cluster-key-file, log-level and the lease-* keys of failoverd.conf)")(
      "check-config,t", po::value<std::string>()->value_name("FILE"), "validate FILE and exit: 0 if valid, 2 if not");
  po::options_description all;
  all.add(generic).add(daemon::witnessOptions());
  po::variables_map command_line;
  try {
    const po::positional_options_description no_positional;
    po::store(po::command_line_parser(argc, argv).options(all).positional(no_positional).run(), command_line);
    po::notify(command_line);
  } catch (const po::error& error) {
    std::cerr << "failoverd-witness: " << error.what() << " (see failoverd-witness --help)\n";
    return EXIT_USAGE;
  }
  if (command_line.count("help") != 0) {
    std::cout << "Usage: failoverd-witness [OPTION]...\n"
                 "The third voter of failoverd's majority lease, for a two-node cluster.\n\n"
              << all << "\nExit status: 0 success, 1 runtime failure, 2 bad command line or configuration.\n";
    return EXIT_OK;
  }
  if (command_line.count("version") != 0) {
    std::cout << "failoverd-witness " << VERSION << '\n';
    return EXIT_OK;
  }
  const bool check = command_line.count("check-config") != 0;
  const auto file = check ? command_line["check-config"].as<std::string>() : command_line["config"].as<std::string>();
  try {
    const auto config = daemon::loadWitnessConfig(file, command_line);
    if (check) {
      std::cout << "failoverd-witness: configuration file " << file << " is valid\n";
      return EXIT_OK;
    }
    return run(config);
  } catch (const daemon::ConfigError& error) {
    for (const auto& problem : error.problems()) {
      std::cerr << "failoverd-witness: " << problem << '\n';
    }
    std::cerr << "failoverd-witness: configuration is invalid\n";
    return EXIT_USAGE;
  }
}
