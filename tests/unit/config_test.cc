#include "daemon/config.h"

#include <doctest/doctest.h>

#include <boost/program_options.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

namespace po = boost::program_options;
using namespace failover::daemon;

namespace {

// A private directory with a valid cluster key and a config file written per test.
struct ConfigDir {
  std::filesystem::path dir;
  std::filesystem::path key;

  ConfigDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "failoverd-unit-XXXXXX").string();
    dir = ::mkdtemp(pattern.data());
    key = dir / "cluster.key";
    std::ofstream(key) << std::string(64, 'k');
    ::chmod(key.c_str(), 0600);
    // The configuration checks that these exist; their contents are checked by
    // checkCertificates (and the CLI tests, with real certificates).
    std::ofstream(dir / "chain.pem") << "chain";
    std::ofstream(dir / "key.pem") << "key";
    std::filesystem::create_directory(dir / "www");
  }
  ~ConfigDir() { std::filesystem::remove_all(dir); }

  std::filesystem::path write(const std::string& body) const {
    const auto file = dir / "failoverd.conf";
    std::ofstream(file) << body;
    return file;
  }

  std::string valid() const {
    return "# a comment\n"
           "node-name = n1\n"
           "\n"
           "vip = 198.18.1.10/24\n"
           "vip = fd00:198:18::10/64\n"
           "interface = lo\n"
           "cluster-key-file = " + key.string() + "\n"
           "tls-certificate = " + (dir / "chain.pem").string() + "\n"
           "tls-key = " + (dir / "key.pem").string() + "\n"
           "document-root = " + (dir / "www").string() + "\n";
  }
};

po::variables_map parseCommandLine(std::vector<std::string> args) {
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(configOptions()).run(), vm);
  return vm;
}

