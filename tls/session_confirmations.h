#pragma once

#include <atomic>
#include <cstdint>

namespace failover::tls {

// The most worker threads a TLS server runs (the configuration's limit for tls-workers).
inline constexpr unsigned MAX_WORKERS = 256;

// Sync mode's view of the sessions reported to SessionHooks::sessionCreated. Each report is
// given a number (1, 2, 3, ... in report order; 0 means "will never be confirmed"). The
// confirming side says how far the numbers are confirmed (the session is stored on every
// member), or up to where they never will be (they were not sent). A worker holding a
// handshake's final flight asks for its number's outcome.
//
// It lives in memory the agent shares with the TLS service process, so that the agent posts
// an outcome where the workers read it and wakes only a worker that holds a handshake, with
// no thread in between. Plain lock-free atomics, no pointers: the confirming side alone
// raises the two marks, each worker alone writes its own holding count. Sequentially
// consistent, so that a worker that starts holding after a check and an outcome posted
// meanwhile cannot miss each other: the worker publishes its count and then checks again
// (Worker::hold), the confirming side raises a mark and then reads the counts.
class SessionConfirmations {
public:
  enum class Outcome { Pending, Confirmed, Unconfirmed };

  // The confirming side only; a mark never goes down.
  void confirm(std::uint64_t through) noexcept { raise(confirmed_, through); }
  void abandon(std::uint64_t through) noexcept { raise(abandoned_, through); }

  // An abandoned number stays unconfirmed even if later ones were confirmed: the answer may
  // under-state protection, never over-state it.
  Outcome outcome(std::uint64_t number) const noexcept {
    if (number == 0 || number <= abandoned_.load()) {
      return Outcome::Unconfirmed;
    }
    return number <= confirmed_.load() ? Outcome::Confirmed : Outcome::Pending;
  }

  // How many handshakes worker `worker` (< MAX_WORKERS) holds; written by that worker only.
  void setHolding(unsigned worker, std::uint32_t count) noexcept { holding_[worker].store(count); }
  bool holding(unsigned worker) const noexcept { return holding_[worker].load() != 0; }

private:
  // One writer, so no compare-and-swap: the other process cannot make the confirming side
  // retry by writing the mark meanwhile.
  static void raise(std::atomic<std::uint64_t>& mark, std::uint64_t to) noexcept {
    if (mark.load() < to) {
      mark.store(to);
    }
  }

  static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::uint32_t>::is_always_lock_free,
                "shared between processes: the atomics must not hide a lock");
  std::atomic<std::uint64_t> confirmed_{0};
  std::atomic<std::uint64_t> abandoned_{0};
  std::atomic<std::uint32_t> holding_[MAX_WORKERS]{};
};

} // namespace failover::tls
