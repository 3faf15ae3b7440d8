#include "sys/offload.h"
#include "tests/unit/run_until.h"

#include <doctest/doctest.h>

#include <csignal>
#include <future>
#include <string>
#include <thread>
#include <vector>

using namespace failover::sys;
using namespace std::chrono_literals;

using failover::test::runUntil;

TEST_CASE("a job that blocks does not block the loop; completions come back on it, in order") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  auto offload = Offload::create(*loop);
  REQUIRE(offload);
  std::promise<void> release;
  auto released = release.get_future().share();
  const auto caller = std::this_thread::get_id();
  std::vector<std::string> completed;
  std::thread::id ran_on;
  (*offload)->post(
      [released, &ran_on]() -> Status {
        ran_on = std::this_thread::get_id();
        released.wait(); // an iptables run that takes its time
        return {};
      },
      [&](const Status& status) {
        CHECK(status);
        CHECK(std::this_thread::get_id() == caller);
        completed.push_back("first");
      });
  (*offload)->post([]() -> Status { return fail(Errc::System, "iptables: no such chain"); },
                   [&](const Status& status) {
                     REQUIRE_FALSE(status);
                     CHECK(status.error().message == "iptables: no such chain");
                     completed.push_back("second");
                   });
  CHECK((*offload)->pending() == 2);
  // Both were posted while the first job blocks; the loop still runs and nothing completed.
  CHECK(loop->runOnce(0ms).value() == 0);
  CHECK(completed.empty());
  release.set_value();
  REQUIRE(runUntil(*loop, [&] { return completed.size() == 2; }));
  CHECK(completed == std::vector<std::string>{"first", "second"});
  CHECK(ran_on != caller);
  CHECK((*offload)->pending() == 0);
}

TEST_CASE("finish() waits for the queued jobs, and destruction runs what is still queued") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  std::vector<int> order;
  {
    auto offload = Offload::create(*loop);
    REQUIRE(offload);
    for (int i = 0; i < 3; ++i) {
      (*offload)->post([&order, i]() -> Status {
        order.push_back(i);
        return {};
      }, [](const Status&) {});
    }
    (*offload)->finish();
    CHECK(order == std::vector<int>{0, 1, 2});
    int completions = 0;
    (*offload)->post([&order]() -> Status {
      order.push_back(3);
      return {};
    }, [&completions](const Status&) { ++completions; });
    offload->reset(); // not lost: it runs, and its completion too
    CHECK(completions == 1);
  }
  CHECK(order == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("a job that throws completes with an error instead of ending the process") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  auto offload = Offload::create(*loop);
  REQUIRE(offload);
  std::string error;
  (*offload)->post([]() -> Status { throw std::runtime_error("out of memory"); },
                   [&error](const Status& status) { error = status ? "" : status.error().message; });
  (*offload)->finish();
  CHECK(error == "out of memory");
}

TEST_CASE("the helper thread takes no signal, whatever the creator's mask") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  sigset_t none;
  sigset_t before;
  sigemptyset(&none);
  REQUIRE(::pthread_sigmask(SIG_SETMASK, &none, &before) == 0);
  auto offload = Offload::create(*loop);
  REQUIRE(::pthread_sigmask(SIG_SETMASK, &before, nullptr) == 0);
  REQUIRE(offload);
  bool all_blocked = false;
  (*offload)->post([&all_blocked]() -> Status {
    sigset_t mask;
    ::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    all_blocked = sigismember(&mask, SIGTERM) == 1 && sigismember(&mask, SIGINT) == 1 &&
                  sigismember(&mask, SIGHUP) == 1 && sigismember(&mask, SIGUSR1) == 1;
    return {};
  }, [](const Status&) {});
  (*offload)->finish();
  CHECK(all_blocked);
}
