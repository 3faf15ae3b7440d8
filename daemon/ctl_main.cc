// failoverctl: drives a node's failoverd. Subcommands come from one table that also makes
// the help text.
#include "daemon/control/protocol.h"
#include "daemon/exit_codes.h"
#include "failover/version.h"
#include "sys/unique_fd.h"
#include "tls/secret.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <span>
#include <string_view>

using namespace failover;

namespace {

constexpr std::size_t CLUSTER_KEY_SIZE = 64;

using Args = std::span<char* const>;
using nlohmann::json;
using daemon::CONTROL_COMMANDS;

std::string socket_path = "/run/failoverd/control.sock";

// Sends one request and returns the daemon's JSON answer, or exits with a clear message.
json request(const std::string& command, const std::vector<std::string>& arguments = {}) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
    const int error = errno;
    if (error == EACCES || error == EPERM) {
      // Running, or at least not ours to tell: saying "not running" here misled operators.
      std::cerr << "failoverctl: permission denied on " << socket_path
                << ": the control socket is for root and the members of failoverd's control-group "
                   "(see failoverd.conf(5)); run failoverctl as one of them\n";
      std::exit(EXIT_RUNTIME_FAILURE);
    }
    std::cerr << "failoverctl: failoverd is not running on this node (cannot connect to " << socket_path
              << ": " << std::strerror(error) << "); start it with: systemctl start failoverd\n";
    std::exit(EXIT_NOT_RUNNING);
  }
  const auto line = daemon::formatControlRequest({daemon::CONTROL_VERSION, command, arguments});
  (void)!::write(fd.get(), line.data(), line.size());
  std::string answer;
  char buffer[65536];
  for (ssize_t n; (n = ::read(fd.get(), buffer, sizeof buffer)) > 0;) {
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  auto parsed = json::parse(answer, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    std::cerr << "failoverctl: failoverd sent an answer that is not JSON\n";
    std::exit(EXIT_RUNTIME_FAILURE);
  }
  if (!parsed.value("ok", false)) {
    std::cerr << "failoverctl " << command << ": " << parsed.value("error", std::string("failed")) << '\n';
    std::exit(EXIT_RUNTIME_FAILURE);
  }
  return parsed;
}

