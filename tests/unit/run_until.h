#pragma once

#include "sys/event_loop.h"

#include <chrono>

namespace failover::test {

// Runs the loop until `done` holds, at most `rounds` waits of 1 s each; returns done().
template <typename Predicate> bool runUntil(sys::EventLoop& loop, Predicate done, int rounds = 10) {
  for (int i = 0; i < rounds && !done(); ++i) {
    (void)loop.runOnce(std::chrono::milliseconds(1000));
  }
  return done();
}

} // namespace failover::test
