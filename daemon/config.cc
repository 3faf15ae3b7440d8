#include "daemon/config.h"

#include "tls/secret.h"

#include <grp.h>
#include <sys/un.h>

#include <boost/any.hpp>
#include <boost/program_options/value_semantic.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>

namespace failover::daemon {

namespace po = boost::program_options;

namespace {

// Corosync's CPG_MAX_NAME_LENGTH is 128 bytes including the terminator.
constexpr std::size_t MAX_GROUP_NAME = 127;
constexpr std::size_t MIN_CLUSTER_KEY = 32;
constexpr std::size_t MAX_CLUSTER_KEY = 4096;
constexpr std::size_t MAX_CONFIG_LINE = 4096;

// One value for one key, and where it came from ("file:line" or "command line").
struct Setting {
  std::string value;
  std::string where;
};

using Settings = std::map<std::string, std::vector<Setting>, std::less<>>;

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

// The file is read here rather than by po::parse_config_file because that parser cannot say
// on which line a problem is, and an operator needs the line. The syntax is the same subset:
// "key = value" lines, full-line comments with '#', blank lines.
Settings readConfigFile(std::istream& in, const std::filesystem::path& file,
                        const po::options_description& table, std::vector<std::string>& problems) {
  Settings settings;
  std::string line;
  for (unsigned number = 1; std::getline(in, line); ++number) {
    const std::string where = file.string() + ":" + std::to_string(number);
    if (line.size() > MAX_CONFIG_LINE) {
      problems.push_back(where + ": line longer than " + std::to_string(MAX_CONFIG_LINE) +
                         " characters");
      continue;
    }
    const auto text = trim(line);
    if (text.empty() || text.front() == '#') {
      continue;
    }
    const auto equals = text.find('=');
    if (equals == std::string_view::npos) {
      problems.push_back(where + ": expected 'key = value', found '" + std::string(text) + "'");
      continue;
    }
    const std::string key(trim(text.substr(0, equals)));
    const std::string value(trim(text.substr(equals + 1)));
    const auto* option = table.find_nothrow(key, false);
    if (key.empty() || option == nullptr) {
      problems.push_back(where + ": unknown key '" + key +
                         "' (see failoverd --help or failoverd.conf(5) for the keys)");
      continue;
    }
    auto& values = settings[key];
    if (!values.empty() && !option->semantic()->is_composing()) {
      problems.push_back(where + ": " + key + ": given again (first given at " +
                         values.front().where + "); it takes one value");
      continue;
    }
    values.push_back({value, where});
  }
  return settings;
}

// Command-line values replace the file's values for the same key.
void applyCommandLine(Settings& settings, const po::variables_map& command_line,
                      const po::options_description& table) {
  for (const auto& option : table.options()) {
    const auto& key = option->long_name();
    const auto it = command_line.find(key);
    if (it == command_line.end() || it->second.defaulted()) {
      continue;
    }
    std::vector<Setting> values;
    const std::string where = "command line option --" + key;
    if (option->semantic()->is_composing()) {
      for (const auto& value : it->second.as<std::vector<std::string>>()) {
        values.push_back({value, where});
      }
    } else {
      values.push_back({it->second.as<std::string>(), where});
    }
    settings[key] = std::move(values);
  }
}

// Turns raw settings into typed values, recording every problem instead of stopping at the
// first, so an operator fixes a file in one pass.
class Validator {
public:
  Validator(const Settings& settings, const po::options_description& table,
            std::vector<std::string>& problems)
      : settings_(settings), table_(table), problems_(problems) {}

  // The single value of key: the one given, else the table's default, else a "missing" problem.
  std::optional<Setting> single(const std::string& key) {
    if (const auto it = settings_.find(key); it != settings_.end() && !it->second.empty()) {
      return it->second.front();
    }
    boost::any default_value;
    if (table_.find(key, false).semantic()->apply_default(default_value)) {
      return Setting{boost::any_cast<std::string>(default_value), "default"};
    }
    problems_.push_back("missing required key '" + key + "'");
    return std::nullopt;
  }

  std::optional<Setting> optional(const std::string& key) {
    if (const auto it = settings_.find(key); it != settings_.end() && !it->second.empty()) {
      return it->second.front();
    }
    return std::nullopt;
  }

  std::vector<Setting> all(const std::string& key) {
    const auto it = settings_.find(key);
    if (it == settings_.end() || it->second.empty()) {
      problems_.push_back("missing required key '" + key + "' (give it at least once)");
      return {};
    }
    return it->second;
  }

