// tls-tool: hosts tls::TlsServer on its own, so tests drive the real server with real
// clients and move session state between two processes by hand (what the daemon will do over
// Corosync). Commands on stdin, one per line; one answer line each on stdout:
//   export-sessions FILE | import-sessions FILE | export-keys FILE | import-keys FILE |
//   rotate-keys | stats | drain MS | quit
#include "tls/server.h"
#include "tls/session_record.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <boost/program_options.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

using namespace failover;
namespace po = boost::program_options;

namespace {

struct CountingHooks : tls::SessionHooks {
  std::atomic<std::uint64_t> created{0};
  std::atomic<std::uint64_t> removed{0};
  std::uint64_t sessionCreated(const tls::SessionRecord&) noexcept override {
    ++created;
    return 0; // nothing confirms sessions here (no sync mode)
  }
  void sessionRemoved(std::span<const std::uint8_t>) noexcept override { ++removed; }
};

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// What it reads may be sessions or ticket keys: a buffer that wipes itself.
sys::SecretBuffer readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool writeFile(const std::string& path, std::span<const std::uint8_t> data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return false;
  }
  const bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ::close(fd);
  return ok;
}

void say(const std::string& line) { std::printf("%s\n", line.c_str()); }

std::string stats(tls::TlsServer& server, const CountingHooks& hooks) {
  const auto& c = server.counters();
  const auto cache = server.cache().stats();
  std::ostringstream out;
  out << "stats full12=" << c.full_tls12 << " full13=" << c.full_tls13
      << " resumed12_id=" << c.resumed_tls12_session_id << " resumed12_ticket=" << c.resumed_tls12_ticket
      << " resumed13_stateful=" << c.resumed_tls13_stateful << " resumed13_ticket=" << c.resumed_tls13_ticket
      << " cache_entries=" << cache.entries << " cache_bytes=" << cache.bytes << " hits=" << cache.hits
      << " misses=" << cache.misses << " evictions=" << cache.evictions << " expired=" << cache.expired
      << " imported=" << c.sessions_imported << " rejected=" << c.sessions_rejected
      << " ticket_failures=" << c.ticket_decrypt_failures << " renewals=" << c.ticket_renewals
      << " requests=" << c.http_requests << " relayed=" << c.bytes_relayed << " h2=" << c.connections_http2
      << " http11=" << c.connections_http11 << " http_errors=" << c.http_errors
      << " backend_failures=" << c.backend_connect_failures
      << " handshake_failures=" << c.handshake_failures << " unknown_names=" << c.unknown_server_names
      << " created=" << hooks.created << " removed=" << hooks.removed
      << " open=" << server.openConnections();
  return out.str();
}

} // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  tls::ListenerConfig config;
  std::vector<std::string> certificates;
  std::string tickets = "on", backend, h2_backend, alpn;
  unsigned port = 0, timeout = 300, workers = 2;
  std::size_t cache_entries = 100000;
  po::options_description options("tls-tool");
  options.add_options()
    ("address", po::value(&config.address), "listen address")
    ("port", po::value(&port), "0: any free port")
    ("cert", po::value(&certificates), "CHAIN:KEY, repeatable")
    ("cert-dir", po::value(&config.tls.certificate_directory), "")
    ("docroot", po::value(&config.service.document_root), "")
    ("backend", po::value(&backend), "ADDRESS:PORT to relay to")
    ("h2-backend", po::value(&h2_backend), "ADDRESS:PORT of an h2c backend for h2 connections")
    ("alpn", po::value(&alpn), "comma-separated, preferred first (default: h2,http/1.1 where h2 is served)")
    ("proxy-protocol", po::bool_switch(&config.service.proxy_protocol), "")
    ("tickets", po::value(&tickets), "on or off")
    ("session-timeout", po::value(&timeout), "seconds")
    ("session-context", po::value(&config.tls.session_id_context), "")
    ("reject-unknown-names", po::bool_switch(&config.tls.reject_unknown_names), "")
    ("early-data", po::bool_switch(&config.tls.early_data), "")
    ("cache-entries", po::value(&cache_entries), "")
    ("workers", po::value(&workers), "");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, options), vm);
    po::notify(vm);
  } catch (const po::error& error) {
    std::fprintf(stderr, "tls-tool: %s\n", error.what());
    return 2;
  }
  config.port = static_cast<std::uint16_t>(port);
  config.workers = workers;
  config.cache_entries = cache_entries;
  config.tls.session_tickets = tickets == "on";
  config.tls.session_timeout = std::chrono::seconds(timeout);
  for (const auto& pair : certificates) {
    const auto colon = pair.find(':');
    config.tls.certificates.push_back({pair.substr(0, colon), pair.substr(colon + 1)});
  }
  if (alpn.empty()) {
    alpn = !backend.empty() && h2_backend.empty() ? "http/1.1" : "h2,http/1.1";
  }
  config.tls.alpn.clear();
  for (std::size_t start = 0; start <= alpn.size();) {
    const auto comma = std::min(alpn.find(',', start), alpn.size());
    config.tls.alpn.push_back(alpn.substr(start, comma - start));
    start = comma + 1;
  }
  const auto endpoint = [](const std::string& text) {
    const auto colon = text.rfind(':');
    return std::pair{text.substr(0, colon), static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)))};
  };
  if (!backend.empty()) {
    config.service.kind = tls::ServiceConfig::Kind::Relay;
    std::tie(config.service.backend_address, config.service.backend_port) = endpoint(backend);
  }
  if (!h2_backend.empty()) {
    std::tie(config.service.h2_backend_address, config.service.h2_backend_port) = endpoint(h2_backend);
  }

  CountingHooks hooks;
  auto server = tls::TlsServer::create(config, &hooks);
  if (!server) {
    std::printf("error what=%s\n", server.error().message.c_str());
    return 1;
  }
  if (auto started = (*server)->start(); !started) {
    std::printf("error what=%s\n", started.error().message.c_str());
    return 1;
  }
  say("listening port=" + std::to_string((*server)->port()));

  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream words(line);
    std::string command, argument;
    words >> command >> argument;
    auto& s = **server;
    if (command == "export-sessions") {
      const auto records = s.cache().snapshot(now());
      say(writeFile(argument, tls::encodeSessionRecords(records))
              ? "exported n=" + std::to_string(records.size())
              : "error what=cannot write " + argument);
    } else if (command == "import-sessions") {
      auto records = tls::decodeSessionRecords(readFile(argument));
      if (!records) {
        say("error what=" + records.error().message);
        continue;
      }
      std::size_t imported = 0, rejected = 0;
      for (const auto& record : *records) {
        if (auto done = s.context()->importSession(record, now()); done) {
          ++imported;
        } else {
          ++rejected;
          std::fprintf(stderr, "tls-tool: %s\n", done.error().message.c_str());
        }
      }
      say("imported n=" + std::to_string(imported) + " rejected=" + std::to_string(rejected));
    } else if (command == "export-keys") {
      const auto keys = s.keyring().exportKeys();
      say(writeFile(argument, keys.view()) ? "exported-keys n=" + std::to_string(s.keyring().size())
                                           : "error what=cannot write " + argument);
    } else if (command == "import-keys") {
      auto data = readFile(argument);
      auto imported = s.keyring().importKeys(data);
      say(imported ? "imported-keys n=" + std::to_string(s.keyring().size())
                   : "error what=" + imported.error().message);
    } else if (command == "rotate-keys") {
      auto rotated = s.keyring().rotate(now());
      say(rotated ? "rotated" : "error what=" + rotated.error().message);
    } else if (command == "stats") {
      say(stats(s, hooks));
    } else if (command == "close-connections") {
      s.closeConnections();
      say("closing");
    } else if (command == "drain") {
      s.drain(std::chrono::milliseconds(std::stoi(argument.empty() ? "0" : argument)));
      say("drained open=" + std::to_string(s.openConnections()));
    } else if (command == "quit") {
      break;
    } else if (!command.empty()) {
      say("error what=unknown command " + command);
    }
  }
  (*server)->drain(std::chrono::milliseconds(0));
  say("stopped");
  return 0;
}
