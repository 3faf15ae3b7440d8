#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace failover::sim {

// One seeded run of the cluster simulator (docs/simulation.md): N nodes, each running the
// real RoleMachine, over a simulated Corosync, through a random schedule of faults and
// operator commands, with the safety invariants checked after every event.
// Whether the nodes run the majority lease (docs/lease.md): drawn per seed, or forced.
enum class LeaseMode { Random, On, Off };
// Deliberately unsafe variants, to show that the invariants catch what they guard against.
enum class Unsafe {
  None,
  NoWaitOut,     // without the lease, a new active does not wait out the old one's guard
  LeaseNoVoters, // with the lease, each node counts only its own vote: it need not wait out the old lease
};

struct Options {
  unsigned steps = 200;    // random faults and commands per run
  std::int64_t skew_ms = 20; // how far apart the two sides of a partition learn of it
  bool trace = false;      // keep every event, not only the last ones
  LeaseMode lease = LeaseMode::Random;
  Unsafe unsafe = Unsafe::None;
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
  bool lease = false;                 // this seed ran the majority lease
  std::uint64_t lease_renewals = 0;   // majority grants the holders received
  std::uint64_t lease_losses = 0;     // leases that ran out while wanted
  std::uint64_t lease_fast_takeovers = 0; // takeovers while Corosync still listed the old active
};

Outcome run(std::uint64_t seed, const Options& options);

} // namespace failover::sim