  void problem(const Setting& setting, const std::string& key, const std::string& message) {
    problems_.push_back(setting.where + ": " + key + ": " + message);
  }

  std::optional<unsigned> number(const std::string& key, unsigned min, unsigned max) {
    const auto setting = single(key);
    if (!setting) {
      return std::nullopt;
    }
    const auto& text = setting->value;
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || value < min ||
        value > max) {
      problem(*setting, key,
              "'" + text + "' is not a whole number from " + std::to_string(min) + " to " +
                  std::to_string(max));
      return std::nullopt;
    }
    return value;
  }

  template <class Enum>
  std::optional<Enum> choice(const std::string& key,
                             std::initializer_list<std::pair<std::string_view, Enum>> choices) {
    const auto setting = single(key);
    if (!setting) {
      return std::nullopt;
    }
    std::string names;
    for (const auto& [name, value] : choices) {
      if (setting->value == name) {
        return value;
      }
      names += names.empty() ? "" : ", ";
      names += name;
    }
    problem(*setting, key, "'" + setting->value + "' is not one of: " + names);
    return std::nullopt;
  }

private:
  const Settings& settings_;
  const po::options_description& table_;
  std::vector<std::string>& problems_;
};

bool isNodeNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

void validateNode(Validator& v, Config& config) {
  if (const auto name = v.single("node-name")) {
    if (name->value.empty() || name->value.size() > 64 ||
        !std::all_of(name->value.begin(), name->value.end(), isNodeNameChar)) {
      v.problem(*name, "node-name",
                "'" + name->value + "' must be 1-64 characters of letters, digits, '-', '_', '.'");
    } else {
      config.node_name = name->value;
    }
  }
  if (const auto priority = v.number("node-priority", 1, 255)) {
    config.node_priority = *priority;
  }
}

void validateNetwork(Validator& v, Config& config) {
  for (const auto& setting : v.all("vip")) {
    auto prefix = netctl::parseIpPrefix(setting.value);
    if (!prefix) {
      v.problem(setting, "vip", prefix.error().message);
    } else if (std::find(config.vips.begin(), config.vips.end(), *prefix) != config.vips.end()) {
      v.problem(setting, "vip", "'" + setting.value + "' is listed twice");
    } else {
      config.vips.push_back(*prefix);
    }
  }
  if (const auto interface = v.single("interface")) {
    if (auto valid = netctl::validateInterfaceName(interface->value); !valid) {
      v.problem(*interface, "interface", valid.error().message);
    } else {
      config.interface = interface->value;
    }
  }
  if (const auto mode = v.choice<TakeoverMode>(
          "takeover-mode", {{"move-ip", TakeoverMode::MoveIp}, {"shared-ip", TakeoverMode::SharedIp}})) {
    config.takeover_mode = *mode;
  }
}

void validateCluster(Validator& v, Config& config) {
  if (const auto group = v.single("cluster-group")) {
    if (group->value.empty() || group->value.size() > MAX_GROUP_NAME) {
      v.problem(*group, "cluster-group",
                "must be 1-" + std::to_string(MAX_GROUP_NAME) + " bytes long");
    } else {
      config.cluster_group = group->value;
    }
  }
  if (const auto key_file = v.single("cluster-key-file")) {
    // Read once to prove it is usable; the bytes are wiped as soon as the check is done.
    if (auto key = tls::readSecretFile(key_file->value, MIN_CLUSTER_KEY, MAX_CLUSTER_KEY); !key) {
      v.problem(*key_file, "cluster-key-file",
                key.error().message + " (create one with: failoverctl keygen FILE)");
    } else {
      config.cluster_key_file = key_file->value;
    }
  }
}

void validateControl(Validator& v, Config& config) {
  if (const auto socket = v.single("control-socket")) {
    const std::filesystem::path path(socket->value);
    if (!path.is_absolute() || socket->value.size() >= sizeof(sockaddr_un{}.sun_path)) {
      v.problem(*socket, "control-socket",
                "'" + socket->value + "' must be an absolute path shorter than " +
                    std::to_string(sizeof(sockaddr_un{}.sun_path)) + " bytes");
    } else {
      config.control_socket = path;
    }
  }
  if (const auto group = v.optional("control-group")) {
    if (::getgrnam(group->value.c_str()) == nullptr) {
      v.problem(*group, "control-group",
                "group '" + group->value + "' does not exist (create it with groupadd)");
    } else {
      config.control_group = group->value;
    }
  }
  if (const auto level = v.choice<LogLevel>("log-level", {{"error", LogLevel::Error},
                                                          {"warning", LogLevel::Warning},
                                                          {"notice", LogLevel::Notice},
                                                          {"info", LogLevel::Info},
                                                          {"debug", LogLevel::Debug}})) {
    config.log_level = *level;
  }
}

std::string joinProblems(const std::vector<std::string>& problems) {
  std::string text;
  for (const auto& problem : problems) {
    text += text.empty() ? "" : "\n";
    text += problem;
  }
  return text;
}

} // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(joinProblems(problems)), problems_(std::move(problems)) {}

