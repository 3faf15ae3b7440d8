#pragma once

#include <cstdint>

namespace failover::sys {

// Time as the logic reads it, behind an interface so that the same logic runs on simulated
// time in the unit tests and the cluster simulator.
class Clock {
public:
  virtual ~Clock() = default;
  // Since the epoch: comparable between nodes (message ages, session lifetimes).
  virtual std::int64_t wallMs() const noexcept = 0;
  // Since some fixed point on this node: for intervals, immune to clock steps.
  virtual std::int64_t monotonicMs() const noexcept = 0;
  // The same clock in nanoseconds (the lease's arithmetic, and bpf_ktime_get_ns(), need them).
  virtual std::int64_t monotonicNs() const noexcept { return monotonicMs() * 1'000'000; }
  std::int64_t wallSeconds() const noexcept { return wallMs() / 1000; }
};

class SystemClock final : public Clock {
public:
  std::int64_t wallMs() const noexcept override;
  std::int64_t monotonicMs() const noexcept override;
  std::int64_t monotonicNs() const noexcept override;
};

} // namespace failover::sys
