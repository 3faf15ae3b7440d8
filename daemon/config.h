#pragma once

#include "daemon/cluster/lease_link.h"
#include "daemon/log.h"
#include "daemon/role/lease.h"
#include "netctl/address.h"
#include "sys/cpu_set.h"
#include "sys/sandbox.h"
#include "netctl/vip_owner.h"
#include "tls/server.h"

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

#include <expected>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace failover::daemon {

using netctl::TakeoverMode;

inline constexpr const char* DEFAULT_CONFIG_FILE = "/etc/failoverd/failoverd.conf";
// The cluster key file's size bounds: what the configuration checks and every reader expects.
inline constexpr std::size_t MIN_CLUSTER_KEY = 32;
inline constexpr std::size_t MAX_CLUSTER_KEY = 4096;

// The majority lease's part of a configuration: the daemon's and the witness's.
struct LeaseConfig {
  bool enabled = false;
  std::vector<cluster::LeaseVoter> voters; // this node's own entry included
  lease::Settings settings;                // settings.self: this node's voter id
};

// failoverd --witness: a voter of the lease and nothing else (docs/lease.md, "The witness").
// The SCHED_RR priority of the thread that runs the lease, the guard's timers and the decisions
// (0: the default scheduler). Under CPU load a thread of the default scheduler can wait tens of
// milliseconds to run, longer than a lease of 60 ms allows (docs/lease.md, "Sizing").
inline constexpr int DEFAULT_REALTIME_PRIORITY = 40;

struct WitnessConfig {
  std::filesystem::path source;
  std::string name;
  std::filesystem::path cluster_key_file;
  LogLevel log_level = LogLevel::Notice;
  LeaseConfig lease;
  int realtime_priority = DEFAULT_REALTIME_PRIORITY;
};

// The validated, immutable configuration. Built only by loadConfig; a reload builds a new one.
struct Config {
  std::filesystem::path source;
  // Every key given (file and command line) with its values as written: what a reload compares.
  std::map<std::string, std::vector<std::string>> values;
  std::string node_name;
  unsigned node_priority = 100;
  int realtime_priority = DEFAULT_REALTIME_PRIORITY;
  // Where the agent and the TLS service process run (agent-cpus, tls-cpus; unset: wherever
  // failoverd was started to run).
  std::optional<sys::CpuSet> agent_cpus;
  std::optional<sys::CpuSet> tls_cpus;
  std::vector<netctl::IpPrefix> vips;
  std::string interface;
  TakeoverMode takeover_mode = TakeoverMode::MoveIp;
  std::string cluster_group;
  std::filesystem::path cluster_key_file;
  std::filesystem::path control_socket;
  std::optional<std::string> control_group;
  sys::Account tls_user; // the TLS service process's (tls-user)
  LogLevel log_level = LogLevel::Notice;

  // Election and replication.
  bool preempt = false;
  bool replication = true;
  // The replication protocol versions announced (test-protocol-versions; this build's own
  // unless a test asks for a range beyond it).
  cluster::WireVersions protocol_versions;

  // Taking over the VIP (netctl).
  bool down_on_demote = false;
  netctl::AnnouncePlan announce;
  std::chrono::milliseconds hold_timeout{3000};
  std::uint16_t hold_queue = 32;
  std::chrono::milliseconds probe_timeout{0};
  std::filesystem::path state_directory = "/run/failoverd";
  // The dead man's switch: the node stops answering for the VIP this long after the daemon
  // stops running (pin_directory: one per node; the interface's name is appended).
  netctl::GuardPlan guard{"/sys/fs/bpf/failoverd", std::chrono::milliseconds(50)};
  std::chrono::seconds vip_lifetime{5};

  // The TLS service.
  tls::ListenerConfig listener;

  // Run on every role change ("" = none).
  std::filesystem::path notify_program;
  std::chrono::milliseconds notify_timeout{5000};

  // Prometheus text endpoint ("" = off).
  std::string metrics_address;
  std::uint16_t metrics_port = 0;

  // The majority lease (docs/lease.md): off unless `lease = yes`.
  LeaseConfig lease;
};

// Every problem found in a configuration, each line naming where (file:line or command line),
// the key, and what is wrong. Thrown only at start-up and by --check-config.
class ConfigError : public std::runtime_error {
public:
  explicit ConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const noexcept { return problems_; }

private:
  std::vector<std::string> problems_;
};

// The one option table: every key is both a file key and a long command-line option.
boost::program_options::options_description configOptions();

// Reads `file`, applies `command_line` (which wins over the file), and validates everything
// that can be checked without touching the network. Throws ConfigError.
// The settings given (config.values: the file and the command line), as configuration-file
// text that loads back into the same configuration.
std::string renderSettings(const Config& config);

Config loadConfig(const std::filesystem::path& file,
                  const boost::program_options::variables_map& command_line);

// Facts an operator should know about but that do not make the file invalid (an interface
// that does not exist yet may be created later, e.g. a bond or VLAN).
std::vector<std::string> configWarnings(const Config& config);

// The witness's file: node-name (its name among the lease-voter entries), cluster-key-file,
// log-level and the lease-* keys, with the same syntax and checks. Throws ConfigError.
boost::program_options::options_description witnessOptions();
WitnessConfig loadWitnessConfig(const std::filesystem::path& file,
                                const boost::program_options::variables_map& command_line);

// Loads the TLS certificates and keys the way the server will (as nginx -t does); returns the
// problems found. Separate from loadConfig because it reads and parses every PEM file.
std::vector<std::string> checkCertificates(const Config& config);

// What a reload would do: the keys whose values differ, split by their tag in the option
// table into those it applies in place (`changed`) and those only a restart applies
// (`refused`: then it applies nothing).
struct ReloadPlan {
  std::vector<std::string> changed;
  std::vector<std::string> refused;
};
ReloadPlan reloadPlan(const Config& running, const Config& candidate);
bool reloadsLive(std::string_view key);

// A reload's first half: the file re-read (with the same command line) and compared. Either
// the new configuration with what changed, or every problem that refuses it (the last one
// says what to do).
struct ReloadCandidate {
  Config config;
  std::vector<std::string> changed;
};
std::expected<ReloadCandidate, std::vector<std::string>> prepareReload(
    const Config& running, const boost::program_options::variables_map& command_line);
// "a, b, c"
std::string joinKeys(const std::vector<std::string>& keys);

std::string_view toString(TakeoverMode mode);

} // namespace failover::daemon
