#include "sys/event_loop.h"

#include <doctest/doctest.h>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <csignal>

using namespace failover::sys;
using namespace std::chrono_literals;

TEST_CASE("the loop dispatches a readable fd to its handler, and not after removal") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) == 0);
  UniqueFd a(pair[0]), b(pair[1]);
  int calls = 0;
  REQUIRE(loop->add(a.get(), EPOLLIN, [&](std::uint32_t events) {
    CHECK((events & EPOLLIN) != 0);
    ++calls;
    char byte;
    CHECK(::read(a.get(), &byte, 1) == 1);
  }));
  CHECK(loop->runOnce(0ms).value() == 0);
  REQUIRE(::write(b.get(), "x", 1) == 1);
  CHECK(loop->runOnce(1000ms).value() == 1);
  CHECK(calls == 1);
  loop->remove(a.get());
  REQUIRE(::write(b.get(), "y", 1) == 1);
  CHECK(loop->runOnce(0ms).value() == 0);
  CHECK(calls == 1);
  CHECK_FALSE(loop->add(-1, EPOLLIN, [](std::uint32_t) {}));
}

TEST_CASE("a handler may remove itself and stop the loop") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  auto timer = TimerFd::create();
  REQUIRE(timer);
  REQUIRE(timer->arm(1ms));
  int fired = 0;
  REQUIRE(loop->add(timer->fd(), EPOLLIN, [&](std::uint32_t) {
    ++fired;
    timer->acknowledge();
    loop->remove(timer->fd());
    loop->stop();
  }));
  REQUIRE(loop->run());
  CHECK(fired == 1);
}

TEST_CASE("signals arrive through the signal fd") {
  auto signals = SignalFd::create({SIGUSR2});
  REQUIRE(signals);
  CHECK(signals->next().value() == 0);
  REQUIRE(::raise(SIGUSR2) == 0);
  CHECK(signals->next().value() == SIGUSR2);
  CHECK(signals->next().value() == 0);
}

TEST_CASE("a disarmed timer does not fire") {
  auto loop = EventLoop::create();
  auto timer = TimerFd::create();
  REQUIRE(loop);
  REQUIRE(timer);
  bool fired = false;
  REQUIRE(loop->add(timer->fd(), EPOLLIN, [&](std::uint32_t) { fired = true; }));
  REQUIRE(timer->arm(5ms));
  REQUIRE(timer->disarm());
  CHECK(loop->runOnce(20ms).value() == 0);
  CHECK_FALSE(fired);
}
