// cluster-sim: runs the deterministic cluster simulator over a range of seeds (docs/simulation.md).
//   cluster-sim [--seeds N] [--first S] [--steps K] [--skew-ms M] [--jobs J]   a campaign; exit 1 on a violation
//   cluster-sim --seed S [--steps K] [--skew-ms M]                             one seed, its whole trace
//   --jobs J                  the seeds on J threads (0: one per CPU; 1 by default): the outcome is
//                             the same for any J (the lowest violating seed, or the same totals)
//   --lease on|off|random     the majority lease in every seed, in none, or drawn per seed (default)
//   --unsafe no-wait-out|lease-no-voters   a deliberately unsafe variant: the run must find a violation
#include "tests/sim/cluster_sim.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr int EXIT_VIOLATION = 1;
constexpr int EXIT_USAGE = 64;

std::optional<std::uint64_t> number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// What a campaign adds up over its seeds.
struct Totals {
  std::uint64_t events = 0;
  std::uint64_t takeovers = 0;
  std::uint64_t switchovers = 0;
  std::uint64_t aborted = 0;
  std::uint64_t sessions_confirmed = 0;
  std::uint64_t sessions_lost = 0;
  std::uint64_t sessions_window = 0;
  std::int64_t simulated_ms = 0;
  std::uint64_t lease_seeds = 0;
  std::uint64_t lease_renewals = 0;
  std::uint64_t lease_losses = 0;
  std::uint64_t lease_fast = 0;

  void add(const failover::sim::Outcome& outcome) {
    events += outcome.events;
    takeovers += outcome.takeovers;
    switchovers += outcome.switchovers;
    aborted += outcome.aborted;
    sessions_confirmed += outcome.sessions_confirmed;
    sessions_lost += outcome.sessions_lost_to_cold_starts;
    sessions_window += outcome.sessions_in_partition_window;
    simulated_ms += outcome.simulated_ms;
    lease_seeds += outcome.lease ? 1 : 0;
    lease_renewals += outcome.lease_renewals;
    lease_losses += outcome.lease_losses;
    lease_fast += outcome.lease_fast_takeovers;
  }
};

constexpr std::uint64_t NO_SEED = std::numeric_limits<std::uint64_t>::max();

// Runs seeds [first, first + count) on `jobs` threads, each taking every jobs-th seed, and
// returns their outcomes in seed order, a trace kept only where an invariant broke. A thread
// skips the seeds above the lowest violation found so far, never one below it, so the first
// violation in the result is the lowest whatever the threads' timing: a campaign replays
// exactly. (The seeds skipped have no outcome.)
std::vector<std::optional<failover::sim::Outcome>> runSeeds(std::uint64_t first, std::uint64_t count, unsigned jobs,
                                                            const failover::sim::Options& options) {
  std::vector<std::optional<failover::sim::Outcome>> outcomes(count);
  std::atomic<std::uint64_t> lowest_violation{NO_SEED};
  std::vector<std::jthread> threads;
  for (unsigned job = 0; job < jobs; ++job) {
    threads.emplace_back([&, job] {
      for (std::uint64_t seed = first + job; seed < first + count && seed < lowest_violation.load(); seed += jobs) {
        auto outcome = failover::sim::run(seed, options);
        if (outcome.ok) {
          outcome.trace.clear();
        } else {
          for (auto lowest = lowest_violation.load(); seed < lowest;) {
            lowest_violation.compare_exchange_weak(lowest, seed);
          }
        }
        outcomes[seed - first] = std::move(outcome); // each thread its own elements
      }
    });
  }
  threads.clear(); // joins them
  return outcomes;
}

void printViolation(std::uint64_t seed, const failover::sim::Outcome& outcome, const failover::sim::Options& options) {
  std::cout << "VIOLATION with seed " << seed << ' ' << outcome.violation << '\n'
            << "replay: cluster-sim --seed " << seed << " --steps " << options.steps << " --skew-ms "
            << options.skew_ms << '\n';
}

} // namespace

