// sys::becomeAccount and sys::confineSystemCalls against the real kernel (root: it drops to
// another user). Each case runs in a forked child, which reports what its calls returned
// through a pipe; the parent stays root for the next case.
#include "sys/sandbox.h"

#include <doctest/doctest.h>

#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <functional>
#include <vector>

using namespace failover;

namespace {

constexpr const char* TEST_ACCOUNT = "nobody";

// Runs `probe` in a child and returns the ints it wrote (errno values, results).
std::vector<int> inChild(const std::function<std::vector<int>()>& probe) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    const auto results = probe();
    (void)!::write(pipe_fds[1], results.data(), results.size() * sizeof(int));
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::vector<int> results;
  int value = 0;
  while (::read(pipe_fds[0], &value, sizeof value) == sizeof value) {
    results.push_back(value);
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  return results;
}

int errnoOf(int result) { return result < 0 ? errno : 0; }

} // namespace

TEST_CASE("an account that is root or does not exist is refused, naming it and the fix") {
  const auto root = sys::lookupAccount("root");
  REQUIRE_FALSE(root.has_value());
  CHECK(root.error().message.find("'root' is root") != std::string::npos);
  const auto missing = sys::lookupAccount("failoverd-no-such-user");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message.find("adduser --system --group failoverd-no-such-user") != std::string::npos);
}

TEST_CASE("becoming an account leaves no capability, no way back to root, and no_new_privs") {
  const auto account = sys::lookupAccount(TEST_ACCOUNT);
  REQUIRE(account.has_value());
  const auto results = inChild([&] {
    const bool became = sys::becomeAccount(*account).has_value();
    const int setuid_errno = errnoOf(::setuid(0));
    const int packet_errno = errnoOf(::socket(AF_PACKET, SOCK_RAW, 0));
    return std::vector<int>{became, static_cast<int>(::geteuid()), setuid_errno,
                            ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), packet_errno};
  });
  REQUIRE(results.size() == 5);
  CHECK(results[0] == 1);
  CHECK(results[1] == static_cast<int>(account->uid));
  CHECK(results[2] == EPERM);
  CHECK(results[3] == 1);
  CHECK(results[4] == EPERM); // CAP_NET_RAW is gone
}

TEST_CASE("the seccomp policy allows the calls it lists and fails the others with EPERM") {
  const auto results = inChild([] {
    // A name this kernel does not know is skipped, not an error.
    const bool confined =
        sys::confineSystemCalls({{"close", "write", "exit_group", "exit", "getppid", "no_such_call"}, {}}).has_value();
    return std::vector<int>{confined, ::getppid() > 0, errnoOf(::dup(1)), errnoOf(::getpgid(0))};
  });
  REQUIRE(results.size() == 4);
  CHECK(results[0] == 1);
  CHECK(results[1] == 1);
  CHECK(results[2] == EPERM);
  CHECK(results[3] == EPERM);
}

TEST_CASE("socket() opens only the families the policy names") {
  const auto results = inChild([] {
    const bool confined = sys::confineSystemCalls({{"close", "write", "exit_group", "exit"}, {AF_INET6}}).has_value();
    const int inet6 = ::socket(AF_INET6, SOCK_STREAM, 0);
    return std::vector<int>{confined, inet6 >= 0, errnoOf(::socket(AF_INET, SOCK_STREAM, 0)),
                            errnoOf(::socket(AF_UNIX, SOCK_STREAM, 0)), errnoOf(::socket(AF_PACKET, SOCK_RAW, 0))};
  });
  REQUIRE(results.size() == 5);
  CHECK(results[0] == 1);
  CHECK(results[1] == 1);
  CHECK(results[2] == EPERM); // AF_INET: not named
  CHECK(results[3] == EPERM);
  CHECK(results[4] == EPERM);
}
