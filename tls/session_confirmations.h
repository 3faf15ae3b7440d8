#pragma once

#include <atomic>
#include <cstdint>

namespace failover::tls {

// Sync mode's view of the sessions reported to SessionHooks::sessionCreated. Each report is
// given a number (1, 2, 3, ... in report order; 0 means "will never be confirmed"). The
// confirming side says how far the numbers are confirmed (the session is stored on every
// member), or up to where they never will be (they were not sent). A worker holding a
// handshake's final flight asks for its number's outcome. Thread-safe, lock-free: both
// watermarks only grow. Sequentially consistent, so that a worker that starts holding after
// a check and a confirmation that lands meanwhile cannot miss each other (Worker::hold).
class SessionConfirmations {
public:
  enum class Outcome { Pending, Confirmed, Unconfirmed };

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

private:
  static void raise(std::atomic<std::uint64_t>& mark, std::uint64_t to) noexcept {
    auto current = mark.load();
    while (current < to && !mark.compare_exchange_weak(current, to)) {
    }
  }

  std::atomic<std::uint64_t> confirmed_{0};
  std::atomic<std::uint64_t> abandoned_{0};
};

} // namespace failover::tls
