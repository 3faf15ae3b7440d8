// failoverd: the node agent. Parses the command line, loads the configuration, runs the loop.
#include "daemon/agent.h"
#include "daemon/config.h"
#include "daemon/exit_codes.h"
#include "daemon/tls_process.h"
#include "failover/version.h"

#include <boost/program_options.hpp>

#include <iostream>

namespace po = boost::program_options;
using namespace failover;

namespace {

po::options_description genericOptions() {
  po::options_description options("Options");
  options.add_options()
    ("help,h", "show this help and exit")
    ("version,V", "show the version and exit")
    ("config,c", po::value<std::string>()->default_value(daemon::DEFAULT_CONFIG_FILE)->value_name("FILE"),
     "configuration file")
    ("check-config,t", po::value<std::string>()->value_name("FILE"),
     "validate FILE (with any options given here) and exit: 0 if valid, 2 if not");
  return options;
}

// Not in --help: how the agent starts its TLS service process (see tls_process.h).
po::options_description internalOptions() {
  po::options_description options("Internal");
  options.add_options()("tls-service", po::value<unsigned>(), "run as the TLS service process, with N listeners");
  return options;
}

void printHelp(const po::options_description& all) {
  std::cout << "Usage: failoverd [OPTION]...\n"
               "Keeps a virtual IP and the TLS sessions behind it alive across a failover.\n\n"
            << all
            << "\nExit status: 0 success, 1 runtime failure, 2 bad command line or configuration.\n"
               "See failoverd(8) and failoverd.conf(5).\n";
}

int checkConfig(const std::string& file, const po::variables_map& command_line) {
  const auto config = daemon::loadConfig(file, command_line);
  if (auto problems = daemon::checkCertificates(config); !problems.empty()) {
    throw daemon::ConfigError(std::move(problems));
  }
  for (const auto& warning : daemon::configWarnings(config)) {
    std::cerr << "failoverd: warning: " << file << ": " << warning << '\n';
  }
  std::cout << "failoverd: configuration file " << file << " is valid\n";
  return EXIT_OK;
}

int runDaemon(const std::string& file, po::variables_map command_line) {
  auto config = daemon::loadConfig(file, command_line);
  auto loop = sys::EventLoop::create();
  if (!loop) {
    std::cerr << "failoverd: " << loop.error().message << '\n';
    return EXIT_RUNTIME_FAILURE;
  }
  try {
    daemon::Agent agent(std::move(config), std::move(command_line), *loop);
    if (auto ran = loop->run(); !ran) {
      std::cerr << "failoverd: event loop failed: " << ran.error().message << '\n';
      return EXIT_RUNTIME_FAILURE;
    }
  } catch (const std::runtime_error& error) {
    std::cerr << "failoverd: cannot start: " << error.what() << '\n';
    return EXIT_RUNTIME_FAILURE;
  }
  return EXIT_OK;
}

} // namespace

int main(int argc, char** argv) {
  po::options_description shown;
  shown.add(genericOptions()).add(daemon::configOptions());
  po::options_description all;
  all.add(shown).add(internalOptions());
  po::variables_map command_line;
  try {
    // An empty positional table makes a stray argument an error instead of being ignored.
    const po::positional_options_description no_positional;
    po::store(po::command_line_parser(argc, argv).options(all).positional(no_positional).run(),
              command_line);
    po::notify(command_line);
  } catch (const po::error& error) {
    std::cerr << "failoverd: " << error.what() << " (see failoverd --help)\n";
    return EXIT_USAGE;
  }
  if (command_line.count("help") != 0) {
    printHelp(shown);
    return EXIT_OK;
  }
  if (command_line.count("version") != 0) {
    std::cout << "failoverd " << VERSION << '\n';
    return EXIT_OK;
  }
  try {
    if (command_line.count("check-config") != 0) {
      return checkConfig(command_line["check-config"].as<std::string>(), command_line);
    }
    const auto file = command_line["config"].as<std::string>();
    if (command_line.count("tls-service") != 0) {
      return daemon::runTlsProcess(daemon::loadConfig(file, command_line), command_line["tls-service"].as<unsigned>());
    }
    return runDaemon(file, std::move(command_line));
  } catch (const daemon::ConfigError& error) {
    for (const auto& problem : error.problems()) {
      std::cerr << "failoverd: " << problem << '\n';
    }
    std::cerr << "failoverd: configuration is invalid\n";
    return EXIT_USAGE;
  }
}
