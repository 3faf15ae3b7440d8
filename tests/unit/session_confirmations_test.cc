#include "tls/session_confirmations.h"

#include <doctest/doctest.h>

#include <atomic>
#include <barrier>
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

TEST_CASE("a reader sees the marks only grow while the one confirming side raises them") {
  SessionConfirmations confirmations;
  std::atomic<bool> done{false};
  std::thread confirming([&] {
    for (std::uint64_t n = 1; n <= 20'000; ++n) {
      confirmations.confirm(n);
    }
    done.store(true);
  });
  std::uint64_t highest_seen = 0;
  bool went_back = false;
  for (int reads = 0; reads < 1'000'000 && !done.load(); ++reads) {
    // Bisect for the confirmed mark through outcome() alone, as a worker sees it.
    std::uint64_t low = 0, high = 20'001;
    while (high - low > 1) {
      const auto middle = (low + high) / 2;
      (confirmations.outcome(middle) == Outcome::Confirmed ? low : high) = middle;
    }
    went_back = went_back || low < highest_seen;
    highest_seen = std::max(highest_seen, low);
  }
  confirming.join();
  CHECK_FALSE(went_back);
  CHECK((confirmations.outcome(20'000) == Outcome::Confirmed));
  CHECK((confirmations.outcome(20'001) == Outcome::Pending));
}

TEST_CASE("each worker's holding count is its own") {
  SessionConfirmations confirmations;
  CHECK_FALSE(confirmations.holding(0));
  confirmations.setHolding(3, 2);
  CHECK(confirmations.holding(3));
  CHECK_FALSE(confirmations.holding(2));
  CHECK_FALSE(confirmations.holding(failover::tls::MAX_WORKERS - 1));
  confirmations.setHolding(3, 0);
  CHECK_FALSE(confirmations.holding(3));
}

// The hand-off Worker::hold and TlsService::post rely on: the worker publishes its count and
// then checks the outcome; the confirming side raises the mark and then reads the count. In
// every round at least one of them must see the other, or the held handshake would wait for a
// wake-up that never comes.
TEST_CASE("a worker that starts holding and a confirmation posted meanwhile never miss each other") {
  constexpr std::size_t ROUNDS = 20'000;
  SessionConfirmations confirmations;
  std::barrier round(2);
  std::vector<char> worker_saw(ROUNDS), confirmer_saw(ROUNDS);
  std::thread confirmer([&] {
    for (std::size_t i = 0; i < ROUNDS; ++i) {
      round.arrive_and_wait();
      confirmations.confirm(i + 1);
      confirmer_saw[i] = confirmations.holding(0);
      round.arrive_and_wait();
    }
  });
  int missed = 0;
  for (std::size_t i = 0; i < ROUNDS; ++i) {
    round.arrive_and_wait();
    confirmations.setHolding(0, 1);
    worker_saw[i] = confirmations.outcome(i + 1) == Outcome::Confirmed;
    round.arrive_and_wait();
    confirmations.setHolding(0, 0);
    missed += (worker_saw[i] == 0 && confirmer_saw[i] == 0) ? 1 : 0;
  }
  confirmer.join();
  CHECK(missed == 0);
}