// The problems reported for a file, as one string (empty when the file is valid).
std::string problemsOf(const std::filesystem::path& file, const po::variables_map& cli = {}) {
  try {
    loadConfig(file, cli);
    return {};
  } catch (const ConfigError& error) {
    return error.what();
  }
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

// Enums are compared inside double parentheses: doctest would otherwise print them with the
// project's toString(), found by argument-dependent lookup, which returns a string_view.
TEST_CASE("a valid file becomes a typed configuration with defaults filled in") {
  ConfigDir d;
  const auto config = loadConfig(d.write(d.valid()), {});
  CHECK(config.node_name == "n1");
  REQUIRE(config.vips.size() == 2);
  CHECK(config.vips[1].length == 64);
  CHECK(config.interface == "lo");
  CHECK((config.takeover_mode == TakeoverMode::MoveIp));
  CHECK(config.node_priority == 100);
  CHECK(config.realtime_priority == DEFAULT_REALTIME_PRIORITY);
  CHECK(config.cluster_group == "failoverd");
  CHECK(config.control_socket == "/run/failoverd/control.sock");
  CHECK((config.log_level == LogLevel::Notice));
  CHECK(config.listener.sync.enabled);
  CHECK(config.listener.sync.bound == std::chrono::milliseconds(100));
  CHECK_FALSE(config.listener.sync.close_unconfirmed);
  CHECK(configWarnings(config).empty());
}

TEST_CASE("sync mode: its settings, and no waiting without replication") {
  ConfigDir d;
  auto config = loadConfig(d.write(d.valid() + "replication-mode = async\n"), {});
  CHECK_FALSE(config.listener.sync.enabled);
  config = loadConfig(d.write(d.valid() + "sync-timeout-ms = 250\nsync-unconfirmed = close\n"), {});
  CHECK(config.listener.sync.bound == std::chrono::milliseconds(250));
  CHECK(config.listener.sync.close_unconfirmed);
  config = loadConfig(d.write(d.valid() + "replication = no\n"), {});
  CHECK_FALSE(config.listener.sync.enabled);
  const std::string at = (d.dir / "failoverd.conf").string() + ":11: ";
  CHECK(contains(problemsOf(d.write(d.valid() + "replication-mode = eventual\n")),
                 at + "replication-mode: 'eventual' is not one of: sync, async"));
  CHECK(contains(problemsOf(d.write(d.valid() + "sync-timeout-ms = 0\n")),
                 at + "sync-timeout-ms: '0' is not a whole number from 1 to 10000"));
}

TEST_CASE("test-protocol-versions: this build's own by default; a range from it up, or a problem named") {
  ConfigDir d;
  auto config = loadConfig(d.write(d.valid()), {});
  CHECK(config.protocol_versions.min == cluster::MESSAGE_VERSION);
  CHECK(config.protocol_versions.max == cluster::MESSAGE_VERSION);
  config = loadConfig(d.write(d.valid() + "test-protocol-versions = 2-3\n"), {});
  CHECK(config.protocol_versions.min == 2);
  CHECK(config.protocol_versions.max == 3);
  const std::string at = (d.dir / "failoverd.conf").string() + ":11: test-protocol-versions: '";
  for (const std::string bad : {"1-2", "3-2", "2", "2-", "-3", "2-256", "a-b"}) {
    CAPTURE(bad);
    CHECK(contains(problemsOf(d.write(d.valid() + "test-protocol-versions = " + bad + "\n")),
                   at + bad + "' is not MIN-MAX with 2 <= MIN <= MAX <= 255"));
  }
}

TEST_CASE("the command line overrides the file, key for key") {
  ConfigDir d;
  const auto cli = parseCommandLine({"--node-priority", "200", "--takeover-mode", "shared-ip"});
  const auto config = loadConfig(d.write(d.valid() + "node-priority = 50\n"), cli);
  CHECK(config.node_priority == 200);
  CHECK((config.takeover_mode == TakeoverMode::SharedIp));
}

TEST_CASE("each kind of bad configuration is named with its file, line and key") {
  ConfigDir d;
  const auto file = d.dir / "failoverd.conf";
  const std::string at = file.string() + ":";

  SUBCASE("unknown key") {
    const auto problems = problemsOf(d.write(d.valid() + "vip-adress = 198.18.1.10/24\n"));
    CHECK(contains(problems, at + "11: unknown key 'vip-adress'"));
  }
  SUBCASE("a value without a key (found by the config fuzz target: it escaped as Boost's ambiguous_option)") {
    const auto problems = problemsOf(d.write(d.valid() + " = 198.18.1.10/24\n"));
    CHECK(contains(problems, at + "11: no key before '=' in '= 198.18.1.10/24'"));
  }
  SUBCASE("malformed address") {
    const auto problems = problemsOf(d.write("vip = 198.18.1.300/24\n" + d.valid()));
    CHECK(contains(problems, at + "1: vip: '198.18.1.300' is not an IPv4 or IPv6 address"));
  }
  SUBCASE("address without prefix") {
    CHECK(contains(problemsOf(d.write(d.valid() + "vip = 198.18.1.11\n")), at + "11: vip:"));
  }
  SUBCASE("value out of range") {
    const auto problems = problemsOf(d.write(d.valid() + "node-priority = 256\n"));
    CHECK(contains(problems, at + "11: node-priority: '256' is not a whole number from 1 to 255"));
    CHECK(contains(problemsOf(d.write(d.valid() + "realtime-priority = 100\n")),
                   at + "11: realtime-priority: '100' is not a whole number from 0 to 99"));
  }
  SUBCASE("not a number") {
    CHECK(contains(problemsOf(d.write(d.valid() + "node-priority = high\n")),
                   at + "11: node-priority: 'high'"));
  }
  SUBCASE("unknown choice") {
    CHECK(contains(problemsOf(d.write(d.valid() + "takeover-mode = steal-ip\n")),
                   at + "11: takeover-mode: 'steal-ip' is not one of: move-ip, shared-ip"));
  }
  SUBCASE("a single-valued key given twice") {
    const auto problems = problemsOf(d.write(d.valid() + "node-name = n2\n"));
    CHECK(contains(problems, at + "11: node-name: given again (first given at " + at + "2)"));
  }
  SUBCASE("a line that is not key = value") {
    CHECK(contains(problemsOf(d.write(d.valid() + "[section]\n")),
                   at + "11: expected 'key = value', found '[section]'"));
  }
  SUBCASE("missing required key") {
    CHECK(contains(problemsOf(d.write("vip = 198.18.1.10/24\ninterface = lo\n")),
                   "missing required key 'node-name'"));
  }
  SUBCASE("missing configuration file") {
    const auto problems = problemsOf(d.dir / "absent.conf");
    CHECK(contains(problems, (d.dir / "absent.conf").string() + ": no such file"));
  }
  SUBCASE("missing key file") {
    std::filesystem::remove(d.key);
    const auto problems = problemsOf(d.write(d.valid()));
    CHECK(contains(problems, at + "7: cluster-key-file: cannot open key file"));
    CHECK(contains(problems, "No such file or directory"));
  }
  SUBCASE("key file readable by others") {
    ::chmod(d.key.c_str(), 0644);
    CHECK(contains(problemsOf(d.write(d.valid())), "chmod 600"));
  }
  SUBCASE("key file too short") {
    std::ofstream(d.key, std::ios::trunc) << "short";
    CHECK(contains(problemsOf(d.write(d.valid())), "has 5 bytes; it must have 32 to 4096 bytes"));
  }
  SUBCASE("bad interface name") {
    CHECK(contains(problemsOf(d.write(d.valid() + "interface = eth/0\n")),
                   at + "11: interface: given again"));
    CHECK(contains(problemsOf(d.write("interface = eth/0\n" + d.valid().substr(d.valid().find("node-name")))),
                   at + "1: interface: 'eth/0' is not a valid interface name"));
  }
  SUBCASE("relative control socket") {
    CHECK(contains(problemsOf(d.write(d.valid() + "control-socket = run/x.sock\n")),
                   at + "11: control-socket: 'run/x.sock' must be an absolute path"));
  }
  SUBCASE("unknown group") {
    CHECK(contains(problemsOf(d.write(d.valid() + "control-group = no-such-group-xyz\n")),
                   "control-group: group 'no-such-group-xyz' does not exist"));
  }
  SUBCASE("a bad command-line value names the option") {
    const auto problems = problemsOf(d.write(d.valid()), parseCommandLine({"--node-priority", "0"}));
    CHECK(contains(problems, "command line option --node-priority: node-priority: '0'"));
  }
  SUBCASE("a certificate without its key, and a missing file") {
    const auto problems = problemsOf(d.write(d.valid() + "tls-certificate = /nonexistent.pem\n"));
    CHECK(contains(problems, "2 tls-certificate but 1 tls-key"));
  }
  SUBCASE("booleans and endpoints") {
    const auto problems = problemsOf(d.write(d.valid() + "preempt = maybe\nmetrics-listen = localhost:9477\n"));
    CHECK(contains(problems, at + "11: preempt: 'maybe' is not yes or no"));
    CHECK(contains(problems, at + "12: metrics-listen: 'localhost:9477' is not ADDRESS:PORT"));
  }
  SUBCASE("several problems are all reported") {
    const auto problems = problemsOf(d.write(d.valid() + "node-priority = 0\nlog-level = loud\n"));
    CHECK(contains(problems, at + "11: node-priority"));
    CHECK(contains(problems, at + "12: log-level"));
    const auto mixed = problemsOf(d.write(d.valid() + "bogus = 1\nnode-priority = 0\n"));
    CHECK(contains(mixed, at + "11: unknown key 'bogus'"));
    CHECK(contains(mixed, at + "12: node-priority"));
  }
}

TEST_CASE("agent-cpus and tls-cpus: unset by default, CPU lists of this machine's online CPUs, or named problems") {
  ConfigDir d;
  const auto defaults = loadConfig(d.write(d.valid()), {});
  CHECK_FALSE(defaults.agent_cpus);
  CHECK_FALSE(defaults.tls_cpus);
  const auto online = failover::sys::CpuSet::online();
  REQUIRE(online);
  const auto config = loadConfig(d.write(d.valid() + "agent-cpus = 0\ntls-cpus = " + online->toString() + "\n"), {});
  REQUIRE(config.agent_cpus);
  CHECK(config.agent_cpus->toString() == "0");
  REQUIRE(config.tls_cpus);
  CHECK(*config.tls_cpus == *online);
  const std::string at = (d.dir / "failoverd.conf").string() + ":";
  CHECK(contains(problemsOf(d.write(d.valid() + "tls-cpus = 1-0\n")),
                 at + "11: tls-cpus: '1-0' is not a CPU number or range"));
  CHECK(contains(problemsOf(d.write(d.valid() + "agent-cpus = 0,1023\n")),
                 at + "11: agent-cpus: CPUs 1023 are not online (this machine's: " + online->toString() + ")"));
}

TEST_CASE("a missing interface is a warning, not an error") {
  ConfigDir d;
  std::string body = d.valid();
  body.replace(body.find("interface = lo"), 14, "interface = nosuchif0");
  const auto config = loadConfig(d.write(body), {});
  const auto warnings = configWarnings(config);
  REQUIRE(warnings.size() == 1);
  CHECK(contains(warnings[0], "'nosuchif0' does not exist"));
}

TEST_CASE("a reload applies the keys tagged live and refuses the others, named") {
  ConfigDir d;
  const auto running = loadConfig(d.write(d.valid()), {});
  CHECK(reloadPlan(running, running).changed.empty());
  CHECK(reloadPlan(running, running).refused.empty());
  const auto live = loadConfig(d.write(d.valid() + "log-level = debug\nnode-priority = 7\npreempt = yes\n"), {});
  const auto plan = reloadPlan(running, live);
  CHECK(plan.changed == std::vector<std::string>{"log-level", "node-priority", "preempt"});
  CHECK(plan.refused.empty());
  const auto mixed = loadConfig(d.write(d.valid() + "log-level = debug\nsync-timeout-ms = 5\ntls-workers = 3\n"), {});
  const auto refused = reloadPlan(running, mixed);
  CHECK(refused.changed == std::vector<std::string>{"log-level"});
  CHECK(refused.refused == std::vector<std::string>{"sync-timeout-ms", "tls-workers"});
  // Going back to a default is a change too.
  CHECK(reloadPlan(live, running).changed.size() == 3);
  // Each key is tagged in the one option table: every other key is restart-only.
  for (const auto* key : {"log-level", "node-priority", "preempt", "notify-program", "notify-timeout-ms",
                          "tls-certificate", "tls-key"}) {
    CHECK(reloadsLive(key));
  }
  for (const auto* key : {"vip", "interface", "preempt-bogus", "tls-workers", "metrics-listen", "announce-count",
                          "agent-cpus", "tls-cpus"}) {
    CHECK_FALSE(reloadsLive(key));
  }
}

TEST_CASE("the majority lease's keys: voters parsed, this node found, and what cannot work refused by name") {
  ConfigDir d;
  const std::string voters = "lease-voter = n1 1 198.18.2.11,198.18.3.11\n"
                             "lease-voter = n2 2 198.18.2.12,198.18.3.12\n"
                             "lease-voter = w 9 198.18.2.99,198.18.3.99\n";
  const auto file = d.dir / "failoverd.conf";
  const std::string at = file.string() + ":";

  SUBCASE("off by default, and voters without it are refused rather than ignored") {
    CHECK_FALSE(loadConfig(d.write(d.valid()), {}).lease.enabled);
    CHECK(contains(problemsOf(d.write(d.valid() + voters)), "lease-voter: given, but lease = no"));
  }
  SUBCASE("on: every voter, this node's id, the settings") {
    const auto config = loadConfig(d.write(d.valid() + "lease = yes\n" + voters + "lease-ms = 80\n"), {});
    REQUIRE(config.lease.enabled);
    CHECK(config.lease.voters.size() == 3);
    CHECK(config.lease.voters[2].name == "w");
    CHECK(config.lease.voters[2].addresses.size() == 2);
    CHECK(config.lease.settings.self == 1);
    CHECK(config.lease.settings.voters == std::vector<std::uint32_t>{1, 2, 9});
    CHECK(config.lease.settings.length == std::chrono::milliseconds(80));
    CHECK(config.lease.settings.renew_interval == std::chrono::milliseconds(10));
    CHECK(config.lease.settings.missed_renewals == 3);
    CHECK(config.lease.settings.drift_ppm == 1000);
  }
  SUBCASE("two voters cannot make a majority that survives either's loss") {
    CHECK(contains(problemsOf(d.write(d.valid() + "lease = yes\nlease-voter = n1 1 198.18.2.11\n"
                                                  "lease-voter = n2 2 198.18.2.12\n")),
                   "2 voters: a majority of two cannot survive the loss of either"));
  }
  SUBCASE("this node is not among the voters") {
    CHECK(contains(problemsOf(d.write(d.valid() + "lease = yes\nlease-voter = a 1 198.18.2.11\n"
                                                  "lease-voter = b 2 198.18.2.12\nlease-voter = c 3 198.18.2.13\n")),
                   "none of the entries is this node ('n1', its node-name)"));
  }
  SUBCASE("malformed entries, clashes and link counts are named") {
    const auto problems = problemsOf(d.write(d.valid() + "lease = yes\n" + voters +
                                             "lease-voter = n4 x 198.18.2.14,198.18.3.14\n"
                                             "lease-voter = n2 5 198.18.2.15,198.18.3.15\n"
                                             "lease-voter = n6 6 198.18.2.16\n"
                                             "lease-voter = n7 7 not-an-address,198.18.3.17\n"));
    CHECK(contains(problems, "'x' is not a node id"));
    CHECK(contains(problems, "the name or node id of n2 again"));
    CHECK(contains(problems, "one address per cluster link (2 before)"));
    CHECK(contains(problems, "'not-an-address' is not an IPv4 or IPv6 address"));
  }
  SUBCASE("a lease too short for its renewals, or silence noticed only after it ended") {
    CHECK(contains(problemsOf(d.write(d.valid() + "lease = yes\n" + voters + "lease-ms = 20\n")),
                   "lease-ms: 20 is not more than twice lease-renew-ms (10)"));
    CHECK(contains(problemsOf(d.write(d.valid() + "lease = yes\n" + voters + "lease-missed-renewals = 6\n")),
                   "lease-missed-renewals: 6 renewals of 10 ms are not less than lease-ms (60)"));
  }
}

TEST_CASE("the witness's file: its name among the voters, the key, the lease keys; nothing of a node's") {
  ConfigDir d;
  const auto file = d.dir / "witness.conf";
  std::ofstream(file) << "node-name = w\ncluster-key-file = " << d.key.string()
                      << "\nlease-voter = n1 1 198.18.2.11\nlease-voter = n2 2 198.18.2.12\n"
                         "lease-voter = w 9 198.18.2.99\n";
  const auto config = loadWitnessConfig(file, {});
  CHECK(config.name == "w");
  CHECK(config.lease.enabled);
  CHECK(config.lease.settings.self == 9);
  CHECK(config.lease.voters.size() == 3);
  CHECK(config.realtime_priority == DEFAULT_REALTIME_PRIORITY);
  std::ofstream(file, std::ios::app) << "realtime-priority = 0\n";
  CHECK(loadWitnessConfig(file, {}).realtime_priority == 0);
  std::ofstream(file, std::ios::app) << "vip = 198.18.1.10/24\n";
  try {
    loadWitnessConfig(file, {});
    FAIL("a node's key in a witness's file was accepted");
  } catch (const ConfigError& error) {
    CHECK(contains(error.what(), "unknown key 'vip'"));
  }
}

TEST_CASE("alpn: h2 by default wherever it can be served, and every combination that cannot is named") {
  ConfigDir d;
  const auto file = d.dir / "failoverd.conf";
  using Protocols = std::vector<std::string>;
  CHECK(loadConfig(d.write(d.valid()), {}).listener.tls.alpn == Protocols{"h2", "http/1.1"});
  CHECK(loadConfig(d.write(d.valid() + "alpn = http/1.1, h2\n"), {}).listener.tls.alpn == Protocols{"http/1.1", "h2"});
  const std::string relay = "service = relay\nbackend = 127.0.0.1:8080\n";
  auto config = loadConfig(d.write(d.valid() + relay), {});
  CHECK(config.listener.tls.alpn == Protocols{"http/1.1"});
  config = loadConfig(d.write(d.valid() + relay + "h2-backend = [::1]:8081\n"), {});
  CHECK(config.listener.tls.alpn == Protocols{"h2", "http/1.1"});
  CHECK(config.listener.service.h2_backend_address == "::1");
  CHECK(config.listener.service.h2_backend_port == 8081);

  CHECK(contains(problemsOf(d.write(d.valid() + relay + "alpn = h2\n")),
                 "alpn: offers h2 but the relay has no h2-backend"));
  CHECK(contains(problemsOf(d.write(d.valid() + relay + "h2-backend = 127.0.0.1:8081\nalpn = http/1.1\n")),
                 "alpn: does not offer h2, so h2-backend would never be used"));
  CHECK(contains(problemsOf(d.write(d.valid() + "alpn = h3\n")), "alpn: 'h3' is not h2 or http/1.1"));
  CHECK(contains(problemsOf(d.write(d.valid() + "alpn = h2,h2\n")), "alpn: 'h2' is given twice"));
  CHECK(contains(problemsOf(d.write(d.valid() + "h2-backend = 127.0.0.1:8081\n")),
                 file.string() + ":11: h2-backend: applies only to service = relay"));
  CHECK(contains(problemsOf(d.write(d.valid() + relay + "h2-backend = nowhere\n")),
                 "h2-backend: 'nowhere' is not ADDRESS:PORT"));
}
