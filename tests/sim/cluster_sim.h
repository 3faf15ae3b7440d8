#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace failover::sim {

// One seeded run of the cluster simulator (docs/simulation.md): N nodes, each running the
// real RoleMachine, over a simulated Corosync, through a random schedule of faults and
// operator commands, with the safety invariants checked after every event.
struct Options {
  unsigned steps = 200;    // random faults and commands per run
  std::int64_t skew_ms = 20; // how far apart the two sides of a partition learn of it
  bool trace = false;      // keep every event, not only the last ones
};

struct Outcome {
  bool ok = true;
  std::string violation;          // the invariant broken, when and where
  std::vector<std::string> trace; // the events before it (all of them with Options::trace)
  std::uint64_t events = 0;       // simulator events processed
  std::int64_t simulated_ms = 0;
  std::uint64_t takeovers = 0;    // VIP takeovers completed
  std::uint64_t switchovers = 0;  // planned switchovers that completed
  std::uint64_t aborted = 0;      // planned switchovers that ended without handing over
  std::uint64_t sessions_confirmed = 0;           // sync mode: final flights released to clients
  std::uint64_t sessions_lost_to_cold_starts = 0; // confirmed, then gone with every holder
  // Confirmed by a message that the far side of a partition never received, then missing
  // where a client came back (docs/simulation.md): counted, not a violation.
  std::uint64_t sessions_in_partition_window = 0;
};

Outcome run(std::uint64_t seed, const Options& options);

} // namespace failover::sim