std::string text(const json& value) {
  if (value.is_null()) {
    return "-";
  }
  if (value.is_boolean()) {
    return value.get<bool>() ? "yes" : "no";
  }
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// "sync, 120 handshakes confirmed, 0 unprotected, 0 closed" (or "off", or "async").
std::string replicationLine(const json& replication) {
  if (!replication["enabled"].get<bool>()) {
    return "off";
  }
  std::string line = text(replication["mode"]);
  if (line == "sync") {
    const auto& sync = replication["sync"];
    line += ", " + text(sync["confirmed"]) + " handshakes confirmed, " + text(sync["unprotected"]) +
            " unprotected, " + text(sync["closed"]) + " closed";
  }
  return line;
}

int status(Args args) {
  const bool as_json = !args.empty() && std::string_view(args[0]) == "--json";
  if (args.size() > (as_json ? 1U : 0U)) {
    std::cerr << "failoverctl status: unexpected argument '" << args.back() << "'\n";
    return EXIT_USAGE;
  }
  auto answer = request("status");
  answer.erase("ok");
  if (as_json) {
    std::cout << answer.dump(2) << '\n';
    return EXIT_OK;
  }
  const auto& last = answer["last_transition"];
  std::cout << "node:        " << text(answer["node"]) << " (id " << text(answer["id"]) << "), "
            << text(answer["role"]) << (answer["in_sync"].get<bool>() ? "" : ", NOT in sync")
            << (answer["eligible"].get<bool>() ? "" : ", NOT eligible")
            << (answer["service_link"].get<bool>() ? "" : " (service link down or no carrier)") << '\n'
            << "cluster:     " << (answer["connected"].get<bool>() ? "" : "NOT connected to corosync, ")
            << (answer["quorate"].get<bool>() ? "quorate" : "NOT quorate") << ", " << answer["members"].size()
            << " members\n"
            << "VIP:         ";
  for (const auto& vip : answer["vips"]) {
    std::cout << text(vip) << ' ';
  }
  std::cout << "on " << text(answer["vip_owner"]) << '\n';
  if (const auto& guard = answer["guard"]; !guard.is_null()) {
    std::cout << "VIP guard:   " << (guard["open"].get<bool>() ? "open" : "shut") << ", bound "
              << text(guard["bound_ms"]) << " ms, fired " << text(guard["fired"]) << " times";
    if (guard.contains("drops")) {
      std::cout << ", dropped " << text(guard["drops"]["arp_requests"]) << " ARP requests, "
                << text(guard["drops"]["solicitations"]) << " solicitations, " << text(guard["drops"]["packets_in"])
                << " packets, " << text(guard["drops"]["unserved_syns"]) << " unserved SYNs";
    }
    std::cout << '\n';
  }
  std::cout
            << "sessions:    " << text(answer["sessions_cached"]) << " cached, " << text(answer["ticket_keys"])
            << " ticket keys\n"
            << "replication: " << replicationLine(answer["replication"]) << '\n'
            << "last change: " << text(last["from"]) << " -> " << text(last["to"]) << " (" << text(last["reason"])
            << ")\n\n";
  std::cout << std::left << std::setw(16) << "MEMBER" << std::setw(6) << "ID" << std::setw(13) << "ROLE"
            << std::setw(10) << "PRIORITY" << std::setw(9) << "IN SYNC" << std::setw(10) << "ELIGIBLE"
            << std::setw(10) << "SESSIONS"
            << "LAG\n";
  for (const auto& member : answer["members"]) {
    std::cout << std::setw(16) << (text(member["name"]) + (member["self"].get<bool>() ? " *" : ""))
              << std::setw(6) << text(member["id"]) << std::setw(13) << text(member["role"]) << std::setw(10)
              << text(member["priority"]) << std::setw(9) << text(member["in_sync"]) << std::setw(10)
              << text(member["eligible"]) << std::setw(10) << text(member["sessions_cached"]) << text(member["lag"]) << '\n';
  }
  return EXIT_OK;
}

int roleCommand(const char* name, Args args) {
  if (!args.empty()) {
    std::cerr << "failoverctl " << name << ": takes no argument\n";
    return EXIT_USAGE;
  }
  const auto answer = request(name);
  std::cout << "failoverctl " << name << ": this node is now " << text(answer["role"]) << '\n';
  return EXIT_OK;
}

int promote(Args args) { return roleCommand("promote", args); }
int demote(Args args) { return roleCommand("demote", args); }

// Asks for the switchover, then waits (bounded) until the target holds the VIP and the old
// active has let its quiesced copy go (no member is handing over any more).
int switchover(Args args) {
  // "switchover NODE" and "switchover --to NODE" say the same.
  const bool to = !args.empty() && std::string_view(args[0]) == "--to";
  if (args.size() > (to ? 2U : 1U) || (to && args.size() != 2)) {
    std::cerr << "failoverctl switchover: expected at most one target node (switchover [--to] NODE)\n";
    return EXIT_USAGE;
  }
  std::vector<std::string> arguments;
  if (!args.empty()) {
    arguments.emplace_back(args[to ? 1 : 0]);
  }
  const auto answer = request("switchover", arguments);
  const auto target = text(answer["target"]);
  // Asked on the active, which now hands over: it reports the outcome itself.
  const bool handing_over_here = text(answer["role"]) == "handing-over";
  std::cout << "failoverctl switchover: handing the VIP over to " << target << '\n';
  constexpr auto WAIT = std::chrono::seconds(10);
  const auto deadline = std::chrono::steady_clock::now() + WAIT;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto status = request("status");
    const auto& members = status["members"];
    const bool handing_over = std::any_of(members.begin(), members.end(), [](const nlohmann::json& member) {
      return text(member["role"]) == "handing-over";
    });
    if (text(status["vip_owner"]) == target && !handing_over) {
      std::cout << "failoverctl switchover: done, " << target << " is active\n";
      return EXIT_OK;
    }
    // Asked on the active: it left handing-over without handing over (an abort, or a fault).
    const auto& last = status["last_transition"];
    if (handing_over_here && text(status["role"]) != "handing-over" &&
        !(text(last["from"]) == "handing-over" && text(last["reason"]).starts_with("switchover done"))) {
      std::cerr << "failoverctl switchover: aborted, this node is " << text(status["role"]) << ": "
                << text(last["reason"]) << '\n';
      return EXIT_RUNTIME_FAILURE;
    }
    ::usleep(50'000); // a command-line client polling its daemon, bounded by WAIT
  }
  std::cerr << "failoverctl switchover: " << target << " is not active after " << WAIT.count()
            << " s; see failoverctl status\n";
  return EXIT_RUNTIME_FAILURE;
}

int maintenance(Args args) {
  const bool force = args.size() == 2 && std::string_view(args[1]) == "--force";
  if (args.empty() || args.size() > 2 || (args.size() == 2 && !force) ||
      (std::string_view(args[0]) != "on" && std::string_view(args[0]) != "off")) {
    std::cerr << "failoverctl maintenance: expected 'on [--force]' or 'off'\n";
    return EXIT_USAGE;
  }
  std::vector<std::string> arguments{args[0]};
  if (force) {
    arguments.emplace_back("--force");
  }
  const auto answer = request("maintenance", arguments);
  std::cout << "failoverctl maintenance " << args[0] << ": this node is "
            << (answer.contains("target") ? "handing the VIP over to " + text(answer["target"]) : text(answer["role"]))
            << '\n';
  return EXIT_OK;
}

int simpleCommand(const char* name, Args args) {
  if (!args.empty()) {
    std::cerr << "failoverctl " << name << ": takes no argument\n";
    return EXIT_USAGE;
  }
  request(name);
  std::cout << "failoverctl " << name << ": done\n";
  return EXIT_OK;
}

int rotateKeys(Args args) { return simpleCommand("rotate-keys", args); }
// Says what the reload applied; a refusal (which names the keys only a restart applies, or
// the problem in the file) comes back as an error and exits non-zero.
int reload(Args args) {
  if (!args.empty()) {
    std::cerr << "failoverctl reload: takes no argument\n";
    return EXIT_USAGE;
  }
  const auto answer = request("reload");
  std::string changed;
  for (const auto& key : answer.value("changed", nlohmann::json::array())) {
    changed += (changed.empty() ? "" : ", ") + text(key);
  }
  std::cout << "failoverctl reload: " << (changed.empty() ? "no change" : "applied " + changed) << '\n';
  return EXIT_OK;
}

int keygen(Args args) {
  if (args.size() != 1) {
    std::cerr << "failoverctl keygen: expected one argument, the key file to create\n";
    return EXIT_USAGE;
  }
  if (auto created = tls::createRandomSecretFile(args[0], CLUSTER_KEY_SIZE); !created) {
    std::cerr << "failoverctl keygen: " << created.error().message << '\n';
    return created.error().sys_errno == EEXIST ? EXIT_USAGE : EXIT_RUNTIME_FAILURE;
  }
  std::cout << "wrote a " << CLUSTER_KEY_SIZE << "-byte cluster key to " << args[0]
            << " (mode 0600); copy the same file to every node\n";
  return EXIT_OK;
}

// What runs each command of CONTROL_COMMANDS (their usage and help are in that one table).
struct Command {
  std::string_view name;
  int (*run)(Args);
};

constexpr Command COMMANDS[] = {
    {"status", status},           {"promote", promote}, {"demote", demote}, {"switchover", switchover},
    {"maintenance", maintenance}, {"rotate-keys", rotateKeys}, {"reload", reload}, {"keygen", keygen},
};
static_assert(std::size(COMMANDS) == std::size(CONTROL_COMMANDS), "every command in the table runs");

void printHelp(std::ostream& out) {
  out << "Usage: failoverctl [--socket PATH] COMMAND [ARGS]  |  failoverctl --help | --version\n"
         "Drives the failoverd agent of this node.\n\nCommands:\n";
  std::size_t width = 0;
  for (const auto& command : CONTROL_COMMANDS) {
    width = std::max(width, command.usage.size() + 2);
  }
  const auto line = [&out, width](std::string_view usage, std::string_view help) {
    out << "  " << usage << std::string(width - usage.size(), ' ') << help << '\n';
  };
  for (const auto& command : CONTROL_COMMANDS) {
    line(command.usage, command.help);
  }
  out << "\nOptions:\n";
  line("--socket PATH", "the control socket (default /run/failoverd/control.sock)");
  out << "\nExit status: 0 success, 1 failure, 2 bad usage, 3 failoverd is not running.\n";
}

} // namespace

int main(int argc, char** argv) {
  Args args(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0));
  if (args.size() >= 2 && (std::string_view(args[0]) == "--socket" || std::string_view(args[0]) == "-s")) {
    socket_path = args[1];
    args = args.subspan(2);
  }
  if (args.empty()) {
    printHelp(std::cerr);
    return EXIT_USAGE;
  }
  const std::string_view first = args[0];
  if (first == "--help" || first == "-h" || first == "help") {
    printHelp(std::cout);
    return EXIT_OK;
  }
  if (first == "--version" || first == "-V") {
    std::cout << "failoverctl " << VERSION << '\n';
    return EXIT_OK;
  }
  for (const auto& command : COMMANDS) {
    if (command.name == first) {
      return command.run(args.subspan(1));
    }
  }
  std::cerr << "failoverctl: unknown command '" << first << "' (see failoverctl --help)\n";
  return EXIT_USAGE;
}
