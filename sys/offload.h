#pragma once

#include "sys/error.h"
#include "sys/event_loop.h"
#include "sys/unique_fd.h"

#include <cstddef>
#include <functional>
#include <memory>
#include <thread>

namespace failover::sys {

// One helper thread for the calls that block, so that the event loop's thread never waits for
// them. That thread renews the majority lease and keeps the VIP guard open: an iptables run
// takes 5-10 ms, and the handful of them in a takeover (about 50 ms) was enough for the
// new active to lose a 60 ms lease in one switchover of ten.
// Jobs run one at a time, in the order posted; each one's completion then runs on the loop's
// thread. Jobs and completions cross over pipes, so the two threads share no lock: a lock
// held by the default-scheduled helper while it is preempted would stall the real-time loop.
class Offload {
public:
  using Job = std::function<Status()>;
  using Done = std::function<void(const Status&)>;

  // The helper thread blocks every signal (the daemon reads its signals through a signalfd).
  static Result<std::unique_ptr<Offload>> create(EventLoop& loop);
  // Runs the jobs still queued and their completions, then joins the thread.
  ~Offload();
  Offload(const Offload&) = delete;
  Offload& operator=(const Offload&) = delete;

  // `done` runs on the loop's thread once `job` has run on the helper's.
  void post(Job job, Done done);
  // Waits for every job posted so far and runs their completions (start-up and shutdown).
  void finish();
  // Jobs posted whose completion has not run yet.
  std::size_t pending() const noexcept { return pending_; }

private:
  struct Task {
    Job job;
    Done done;
    Status status;
  };
  Offload(EventLoop& loop, UniqueFd jobs_in, UniqueFd jobs_out, UniqueFd done_in, UniqueFd done_out);
  void work() noexcept;
  // Runs the completions that arrived; with `wait`, until none is pending.
  void complete(bool wait);

  EventLoop& loop_;
  UniqueFd jobs_in_;  // the loop writes Task pointers here
  UniqueFd jobs_out_; // the helper reads them (blocking)
  UniqueFd done_in_;  // the helper writes them back when run
  UniqueFd done_out_; // the loop reads them (non-blocking, in its epoll)
  std::thread helper_;
  std::size_t pending_ = 0;
};

} // namespace failover::sys
