#include "daemon/config.h"

#include "sys/sandbox.h"

#include "tls/secret.h"

#include <grp.h>
#include <unistd.h>
#include <sys/un.h>

#include <boost/any.hpp>
#include <boost/program_options/value_semantic.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace failover::daemon {

namespace po = boost::program_options;

namespace {

// Corosync's CPG_MAX_NAME_LENGTH is 128 bytes including the terminator.
constexpr std::size_t MAX_GROUP_NAME = 127;
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
    if (key.empty()) {
      // (Boost's find_nothrow would throw for it: an empty name matches every option.)
      problems.push_back(where + ": no key before '=' in '" + std::string(text) + "'");
      continue;
    }
    const auto* option = table.find_nothrow(key, false);
    if (option == nullptr) {
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

  std::vector<Setting> optionalAll(const std::string& key) {
    const auto it = settings_.find(key);
    return it == settings_.end() ? std::vector<Setting>{} : it->second;
  }

  void missing(const std::string& key, const std::string& hint) {
    problems_.push_back("missing required key '" + key + "' (" + hint + ")");
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

  std::optional<bool> flag(const std::string& key) {
    const auto setting = single(key);
    if (!setting) {
      return std::nullopt;
    }
    const auto& v = setting->value;
    if (v == "yes" || v == "on" || v == "true" || v == "1") {
      return true;
    }
    if (v == "no" || v == "off" || v == "false" || v == "0") {
      return false;
    }
    problem(*setting, key, "'" + v + "' is not yes or no");
    return std::nullopt;
  }

  // ADDRESS:PORT with an IPv4 or IPv6 literal ([::1]:9477 or 127.0.0.1:9477).
  std::optional<std::pair<std::string, std::uint16_t>> endpoint(const Setting& setting, const std::string& key) {
    const auto colon = setting.value.rfind(':');
    std::string host = colon == std::string::npos ? "" : setting.value.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    unsigned port = 0;
    const auto port_text = colon == std::string::npos ? std::string() : setting.value.substr(colon + 1);
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (!netctl::parseIpAddress(host) || ec != std::errc{} || end != port_text.data() + port_text.size() ||
        port == 0 || port > 65535) {
      problem(setting, key, "'" + setting.value + "' is not ADDRESS:PORT (e.g. 127.0.0.1:9477 or [::1]:9477)");
      return std::nullopt;
    }
    return std::pair{host, static_cast<std::uint16_t>(port)};
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

std::optional<std::filesystem::path> validateKeyFile(Validator& v) {
  const auto key_file = v.single("cluster-key-file");
  if (!key_file) {
    return std::nullopt;
  }
  // Read once to prove it is usable; the bytes are wiped as soon as the check is done.
  if (auto key = tls::readSecretFile(key_file->value, MIN_CLUSTER_KEY, MAX_CLUSTER_KEY); !key) {
    v.problem(*key_file, "cluster-key-file", key.error().message + " (create one with: failoverctl keygen FILE)");
    return std::nullopt;
  }
  return key_file->value;
}

std::optional<LogLevel> validateLogLevel(Validator& v) {
  return v.choice<LogLevel>("log-level", {{"error", LogLevel::Error},
                                          {"warning", LogLevel::Warning},
                                          {"notice", LogLevel::Notice},
                                          {"info", LogLevel::Info},
                                          {"debug", LogLevel::Debug}});
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
  if (const auto key_file = validateKeyFile(v)) {
    config.cluster_key_file = *key_file;
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
  if (const auto level = validateLogLevel(v)) {
    config.log_level = *level;
  }
  if (const auto user = v.single("tls-user")) {
    if (auto account = sys::lookupAccount(user->value); !account) {
      v.problem(*user, "tls-user", account.error().message);
    } else {
      config.tls_user = *account;
    }
  }
}

void validateBehaviour(Validator& v, Config& config) {
  if (const auto preempt = v.flag("preempt")) {
    config.preempt = *preempt;
  }
  if (const auto replication = v.flag("replication")) {
    config.replication = *replication;
  }
  if (const auto versions = v.optional("test-protocol-versions")) {
    const std::string_view text = versions->value;
    const auto dash = text.find('-');
    const auto parse = [](std::string_view digits, unsigned& out) {
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
      return !digits.empty() && ec == std::errc{} && end == digits.data() + digits.size();
    };
    unsigned low = 0;
    unsigned high = 0;
    if (dash == std::string_view::npos || !parse(text.substr(0, dash), low) || !parse(text.substr(dash + 1), high) ||
        low < cluster::MESSAGE_VERSION || low > high || high > 255) {
      v.problem(*versions, "test-protocol-versions",
                "'" + versions->value + "' is not MIN-MAX with " + std::to_string(cluster::MESSAGE_VERSION) +
                    " <= MIN <= MAX <= 255 (this build reads and writes version " +
                    std::to_string(cluster::MESSAGE_VERSION) + ")");
    } else {
      config.protocol_versions = cluster::WireVersions{static_cast<std::uint8_t>(low), static_cast<std::uint8_t>(high)};
    }
  }
  if (const auto sync = v.choice<bool>("replication-mode", {{"sync", true}, {"async", false}})) {
    // Without replication there is nothing to wait for.
    config.listener.sync.enabled = *sync && config.replication;
  }
  if (const auto bound = v.number("sync-timeout-ms", 1, 10'000)) {
    config.listener.sync.bound = std::chrono::milliseconds(*bound);
  }
  if (const auto close = v.choice<bool>("sync-unconfirmed", {{"complete", false}, {"close", true}})) {
    config.listener.sync.close_unconfirmed = *close;
  }
  if (const auto down = v.flag("down-on-demote")) {
    config.down_on_demote = *down;
  }
  if (const auto count = v.number("announce-count", 1, 100)) {
    config.announce.count = *count;
  }
  if (const auto interval = v.number("announce-interval-ms", 0, 10'000)) {
    config.announce.interval = std::chrono::milliseconds(*interval);
  }
  if (const auto repeat = v.number("announce-repeat-ms", 0, 600'000)) {
    config.announce.repeat_after = std::chrono::milliseconds(*repeat);
  }
  if (const auto hold = v.number("hold-timeout-ms", 0, 60'000)) {
    config.hold_timeout = std::chrono::milliseconds(*hold);
  }
  if (const auto queue = v.number("hold-queue", 0, 65535)) {
    config.hold_queue = static_cast<std::uint16_t>(*queue);
  }
  if (const auto probe = v.number("probe-ms", 0, 10'000)) {
    config.probe_timeout = std::chrono::milliseconds(*probe);
  }
  if (const auto bound = v.number("guard-bound-ms", 10, 60'000)) {
    config.guard.bound = std::chrono::milliseconds(*bound);
  }
  if (const auto directory = v.single("guard-pin-directory")) {
    if (!std::filesystem::path(directory->value).is_absolute()) {
      v.problem(*directory, "guard-pin-directory", "'" + directory->value + "' must be an absolute path");
    } else {
      config.guard.pin_directory = directory->value;
    }
  }
  if (const auto lifetime = v.number("vip-lifetime", 0, 86'400)) {
    if (*lifetime != 0 && *lifetime < 3) {
      v.problem(v.single("vip-lifetime").value(), "vip-lifetime",
                "must be 0 (forever) or at least 3 seconds (it is renewed every third of it)");
    } else {
      config.vip_lifetime = std::chrono::seconds(*lifetime);
    }
  }
  if (const auto directory = v.single("state-directory")) {
    if (!std::filesystem::path(directory->value).is_absolute()) {
      v.problem(*directory, "state-directory", "'" + directory->value + "' must be an absolute path");
    } else {
      config.state_directory = directory->value;
    }
  }
  if (const auto program = v.optional("notify-program")) {
    std::error_code ec;
    if (!std::filesystem::path(program->value).is_absolute() || ::access(program->value.c_str(), X_OK) != 0) {
      v.problem(*program, "notify-program", "'" + program->value + "' is not an executable file (absolute path)");
    } else {
      config.notify_program = program->value;
    }
  }
  if (const auto timeout = v.number("notify-timeout-ms", 100, 600'000)) {
    config.notify_timeout = std::chrono::milliseconds(*timeout);
  }
  if (const auto metrics = v.optional("metrics-listen")) {
    if (auto endpoint = v.endpoint(*metrics, "metrics-listen")) {
      config.metrics_address = endpoint->first;
      config.metrics_port = endpoint->second;
    }
  }
}

// "NAME NODEID ADDRESS[,ADDRESS...]"
std::optional<cluster::LeaseVoter> parseVoter(Validator& v, const Setting& setting, std::uint16_t port) {
  std::istringstream words(setting.value);
  std::string name;
  std::string id_text;
  std::string addresses;
  std::string extra;
  words >> name >> id_text >> addresses;
  const auto bad = [&](const std::string& why) {
    v.problem(setting, "lease-voter", "'" + setting.value + "': " + why + " (expected NAME NODEID ADDRESS[,ADDRESS])");
    return std::nullopt;
  };
  if (addresses.empty() || (words >> extra)) {
    return bad("three fields");
  }
  cluster::LeaseVoter voter;
  voter.name = name;
  const auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), voter.id);
  if (ec != std::errc{} || end != id_text.data() + id_text.size() || voter.id == 0) {
    return bad("'" + id_text + "' is not a node id (a positive whole number: corosync's nodeid)");
  }
  std::istringstream list(addresses);
  for (std::string address; std::getline(list, address, ',');) {
    auto parsed = sys::SocketAddress::parse(address, port);
    if (!parsed) {
      return bad(parsed.error().message);
    }
    voter.addresses.push_back(*parsed);
  }
  return voter;
}

// A CPU list (agent-cpus, tls-cpus): its syntax, and that this machine has those CPUs online.
void validateCpus(Validator& v, const std::string& key, std::optional<sys::CpuSet>& cpus) {
  const auto setting = v.optional(key);
  if (!setting) {
    return;
  }
  auto parsed = sys::CpuSet::parse(setting->value);
  if (!parsed) {
    v.problem(*setting, key, parsed.error().message);
    return;
  }
  if (const auto online = sys::CpuSet::online(); online && !parsed->without(*online).empty()) {
    v.problem(*setting, key, "CPUs " + parsed->without(*online).toString() + " are not online (this machine's: " +
                                 online->toString() + ")");
    return;
  }
  cpus = *parsed;
}

void validateRealtimePriority(Validator& v, int& priority) {
  if (const auto value = v.number("realtime-priority", 0, 99)) {
    priority = static_cast<int>(*value);
  }
}

// Fills `lease` from the lease-* keys; `self`: this node's (or the witness's) name.
void validateLease(Validator& v, const std::string& self, LeaseConfig& lease, bool witness) {
  const auto enabled = witness ? std::optional(true) : v.flag("lease");
  const auto port = v.number("lease-port", 1, 65535);
  const auto renew = v.number("lease-renew-ms", 1, 1000);
  const auto length = v.number("lease-ms", 2, 60'000);
  const auto missed = v.number("lease-missed-renewals", 1, 100);
  const auto drift = v.number("lease-drift-ppm", 0, 100'000);
  const auto entries = v.optionalAll("lease-voter");
  if (!enabled || !*enabled) {
    if (!entries.empty()) {
      v.problem(entries.front(), "lease-voter", "given, but lease = no: set lease = yes, or remove the voters");
    }
    return;
  }
  if (!port || !renew || !length || !missed || !drift) {
    return;
  }
  if (*length <= 2 * *renew) {
    v.problem(v.single("lease-ms").value(), "lease-ms",
              std::to_string(*length) + " is not more than twice lease-renew-ms (" + std::to_string(*renew) +
                  "): the holder must renew several times within one lease");
    return;
  }
  if (*missed * *renew >= *length) {
    v.problem(v.single("lease-missed-renewals").value(), "lease-missed-renewals",
              std::to_string(*missed) + " renewals of " + std::to_string(*renew) + " ms are not less than lease-ms (" +
                  std::to_string(*length) + "): a standby would notice a silent holder only after its lease ended");
    return;
  }
  lease.enabled = true;
  lease.settings.renew_interval = std::chrono::milliseconds(*renew);
  lease.settings.length = std::chrono::milliseconds(*length);
  lease.settings.missed_renewals = *missed;
  lease.settings.drift_ppm = *drift;
  lease.settings.votes = true;
  for (const auto& entry : entries) {
    auto voter = parseVoter(v, entry, static_cast<std::uint16_t>(*port));
    if (!voter) {
      continue;
    }
    const auto clash = std::find_if(lease.voters.begin(), lease.voters.end(), [&voter](const auto& other) {
      return other.id == voter->id || other.name == voter->name;
    });
    if (clash != lease.voters.end()) {
      v.problem(entry, "lease-voter", "'" + entry.value + "': the name or node id of " + clash->name + " again");
      continue;
    }
    if (!lease.voters.empty() && voter->addresses.size() != lease.voters.front().addresses.size()) {
      v.problem(entry, "lease-voter", "'" + entry.value + "': every voter needs one address per cluster link (" +
                                          std::to_string(lease.voters.front().addresses.size()) + " before)");
      continue;
    }
    if (voter->name == self) {
      lease.settings.self = voter->id;
    }
    lease.settings.voters.push_back(voter->id);
    lease.voters.push_back(std::move(*voter));
  }
  if (entries.empty()) {
    v.missing("lease-voter", "lease = yes needs every node, and a witness for two nodes, as lease-voter");
    return;
  }
  if (lease.settings.self == 0) {
    v.problem(entries.front(), "lease-voter", "none of the entries is this node ('" + self + "', its node-name)");
  }
  if (lease.voters.size() < 3) {
    v.problem(entries.front(), "lease-voter",
              std::to_string(lease.voters.size()) + " voters: a majority of two cannot survive the loss of either; "
              "add a witness (failoverd --witness) as a third voter, or set lease = no");
  }
}


// alpn: the protocols offered, in order of preference. Its default offers h2 wherever it can
// be served: always from the files, through the relay only to an h2-backend.
void parseAlpn(Validator& v, tls::ListenerConfig& listener, bool relay) {
  const auto given = v.optional("alpn");
  const bool h2_backend = !listener.service.h2_backend_address.empty();
  if (!given) {
    listener.tls.alpn = {std::string(tls::ALPN_HTTP11)};
    if (!relay || h2_backend) {
      listener.tls.alpn.insert(listener.tls.alpn.begin(), std::string(tls::ALPN_HTTP2));
    }
    return;
  }
  std::vector<std::string> protocols;
  std::string_view rest = given->value;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    auto name = rest.substr(0, comma);
    while (!name.empty() && name.front() == ' ') {
      name.remove_prefix(1);
    }
    while (!name.empty() && name.back() == ' ') {
      name.remove_suffix(1);
    }
    if (name != tls::ALPN_HTTP2 && name != tls::ALPN_HTTP11) {
      v.problem(*given, "alpn", "'" + std::string(name) + "' is not h2 or http/1.1 (give e.g. h2,http/1.1)");
      return;
    }
    if (std::ranges::find(protocols, name) != protocols.end()) {
      v.problem(*given, "alpn", "'" + std::string(name) + "' is given twice");
      return;
    }
    protocols.emplace_back(name);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  if (protocols.empty()) {
    v.problem(*given, "alpn", "is empty: give h2, http/1.1 or both (h2,http/1.1)");
    return;
  }
  const bool offers_h2 = std::ranges::find(protocols, tls::ALPN_HTTP2) != protocols.end();
  if (relay && offers_h2 && !h2_backend) {
    v.problem(*given, "alpn", "offers h2 but the relay has no h2-backend: give h2-backend = ADDRESS:PORT "
                              "(an h2c backend), or alpn = http/1.1");
  } else if (relay && !offers_h2 && h2_backend) {
    v.problem(*given, "alpn", "does not offer h2, so h2-backend would never be used: add h2 or drop h2-backend");
  }
  listener.tls.alpn = std::move(protocols);
}

void validateTls(Validator& v, Config& config) {
  auto& listener = config.listener;
  if (const auto address = v.single("tls-listen")) {
    if (!netctl::parseIpAddress(address->value)) {
      v.problem(*address, "tls-listen", "'" + address->value + "' is not an IPv4 or IPv6 address (:: for all)");
    } else {
      listener.address = address->value;
    }
  }
  if (const auto port = v.number("tls-port", 1, 65535)) {
    listener.port = static_cast<std::uint16_t>(*port);
  }
  const auto chains = v.optionalAll("tls-certificate");
  const auto keys = v.optionalAll("tls-key");
  if (chains.size() != keys.size()) {
    v.problem(chains.empty() ? keys.front() : chains.front(), "tls-certificate",
                std::to_string(chains.size()) + " tls-certificate but " + std::to_string(keys.size()) +
                    " tls-key: give one tls-key after each tls-certificate");
  }
  for (std::size_t i = 0; i < std::min(chains.size(), keys.size()); ++i) {
    for (const auto* file : {&chains[i], &keys[i]}) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(file->value, ec)) {
        v.problem(*file, file == &chains[i] ? "tls-certificate" : "tls-key",
                    "'" + file->value + "' is not a readable file");
      }
    }
    listener.tls.certificates.push_back({chains[i].value, keys[i].value});
  }
  if (const auto directory = v.optional("tls-certificate-dir")) {
    std::error_code ec;
    if (!std::filesystem::is_directory(directory->value, ec)) {
      v.problem(*directory, "tls-certificate-dir", "'" + directory->value + "' is not a directory");
    } else {
      listener.tls.certificate_directory = directory->value;
    }
  }
  if (listener.tls.certificates.empty() && listener.tls.certificate_directory.empty()) {
    v.missing("tls-certificate", "give tls-certificate and tls-key (or tls-certificate-dir)");
  }
  if (const auto reject = v.flag("tls-reject-unknown-names")) {
    listener.tls.reject_unknown_names = *reject;
  }
  if (const auto tickets = v.flag("tls-session-tickets")) {
    listener.tls.session_tickets = *tickets;
  }
  if (const auto early = v.flag("tls-early-data")) {
    listener.tls.early_data = *early;
  }
  if (const auto timeout = v.number("tls-session-timeout", 10, 86'400)) {
    listener.tls.session_timeout = std::chrono::seconds(*timeout);
  }
  if (const auto context = v.single("tls-session-context")) {
    if (context->value.empty() || context->value.size() > 32) {
      v.problem(*context, "tls-session-context", "must be 1-32 bytes long");
    } else {
      listener.tls.session_id_context = context->value;
    }
  }
  if (const auto workers = v.number("tls-workers", 0, 256)) {
    listener.workers = *workers;
  }
  if (const auto rotation = v.number("tls-ticket-rotation", 60, 604'800)) {
    listener.ticket_rotation = std::chrono::seconds(*rotation);
  }
  if (const auto entries = v.number("tls-cache-entries", 1, 10'000'000)) {
    listener.cache_entries = *entries;
    listener.cache_bytes = static_cast<std::size_t>(*entries) * 2048;
  }
  if (const auto idle = v.number("tls-idle-timeout", 1, 3600)) {
    listener.idle_timeout = std::chrono::seconds(*idle);
  }
  const auto service = v.choice<tls::ServiceConfig::Kind>(
      "service", {{"static", tls::ServiceConfig::Kind::StaticFiles}, {"relay", tls::ServiceConfig::Kind::Relay}});
  if (service) {
    listener.service.kind = *service;
  }
  if (service == tls::ServiceConfig::Kind::StaticFiles) {
    if (const auto root = v.single("document-root")) {
      std::error_code ec;
      if (!std::filesystem::is_directory(root->value, ec)) {
        v.problem(*root, "document-root", "'" + root->value + "' is not a directory");
      } else {
        listener.service.document_root = root->value;
      }
    }
    for (const auto* key : {"backend", "h2-backend", "proxy-protocol"}) {
      if (const auto given = v.optional(key)) {
        v.problem(*given, key, "applies only to service = relay, and this service is static");
      }
    }
  } else if (service == tls::ServiceConfig::Kind::Relay) {
    if (const auto backend = v.single("backend")) {
      if (auto endpoint = v.endpoint(*backend, "backend")) {
        listener.service.backend_address = endpoint->first;
        listener.service.backend_port = endpoint->second;
      }
    }
    if (const auto h2_backend = v.optional("h2-backend")) {
      if (auto endpoint = v.endpoint(*h2_backend, "h2-backend")) {
        listener.service.h2_backend_address = endpoint->first;
        listener.service.h2_backend_port = endpoint->second;
      }
    }
    if (const auto proxy = v.flag("proxy-protocol")) {
      listener.service.proxy_protocol = *proxy;
    }
  }
  parseAlpn(v, listener, service == tls::ServiceConfig::Kind::Relay);
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

namespace {

// Whether `failoverctl reload` (SIGHUP) applies a key in place, or only a restart does.
enum class Reload { Restart, Live };

// The option table, each key with its help and its Reload tag.
struct OptionTable {
  po::options_description options{"Configuration (each is also a key in the configuration file)"};
  std::set<std::string, std::less<>> live;
};

// table.add_options() that also records each key's Reload tag (Restart unless given).
class OptionAdder {
public:
  explicit OptionAdder(OptionTable& table) : init_(table.options.add_options()), live_(table.live) {}
  OptionAdder& operator()(const char* name, const po::value_semantic* semantic, const char* help,
                          Reload reload = Reload::Restart) {
    init_(name, semantic, help);
    if (reload == Reload::Live) {
      live_.insert(name);
    }
    return *this;
  }

private:
  po::options_description_easy_init init_;
  std::set<std::string, std::less<>>& live_;
};

// The lease's keys, shared by the daemon's table and the witness's (which always votes), and the
// scheduling that the lease's timing needs.
void addLeaseOptions(OptionTable& table, bool with_switch) {
  const auto text = [] { return po::value<std::string>(); };
  OptionAdder{table}("realtime-priority", text()->default_value(std::to_string(DEFAULT_REALTIME_PRIORITY)),
                     "SCHED_RR priority (1-99) of the thread that runs the lease, the VIP guard's timers and the "
                     "decisions, so that CPU load cannot delay them; 0: the default scheduler");
  if (with_switch) {
    OptionAdder{table}("lease", text()->default_value("no"),
                       "yes: answer for the VIP only under a majority lease, for failover in well under 100 ms "
                       "(docs/lease.md); needs 3 or more lease-voter entries");
  }
  OptionAdder{table}
    ("lease-voter", po::value<std::vector<std::string>>()->composing(),
     "NAME NODEID ADDRESS[,ADDRESS]: a voter of the lease (every node, plus a witness for two nodes), its "
     "corosync node id and its address on each cluster link, in the same order everywhere; repeat")
    ("lease-port", text()->default_value("5410"), "UDP port of the lease's heartbeat on the cluster links")
    ("lease-renew-ms", text()->default_value("10"), "h: the lease holder asks the voters this often, 1-1000")
    ("lease-ms", text()->default_value("60"),
     "L: how long a voter's grant binds it; a failover takes about L + h (more than 2 h)")
    ("lease-missed-renewals", text()->default_value("3"),
     "a holder unheard for this many renewals is silent: the next in line asks for the lease")
    ("lease-drift-ppm", text()->default_value("1000"), "the bound on any clock's rate error, in parts per million");
}

OptionTable optionTable() {
  OptionTable table;
  const auto text = [] { return po::value<std::string>(); };
  const auto list = [] { return po::value<std::vector<std::string>>()->composing(); };
  constexpr auto LIVE = Reload::Live;
  OptionAdder{table}
    ("node-name", text(), "this node's name, unique in the cluster (letters, digits, '-', '_', '.')")
    ("node-priority", text()->default_value("100"),
     "election priority, 1-255; the highest quorate, in-sync node becomes active", LIVE)
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
    ("tls-user", text()->default_value("failoverd-tls"),
     "the unprivileged system user the TLS service process runs as (never root)")
    ("log-level", text()->default_value("notice"), "error, warning, notice, info or debug", LIVE)
    ("preempt", text()->default_value("no"),
     "yes: a better-ranked in-sync node takes the VIP from the active one", LIVE)
    ("replication", text()->default_value("yes"), "replicate TLS sessions and ticket keys (no: for tests)")
    ("test-protocol-versions", text(),
     "MIN-MAX: for tests of mixed-version clusters only: announce these replication protocol versions "
     "instead of this build's own (its messages keep this build's layout)")
    ("replication-mode", text()->default_value("sync"),
     "sync: a handshake's final flight waits until its session is on every member; async: it does not wait")
    ("sync-timeout-ms", text()->default_value("100"),
     "longest a handshake waits in sync mode, 1-10000; then see sync-unconfirmed")
    ("sync-unconfirmed", text()->default_value("complete"),
     "complete: finish the handshake unprotected (counted); close: close the connection instead")
    ("down-on-demote", text()->default_value("no"), "bring the service interface down when demoted (self-fence)")
    ("announce-count", text()->default_value("5"), "gratuitous ARPs / unsolicited NAs per burst, 1-100")
    ("announce-interval-ms", text()->default_value("20"), "between the frames of a burst")
    ("announce-repeat-ms", text()->default_value("5000"), "a second burst after this long (0: none)")
    ("hold-timeout-ms", text()->default_value("3000"),
     "longest new connections are held during a takeover (0: no connection hold)")
    ("hold-queue", text()->default_value("32"), "NFQUEUE number of the connection hold")
    ("probe-ms", text()->default_value("0"),
     "ARP-probe the VIP this long before taking it; a reply refuses the takeover (0: no probe)")
    ("state-directory", text()->default_value("/run/failoverd"), "where undo records survive a crash")
    ("guard-bound-ms", text()->default_value("50"),
     "the VIP guard (eBPF) stops this node answering for the VIP this long after the daemon stops running, "
     "10-60000")
    ("guard-pin-directory", text()->default_value("/sys/fs/bpf/failoverd"),
     "where the VIP guard's maps are pinned (on a bpf file system), so a restart takes them over")
    ("vip-lifetime", text()->default_value("5"),
     "seconds: VIPs are added with this lifetime and renewed, so the kernel removes them if the daemon is "
     "gone (0: forever)")
    ("metrics-listen", text(), "ADDRESS:PORT of the Prometheus text endpoint (off if not given)")
    ("notify-program", text(), "run on every role change with OLD_ROLE NEW_ROLE REASON (absolute path)", LIVE)
    ("notify-timeout-ms", text()->default_value("5000"), "a notify program still running after this is killed", LIVE)
    ("tls-listen", text()->default_value("::"), "address the TLS service listens on (:: for all)")
    ("tls-port", text()->default_value("443"), "TCP port of the TLS service")
    ("tls-certificate", list(), "PEM certificate chain; repeat, each followed by its tls-key", LIVE)
    ("tls-key", list(), "PEM private key of the tls-certificate before it", LIVE)
    ("tls-certificate-dir", text(), "also load every NAME.crt with a NAME.key from this directory")
    ("tls-reject-unknown-names", text()->default_value("no"),
     "yes: an SNI name no certificate covers gets an unrecognized_name alert (no: the default)")
    ("tls-session-tickets", text()->default_value("yes"),
     "yes: TLS 1.2 tickets and TLS 1.3 stateless tickets; no: session IDs and stateful tickets")
    ("tls-session-timeout", text()->default_value("300"), "session lifetime in seconds")
    ("tls-early-data", text()->default_value("no"), "accept TLS 1.3 0-RTT (tickets become single-use)")
    ("tls-session-context", text()->default_value("failoverd"), "session-ID context (same on every node)")
    ("tls-workers", text()->default_value("0"), "TLS worker threads (0: one per CPU it may run on, see tls-cpus)")
    ("agent-cpus", text(),
     "CPUs the agent runs on (the lease, the decisions, replication), e.g. 0; with tls-cpus and Corosync on the "
     "same CPUs, the cluster's real-time work stays off the TLS workers' CPUs (default: all it may run on)")
    ("tls-cpus", text(),
     "CPUs the TLS service process runs on, e.g. 1-3 (default: all failoverd may run on; see agent-cpus)")
    ("tls-ticket-rotation", text()->default_value("3600"), "seconds between ticket key rotations")
    ("tls-cache-entries", text()->default_value("100000"), "session cache size in entries")
    ("tls-idle-timeout", text()->default_value("60"), "seconds before an idle connection is closed")
    ("service", text()->default_value("static"), "static (files from document-root) or relay (to backend)")
    ("document-root", text()->default_value("/var/lib/failoverd/www"), "files served by the static service")
    ("alpn", text(), "protocols offered in ALPN, preferred first: h2,http/1.1 (the default where h2 can be served), or one of them")
    ("backend", text(), "ADDRESS:PORT the relay service forwards HTTP/1.1 connections to")
    ("h2-backend", text(), "ADDRESS:PORT of an h2c backend the relay forwards HTTP/2 connections to")
    ("proxy-protocol", text()->default_value("no"), "send a PROXY v2 header to the backend");
  addLeaseOptions(table, true);
  return table;
}

} // namespace

po::options_description configOptions() { return optionTable().options; }

po::options_description witnessOptions() {
  OptionTable table;
  const auto text = [] { return po::value<std::string>(); };
  OptionAdder{table}
    ("node-name", text(), "the witness's name among the lease-voter entries")
    ("cluster-key-file", text()->default_value("/etc/failoverd/cluster.key"),
     "the cluster's key (the same file as on the nodes)")
    ("log-level", text()->default_value("notice"), "error, warning, notice, info or debug");
  addLeaseOptions(table, false);
  return table.options;
}

WitnessConfig loadWitnessConfig(const std::filesystem::path& file, const po::variables_map& command_line) {
  const auto table = witnessOptions();
  std::vector<std::string> problems;
  std::ifstream in(file);
  if (!in) {
    throw ConfigError({file.string() + ": cannot be read (give the path with --config, or create it)"});
  }
  Settings settings = readConfigFile(in, file, table, problems);
  applyCommandLine(settings, command_line, table);
  WitnessConfig config;
  config.source = file;
  Validator v(settings, table, problems);
  if (const auto name = v.single("node-name")) {
    config.name = name->value;
  }
  if (const auto key_file = validateKeyFile(v)) {
    config.cluster_key_file = *key_file;
  }
  if (const auto level = validateLogLevel(v)) {
    config.log_level = *level;
  }
  validateLease(v, config.name, config.lease, true);
  validateRealtimePriority(v, config.realtime_priority);
  if (!problems.empty()) {
    throw ConfigError(std::move(problems));
  }
  return config;
}

bool reloadsLive(std::string_view key) {
  static const auto live = optionTable().live;
  return live.contains(key);
}

ReloadPlan reloadPlan(const Config& running, const Config& candidate) {
  ReloadPlan plan;
  std::set<std::string> keys;
  for (const auto* config : {&running, &candidate}) {
    for (const auto& [key, values] : config->values) {
      keys.insert(key);
    }
  }
  for (const auto& key : keys) {
    const auto was = running.values.find(key);
    const auto now = candidate.values.find(key);
    const bool same = (was == running.values.end()) == (now == candidate.values.end()) &&
                      (was == running.values.end() || was->second == now->second);
    if (!same) {
      (reloadsLive(key) ? plan.changed : plan.refused).push_back(key);
    }
  }
  return plan;
}

std::string renderSettings(const Config& config) {
  std::string text;
  for (const auto& [key, values] : config.values) {
    for (const auto& value : values) {
      text += key + " = " + value + "\n";
    }
  }
  return text;
}

std::string joinKeys(const std::vector<std::string>& keys) {
  std::string text;
  for (const auto& key : keys) {
    text += (text.empty() ? "" : ", ") + key;
  }
  return text;
}

std::expected<ReloadCandidate, std::vector<std::string>> prepareReload(const Config& running,
                                                                        const po::variables_map& command_line) {
  std::optional<Config> loaded;
  try {
    loaded = loadConfig(running.source, command_line);
  } catch (const ConfigError& error) {
    auto problems = error.problems();
    problems.emplace_back(error.what());
    return std::unexpected(std::move(problems));
  }
  const auto plan = reloadPlan(running, *loaded);
  if (!plan.refused.empty()) {
    return std::unexpected(std::vector<std::string>{
        joinKeys(plan.refused) + " cannot change while running: restart failoverd to apply " +
        (plan.refused.size() == 1 ? "it" : "them")});
  }
  return ReloadCandidate{std::move(*loaded), plan.changed};
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
  for (const auto& [key, given] : settings) {
    auto& values = config.values[key];
    for (const auto& setting : given) {
      values.push_back(setting.value);
    }
  }
  Validator validator(settings, table, problems);
  validateNode(validator, config);
  validateNetwork(validator, config);
  validateCluster(validator, config);
  validateControl(validator, config);
  validateBehaviour(validator, config);
  validateTls(validator, config);
  validateLease(validator, config.node_name, config.lease, false);
  validateRealtimePriority(validator, config.realtime_priority);
  validateCpus(validator, "agent-cpus", config.agent_cpus);
  validateCpus(validator, "tls-cpus", config.tls_cpus);
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

std::vector<std::string> checkCertificates(const Config& config) {
  tls::SessionCache cache(1, 1);
  tls::TicketKeyring keyring(config.listener.ticket_rotation, config.listener.tls.session_timeout);
  tls::TlsCounters counters;
  if (auto context = tls::TlsContext::create(config.listener.tls, cache, keyring, counters, nullptr); !context) {
    return {"tls-certificate: " + context.error().message};
  }
  return {};
}

std::string_view toString(TakeoverMode mode) {
  return mode == TakeoverMode::SharedIp ? "shared-ip" : "move-ip";
}

} // namespace failover::daemon
