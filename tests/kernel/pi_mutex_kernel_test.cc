// sys::PiMutex against the real scheduler (root: it puts a thread under SCHED_FIFO): a
// default-scheduled thread holding it runs at the priority of a real-time thread waiting for
// it, as the agent's loop needs of the locks it shares with the TLS workers. std::mutex, the
// contrast, leaves the holder where it was: what the test reads can tell them apart.
#include "sys/pi_mutex.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

namespace {

constexpr int WAITER_PRIORITY = 10;
// /proc's "priority" of a thread: 20 + nice under the default scheduler, -1 - the real-time
// priority under SCHED_FIFO/SCHED_RR (proc(5)).
constexpr int DEFAULT_SCHEDULER_PRIORITY = 20;
constexpr int BOOSTED_PRIORITY = -1 - WAITER_PRIORITY;

int priorityOf(pid_t thread) {
  std::ifstream stat("/proc/self/task/" + std::to_string(thread) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int index = 0; index <= 15 && fields >> field; ++index) {
  }
  return std::stoi(field); // field 18 of proc(5): the 16th after the command
}

// The holder's priority once a SCHED_FIFO thread has waited on `mutex` for a while (or as soon
// as the boost shows), bounded by two seconds.
template <typename Mutex> int holderPriorityWithRealTimeWaiter(Mutex& mutex) {
  std::atomic<pid_t> holder_tid{0};
  std::atomic<bool> release{false};
  std::thread holder([&] {
    const std::lock_guard lock(mutex);
    holder_tid = gettid();
    holder_tid.notify_all();
    release.wait(false);
  });
  holder_tid.wait(0);
  REQUIRE(priorityOf(holder_tid) == DEFAULT_SCHEDULER_PRIORITY);

  std::atomic<bool> waiting{false};
  std::atomic<int> scheduled{-1};
  std::thread waiter([&] {
    sched_param param{};
    param.sched_priority = WAITER_PRIORITY;
    scheduled = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
    waiting = true;
    const std::lock_guard lock(mutex);
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  int seen = priorityOf(holder_tid);
  while (seen != BOOSTED_PRIORITY && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
    seen = priorityOf(holder_tid);
  }
  release = true;
  release.notify_all();
  holder.join();
  waiter.join();
  REQUIRE_MESSAGE(scheduled == 0, "SCHED_FIFO needs CAP_SYS_NICE: the kernel tests run as root");
  REQUIRE(waiting);
  return seen;
}

} // namespace

TEST_CASE("PiMutex: a default-scheduled holder runs at its real-time waiter's priority") {
  failover::sys::PiMutex mutex;
  CHECK(holderPriorityWithRealTimeWaiter(mutex) == BOOSTED_PRIORITY);
}

TEST_CASE("std::mutex, the contrast: its holder stays under the default scheduler's priority") {
  std::mutex mutex;
  CHECK(holderPriorityWithRealTimeWaiter(mutex) == DEFAULT_SCHEDULER_PRIORITY);
}

TEST_CASE("PiMutex: try_lock fails while another thread holds it, and works once released") {
  failover::sys::PiMutex mutex;
  mutex.lock();
  bool taken = true;
  std::thread other([&] { taken = mutex.try_lock(); });
  other.join();
  CHECK_FALSE(taken);
  mutex.unlock();
  std::thread again([&] {
    taken = mutex.try_lock();
    if (taken) {
      mutex.unlock();
    }
  });
  again.join();
  CHECK(taken);
}