int main(int argc, char** argv) {
  std::uint64_t seeds = 1000;
  std::uint64_t first = 1;
  std::uint64_t jobs = 1;
  std::optional<std::uint64_t> single;
  failover::sim::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "cluster-sim: " << flag
                << " needs a value (--seeds N, --first S, --seed S, --steps K, --skew-ms M, --jobs J, --lease MODE, "
                   "--unsafe VARIANT)\n";
      return EXIT_USAGE;
    }
    const std::string_view word = argv[i + 1];
    if (flag == "--lease") {
      ++i;
      if (word == "on") {
        options.lease = failover::sim::LeaseMode::On;
      } else if (word == "off") {
        options.lease = failover::sim::LeaseMode::Off;
      } else if (word == "random") {
        options.lease = failover::sim::LeaseMode::Random;
      } else {
        std::cerr << "cluster-sim: --lease takes on, off or random, not '" << word << "'\n";
        return EXIT_USAGE;
      }
      continue;
    }
    if (flag == "--unsafe") {
      ++i;
      if (word == "no-wait-out") {
        options.unsafe = failover::sim::Unsafe::NoWaitOut;
      } else if (word == "lease-no-voters") {
        options.unsafe = failover::sim::Unsafe::LeaseNoVoters;
      } else {
        std::cerr << "cluster-sim: --unsafe takes no-wait-out or lease-no-voters, not '" << word << "'\n";
        return EXIT_USAGE;
      }
      continue;
    }
    const auto value = number(argv[++i]);
    if (!value) {
      std::cerr << "cluster-sim: " << flag << " takes a non-negative integer, not '" << argv[i] << "'\n";
      return EXIT_USAGE;
    }
    if (flag == "--seeds") {
      seeds = *value;
    } else if (flag == "--first") {
      first = *value;
    } else if (flag == "--seed") {
      single = *value;
    } else if (flag == "--steps") {
      options.steps = static_cast<unsigned>(*value);
    } else if (flag == "--skew-ms") {
      options.skew_ms = static_cast<std::int64_t>(*value);
    } else if (flag == "--jobs") {
      jobs = *value;
    } else {
      std::cerr << "cluster-sim: unknown option " << flag << " (--seeds, --first, --seed, --steps, --skew-ms, --jobs)\n";
      return EXIT_USAGE;
    }
  }
  Totals t;
  if (single) {
    options.trace = true;
    const auto outcome = failover::sim::run(*single, options);
    for (const auto& line : outcome.trace) {
      std::cout << line << '\n';
    }
    if (!outcome.ok) {
      printViolation(*single, outcome, options);
      return EXIT_VIOLATION;
    }
    t.add(outcome);
    first = *single;
    seeds = 1;
  } else {
    if (jobs == 0) {
      jobs = std::max(1U, std::thread::hardware_concurrency());
    }
    const auto outcomes = runSeeds(first, seeds, static_cast<unsigned>(std::min<std::uint64_t>(jobs, 256)), options);
    for (std::uint64_t index = 0; index < outcomes.size(); ++index) {
      if (!outcomes[index]) {
        continue; // above a violation
      }
      const auto& outcome = *outcomes[index];
      if (!outcome.ok) {
        for (const auto& line : outcome.trace) {
          std::cout << line << '\n';
        }
        printViolation(first + index, outcome, options);
        return EXIT_VIOLATION;
      }
      t.add(outcome);
    }
  }
  std::cout << "cluster-sim: " << seeds << " seeds (" << first << ".." << first + seeds - 1 << "), " << options.steps
            << " steps each, " << t.events << " events, " << static_cast<double>(t.simulated_ms) / 3.6e6
            << " simulated hours, " << t.takeovers << " takeovers, " << t.switchovers << " switchovers done, "
            << t.aborted << " ended otherwise, " << t.sessions_confirmed << " sessions confirmed in sync mode ("
            << t.sessions_lost << " of them gone in cold starts, " << t.sessions_window
            << " confirmed as a partition formed); with the majority lease: " << t.lease_seeds << " seeds, "
            << t.lease_renewals << " renewals, " << t.lease_losses << " leases lost, " << t.lease_fast
            << " takeovers before Corosync saw the old active go; no invariant broken\n";
  return EXIT_SUCCESS;
}
