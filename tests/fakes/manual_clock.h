#pragma once

#include "sys/clock.h"

#include <cstdint>

namespace failover::fakes {

// Simulated time: only advance() moves it. The wall clock starts at a fixed date so that
// message ages and session lifetimes behave as in the field.
class ManualClock final : public sys::Clock {
public:
  static constexpr std::int64_t EPOCH_MS = 1'796'000'000'000; // November 2026
  std::int64_t wallMs() const noexcept override { return EPOCH_MS + now_ms_; }
  std::int64_t monotonicMs() const noexcept override { return now_ms_; }
  void advance(std::int64_t ms) noexcept { now_ms_ += ms; }
  void set(std::int64_t ms) noexcept { now_ms_ = ms; }

private:
  std::int64_t now_ms_ = 0;
};

} // namespace failover::fakes
