// failoverctl: drives a node's failoverd. Subcommands come from one table that also makes
// the help text.
#include "daemon/exit_codes.h"
#include "failover/version.h"
#include "tls/secret.h"

#include <iostream>
#include <span>
#include <string_view>

using namespace failover;

namespace {

constexpr std::size_t CLUSTER_KEY_SIZE = 64;

using Args = std::span<char* const>;

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

struct Command {
  std::string_view name;
  int (*run)(Args);
  std::string_view usage;
  std::string_view help;
};

constexpr Command COMMANDS[] = {
    {"keygen", keygen, "keygen FILE", "create a new random cluster key file (mode 0600)"},
};

void printHelp(std::ostream& out) {
  out << "Usage: failoverctl [--help | --version] COMMAND [ARGS]\n"
         "Drives the failoverd agent of this node.\n\nCommands:\n";
  for (const auto& command : COMMANDS) {
    out << "  " << command.usage;
    for (auto pad = command.usage.size(); pad < 24; ++pad) {
      out << ' ';
    }
    out << command.help << '\n';
  }
  out << "\nExit status: 0 success, 1 failure, 2 bad usage, 3 failoverd is not running.\n";
}

} // namespace

int main(int argc, char** argv) {
  const Args args(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0));
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
