#include "sys/clock.h"

#include <chrono>

namespace failover::sys {

namespace {
template <class ClockType> std::int64_t millisecondsOf() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(ClockType::now().time_since_epoch()).count();
}
} // namespace

std::int64_t SystemClock::wallMs() const noexcept { return millisecondsOf<std::chrono::system_clock>(); }
std::int64_t SystemClock::monotonicMs() const noexcept { return millisecondsOf<std::chrono::steady_clock>(); }
// steady_clock is CLOCK_MONOTONIC on Linux: the clock bpf_ktime_get_ns() reads.
std::int64_t SystemClock::monotonicNs() const noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace failover::sys
