// The TLS service process's reports to the agent: queued per round, sent together, in number
// order without a gap, kept while the channel is full, and counted once the queue is too.
#include "daemon/session_reports.h"

#include "sys/unique_fd.h"
#include "tls/service_channel.h"

#include <doctest/doctest.h>

#include <sys/socket.h>

#include <variant>
#include <vector>

using namespace failover;
namespace channel = failover::tls::channel;

namespace {

struct Channel {
  sys::UniqueFd agent;
  sys::UniqueFd service;
  Channel() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
    agent = sys::UniqueFd(fds[0]);
    service = sys::UniqueFd(fds[1]);
  }
  // Every message waiting on the agent's end.
  std::vector<channel::Message> drain() const {
    std::vector<channel::Message> messages;
    sys::SecretBuffer buffer;
    channel::Message message;
    for (auto received = channel::receive(agent.get(), buffer, message); received && *received;
         received = channel::receive(agent.get(), buffer, message)) {
      messages.push_back(message);
    }
    return messages;
  }
};

tls::SessionRecord session(std::uint8_t tag, std::size_t der_size = 64) {
  return {std::vector<std::uint8_t>(32, tag), sys::SecretBuffer(der_size, tag), 1'000 + tag};
}

std::vector<std::uint64_t> numbersOf(const std::vector<channel::Message>& messages) {
  std::vector<std::uint64_t> numbers;
  for (const auto& message : messages) {
    if (const auto* created = std::get_if<channel::SessionCreated>(&message)) {
      numbers.push_back(created->number);
    }
  }
  return numbers;
}

} // namespace

TEST_CASE("a round's reports reach the agent together at the flush, in order, numbered from 1") {
  Channel pair;
  tls::TlsCounters counters;
  daemon::SessionReports reports(pair.service.get(), counters);
  CHECK(reports.sessionCreated(session(1)) == 1);
  const std::vector<std::uint8_t> removed(32, 9);
  reports.sessionRemoved(removed);
  CHECK(reports.sessionCreated(session(2)) == 2);
  CHECK(pair.drain().empty()); // nothing before the worker's round ends
  reports.flush();
  const auto messages = pair.drain();
  REQUIRE(messages.size() == 3);
  CHECK(std::get<channel::SessionCreated>(messages[0]) == channel::SessionCreated{1, session(1)});
  CHECK(std::get<channel::SessionRemoved>(messages[1]).id == removed);
  CHECK(std::get<channel::SessionCreated>(messages[2]) == channel::SessionCreated{2, session(2)});
  reports.flush(); // nothing queued: nothing sent again
  CHECK(pair.drain().empty());
  CHECK(counters.sessions_unreported.load() == 0);
}

TEST_CASE("a full channel keeps the rest queued, in order; a full queue counts the report and gives no number") {
  Channel pair;
  const int small = 4096; // the kernel's minimum: a few reports
  REQUIRE(::setsockopt(pair.service.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  tls::TlsCounters counters;
  daemon::SessionReports reports(pair.service.get(), counters);
  std::uint64_t last = 0;
  for (std::size_t i = 0; i < daemon::SessionReports::MAX_QUEUED; ++i) {
    last = reports.sessionCreated(session(static_cast<std::uint8_t>(i), 1024));
  }
  CHECK(last == daemon::SessionReports::MAX_QUEUED);
  // The queue is full: the next session stays local.
  CHECK(reports.sessionCreated(session(7)) == 0);
  CHECK(counters.sessions_unreported.load() == 1);
  reports.flush();
  auto received = pair.drain();
  REQUIRE_FALSE(received.empty());
  REQUIRE(received.size() < daemon::SessionReports::MAX_QUEUED); // the channel took only some
  // Room again: the next session is numbered after the queued ones, and the agent reads all of
  // them, round after round, with no number skipped.
  CHECK(reports.sessionCreated(session(8)) == daemon::SessionReports::MAX_QUEUED + 1);
  for (int round = 0; round < 10'000 && numbersOf(received).size() < daemon::SessionReports::MAX_QUEUED + 1;
       ++round) {
    reports.flush();
    const auto more = pair.drain();
    received.insert(received.end(), more.begin(), more.end());
  }
  const auto numbers = numbersOf(received);
  REQUIRE(numbers.size() == daemon::SessionReports::MAX_QUEUED + 1);
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    REQUIRE(numbers[i] == i + 1);
  }
  CHECK(counters.sessions_unreported.load() == 1);
}

TEST_CASE("the agent gone: the flush fails quietly and keeps the reports (the channel's reader ends the process)") {
  Channel pair;
  tls::TlsCounters counters;
  daemon::SessionReports reports(pair.service.get(), counters);
  CHECK(reports.sessionCreated(session(1)) == 1);
  pair.agent.reset();
  reports.flush(); // EPIPE, not a crash (MSG_NOSIGNAL)
  CHECK(reports.sessionCreated(session(2)) == 2);
}
