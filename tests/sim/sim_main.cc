// cluster-sim: runs the deterministic cluster simulator over a range of seeds (docs/simulation.md).
//   cluster-sim [--seeds N] [--first S] [--steps K] [--skew-ms M]   a campaign; exit 1 on a violation
//   cluster-sim --seed S [--steps K] [--skew-ms M]                  one seed, its whole trace
//   --lease on|off|random     the majority lease in every seed, in none, or drawn per seed (default)
//   --unsafe no-wait-out|lease-no-voters   a deliberately unsafe variant: the run must find a violation
#include "tests/sim/cluster_sim.h"

#include <charconv>
#include <optional>
#include <cstdlib>
#include <iostream>
#include <string_view>

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

} // namespace

int main(int argc, char** argv) {
  std::uint64_t seeds = 1000;
  std::uint64_t first = 1;
  std::optional<std::uint64_t> single;
  failover::sim::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "cluster-sim: " << flag
                << " needs a value (--seeds N, --first S, --seed S, --steps K, --skew-ms M, --lease MODE, --unsafe VARIANT)\n";
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
    } else {
      std::cerr << "cluster-sim: unknown option " << flag << " (--seeds, --first, --seed, --steps, --skew-ms)\n";
      return EXIT_USAGE;
    }
  }
  if (single) {
    first = *single;
    seeds = 1;
    options.trace = true;
  }
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
  for (std::uint64_t seed = first; seed < first + seeds; ++seed) {
    const auto outcome = failover::sim::run(seed, options);
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
    if (single) {
      for (const auto& line : outcome.trace) {
        std::cout << line << '\n';
      }
    }
    if (!outcome.ok) {
      if (!single) {
        for (const auto& line : outcome.trace) {
          std::cout << line << '\n';
        }
      }
      std::cout << "VIOLATION with seed " << seed << ' ' << outcome.violation << '\n'
                << "replay: cluster-sim --seed " << seed << " --steps " << options.steps << " --skew-ms "
                << options.skew_ms << '\n';
      return EXIT_VIOLATION;
    }
  }
  std::cout << "cluster-sim: " << seeds << " seeds (" << first << ".." << first + seeds - 1 << "), " << options.steps
            << " steps each, " << events << " events, " << static_cast<double>(simulated_ms) / 3.6e6
            << " simulated hours, " << takeovers << " takeovers, " << switchovers << " switchovers done, " << aborted
            << " ended otherwise, " << sessions_confirmed << " sessions confirmed in sync mode (" << sessions_lost
            << " of them gone in cold starts, " << sessions_window
            << " confirmed as a partition formed); with the majority lease: " << lease_seeds << " seeds, "
            << lease_renewals << " renewals, " << lease_losses << " leases lost, " << lease_fast
            << " takeovers before Corosync saw the old active go; no invariant broken\n";
  return EXIT_SUCCESS;
}