po::options_description configOptions() {
  po::options_description table("Configuration (each is also a key in the configuration file)");
  const auto text = [] { return po::value<std::string>(); };
  const auto list = [] { return po::value<std::vector<std::string>>()->composing(); };
  table.add_options()
    ("node-name", text(), "this node's name, unique in the cluster (letters, digits, '-', '_', '.')")
    ("node-priority", text()->default_value("100"),
     "election priority, 1-255; the highest quorate, in-sync node becomes active")
    ("vip", list(), "virtual IP with prefix length (IPv4 or IPv6); repeat for several")
    ("interface", text(), "the service interface that carries the VIP")
    ("takeover-mode", text()->default_value("move-ip"),
     "move-ip: the active adds the VIP; shared-ip: the VIP is on every node and standbys "
     "ignore ARP for it")
    ("cluster-group", text()->default_value("failoverd"), "Corosync CPG group name")
    ("cluster-key-file", text()->default_value("/etc/failoverd/cluster.key"),
     "key that seals replication messages (0600, 32-4096 bytes, the same on every node)")
    ("control-socket", text()->default_value("/run/failoverd/control.sock"),
     "unix socket that failoverctl talks to")
    ("control-group", text(), "group whose members may use the control socket (root always may)")
    ("log-level", text()->default_value("notice"), "error, warning, notice, info or debug");
  return table;
}

Config loadConfig(const std::filesystem::path& file, const po::variables_map& command_line) {
  const auto table = configOptions();
  std::vector<std::string> problems;
  std::ifstream probe(file);
  if (!probe) {
    std::error_code ec;
    const bool exists = std::filesystem::exists(file, ec);
    throw ConfigError({file.string() + ": " +
                       (exists ? "cannot be read (check its permissions)"
                               : "no such file (give the path with --config, or create it)")});
  }
  Settings settings = readConfigFile(probe, file, table, problems);
  applyCommandLine(settings, command_line, table);

  Config config;
  config.source = file;
  Validator validator(settings, table, problems);
  validateNode(validator, config);
  validateNetwork(validator, config);
  validateCluster(validator, config);
  validateControl(validator, config);
  if (!problems.empty()) {
    for (auto& problem : problems) {
      // Problems without a location ("missing required key") belong to the file as a whole.
      if (problem.starts_with("missing")) {
        problem = file.string() + ": " + problem;
      }
    }
    throw ConfigError(std::move(problems));
  }
  return config;
}

std::vector<std::string> configWarnings(const Config& config) {
  std::vector<std::string> warnings;
  if (auto index = netctl::interfaceIndex(config.interface); !index) {
    warnings.push_back("interface: " + index.error().message +
                       "; failoverd will not start until it does");
  }
  return warnings;
}

std::optional<std::string> unreloadableChange(const Config& running, const Config& candidate) {
  if (running.node_name != candidate.node_name) {
    return "node-name";
  }
  if (running.vips != candidate.vips) {
    return "vip";
  }
  if (running.interface != candidate.interface) {
    return "interface";
  }
  if (running.takeover_mode != candidate.takeover_mode) {
    return "takeover-mode";
  }
  if (running.cluster_group != candidate.cluster_group) {
    return "cluster-group";
  }
  if (running.control_socket != candidate.control_socket) {
    return "control-socket";
  }
  return std::nullopt;
}

std::string_view toString(TakeoverMode mode) {
  return mode == TakeoverMode::SharedIp ? "shared-ip" : "move-ip";
}

std::string_view toString(LogLevel level) {
  switch (level) {
  case LogLevel::Error:
    return "error";
  case LogLevel::Warning:
    return "warning";
  case LogLevel::Notice:
    return "notice";
  case LogLevel::Info:
    return "info";
  case LogLevel::Debug:
    return "debug";
  }
  return "notice";
}

} // namespace failover::daemon
