#pragma once

#include "netctl/address.h"
#include "netctl/vip_owner.h"

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace failover::daemon {

using netctl::TakeoverMode;

enum class LogLevel { Error, Warning, Notice, Info, Debug };

inline constexpr const char* DEFAULT_CONFIG_FILE = "/etc/failoverd/failoverd.conf";

// The validated, immutable configuration. Built only by loadConfig; a reload builds a new one.
struct Config {
  std::filesystem::path source;
  std::string node_name;
  unsigned node_priority = 100;
  std::vector<netctl::IpPrefix> vips;
  std::string interface;
  TakeoverMode takeover_mode = TakeoverMode::MoveIp;
  std::string cluster_group;
  std::filesystem::path cluster_key_file;
  std::filesystem::path control_socket;
  std::optional<std::string> control_group;
  LogLevel log_level = LogLevel::Notice;
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
Config loadConfig(const std::filesystem::path& file,
                  const boost::program_options::variables_map& command_line);

// Facts an operator should know about but that do not make the file invalid (an interface
// that does not exist yet may be created later, e.g. a bond or VLAN).
std::vector<std::string> configWarnings(const Config& config);

// Settings that a reload cannot change in place: the first that differs, if any.
std::optional<std::string> unreloadableChange(const Config& running, const Config& candidate);

std::string_view toString(TakeoverMode mode);
std::string_view toString(LogLevel level);

} // namespace failover::daemon
