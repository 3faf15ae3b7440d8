#include "tls/session_confirmations.h"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

using failover::tls::SessionConfirmations;
using Outcome = SessionConfirmations::Outcome;

TEST_CASE("a session is pending until confirmation reaches its number") {
  SessionConfirmations confirmations;
  CHECK((confirmations.outcome(1) == Outcome::Pending));
  confirmations.confirm(3);
  CHECK((confirmations.outcome(1) == Outcome::Confirmed));
  CHECK((confirmations.outcome(3) == Outcome::Confirmed));
  CHECK((confirmations.outcome(4) == Outcome::Pending));
}

TEST_CASE("number 0 is never confirmed") {
  SessionConfirmations confirmations;
  confirmations.confirm(10);
  CHECK((confirmations.outcome(0) == Outcome::Unconfirmed));
}

TEST_CASE("confirmation never moves back") {
  SessionConfirmations confirmations;
  confirmations.confirm(5);
  confirmations.confirm(2);
  CHECK((confirmations.outcome(5) == Outcome::Confirmed));
}

TEST_CASE("an abandoned number stays unconfirmed even when later ones are confirmed") {
  SessionConfirmations confirmations;
  confirmations.confirm(2);
  confirmations.abandon(5); // numbers 3-5 were never sent
  confirmations.confirm(8);
  CHECK((confirmations.outcome(4) == Outcome::Unconfirmed));
  CHECK((confirmations.outcome(6) == Outcome::Confirmed));
  CHECK((confirmations.outcome(9) == Outcome::Pending));
  // Under-stating is the chosen error: 2 was confirmed before the abandonment.
  CHECK((confirmations.outcome(2) == Outcome::Unconfirmed));
}

TEST_CASE("concurrent confirmations end at the highest") {
  SessionConfirmations confirmations;
  std::vector<std::thread> threads;
  for (std::uint64_t t = 0; t < 4; ++t) {
    threads.emplace_back([&confirmations, t] {
      for (std::uint64_t n = t; n <= 10'000; n += 4) {
        confirmations.confirm(n);
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK((confirmations.outcome(10'000) == Outcome::Confirmed));
  CHECK((confirmations.outcome(10'001) == Outcome::Pending));
}
