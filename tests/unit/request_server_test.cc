#include "daemon/control/request_server.h"
#include "tests/unit/run_until.h"

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace failover;
using namespace std::chrono_literals;
using daemon::RequestServer;
using failover::test::runUntil;

namespace {

// A control socket in a directory of its own, removed with it.
struct SocketDirectory {
  SocketDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "request-server-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~SocketDirectory() { std::filesystem::remove_all(path); }
  std::string socket() const { return (path / "control.sock").string(); }
  std::filesystem::path path;
};

std::unique_ptr<RequestServer> serve(sys::EventLoop& loop, const std::string& path, RequestServer::Options options) {
  auto server = RequestServer::listenUnix(path, 0600, 0, loop, std::move(options),
                                          [](const std::string& request) { return "answer " + request + "\n"; });
  REQUIRE(server);
  return std::move(*server);
}

sys::UniqueFd connectTo(const std::string& path) {
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

void sendText(const sys::UniqueFd& fd, const std::string& text) {
  REQUIRE(::send(fd.get(), text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
}

bool readable(const sys::UniqueFd& fd) {
  pollfd p{fd.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

// What the server sent before it closed (the client's end is readable by then).
std::string receiveAll(const sys::UniqueFd& fd) {
  std::string text;
  char buffer[4096];
  for (int i = 0; i < 64; ++i) { // bounded: the answers here are a few bytes
    const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n <= 0) {
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

} // namespace

TEST_CASE("at the connection cap a new connection closes the oldest, so a request sent at once is answered") {
  SocketDirectory directory;
  auto loop = sys::EventLoop::create();
  REQUIRE(loop);
  RequestServer::Options options;
  options.max_connections = 4;
  auto server = serve(*loop, directory.socket(), options);

  std::vector<sys::UniqueFd> idle;
  for (int i = 0; i < 6; ++i) {
    idle.push_back(connectTo(directory.socket()));
  }
  REQUIRE(runUntil(*loop, [&] { return server->counters().evicted == 2; }));
  // The two oldest were closed without a word; the four newest are still open.
  REQUIRE(runUntil(*loop, [&] { return readable(idle[0]) && readable(idle[1]); }));
  CHECK(receiveAll(idle[0]).empty());
  CHECK(receiveAll(idle[1]).empty());
  for (int i = 2; i < 6; ++i) {
    CHECK_FALSE(readable(idle[static_cast<std::size_t>(i)]));
  }

  auto operator_request = connectTo(directory.socket());
  sendText(operator_request, "status\n");
  REQUIRE(runUntil(*loop, [&] { return readable(operator_request); }));
  CHECK(receiveAll(operator_request) == "answer status\n");
  CHECK(server->counters().evicted == 3);
  CHECK(server->counters().timed_out == 0);
}

TEST_CASE("a connection not answered within the timeout is closed: idle, or sending its request too slowly") {
  SocketDirectory directory;
  auto loop = sys::EventLoop::create();
  REQUIRE(loop);
  RequestServer::Options options;
  options.timeout = 100ms;
  auto server = serve(*loop, directory.socket(), options);

  const auto start = std::chrono::steady_clock::now();
  auto idle = connectTo(directory.socket());
  auto slow = connectTo(directory.socket());
  sendText(slow, "sta");
  REQUIRE(runUntil(*loop, [&] { return server->counters().timed_out == 2; }));
  CHECK(std::chrono::steady_clock::now() - start >= 100ms);
  REQUIRE(runUntil(*loop, [&] { return readable(idle) && readable(slow); }));
  CHECK(receiveAll(idle).empty());
  CHECK(receiveAll(slow).empty());

  // A request sent in time is still answered, and the timer stays armed for the next ones.
  auto prompt = connectTo(directory.socket());
  sendText(prompt, "status\n");
  REQUIRE(runUntil(*loop, [&] { return readable(prompt); }));
  CHECK(receiveAll(prompt) == "answer status\n");
  auto later = connectTo(directory.socket());
  REQUIRE(runUntil(*loop, [&] { return server->counters().timed_out == 3; }));
}

TEST_CASE("a request longer than the bound gets the error answer; a refused peer its own; both are counted") {
  SocketDirectory directory;
  auto loop = sys::EventLoop::create();
  REQUIRE(loop);
  RequestServer::Options options;
  options.max_request = 16;
  options.too_large_answer = "too long\n";
  auto server = serve(*loop, directory.socket(), options);
  auto talker = connectTo(directory.socket());
  sendText(talker, std::string(32, 'x'));
  REQUIRE(runUntil(*loop, [&] { return readable(talker); }));
  CHECK(receiveAll(talker) == "too long\n");
  CHECK(server->counters().too_large == 1);

  SocketDirectory other;
  RequestServer::Options closed;
  closed.allow = [](const ucred&, const std::vector<gid_t>&) { return false; };
  closed.refused_answer = "permission denied\n";
  auto refusing = serve(*loop, other.socket(), closed);
  auto stranger = connectTo(other.socket());
  REQUIRE(runUntil(*loop, [&] { return refusing->counters().refused == 1; }));
  REQUIRE(runUntil(*loop, [&] { return readable(stranger); }));
  CHECK(receiveAll(stranger) == "permission denied\n");
}
