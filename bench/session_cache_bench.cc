// Session cache: lookups per second at 10k, 100k and 1M entries (they must stay flat: the
// reference system's DBM cache slowed down as migrated entries piled up), inserts per second
// into the full cache (each evicts the oldest session, as on a busy server; every handshake
// inserts once in the TLS process and once in the agent's copy), and the memory each entry
// costs, all included (measured by the allocator, not estimated).
//   build/release/bench/session_cache_bench [RUNS]
#include "tls/session_cache.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <cstdio>
#include <random>
#include <vector>

using failover::tls::SessionCache;
using failover::tls::SessionRecord;

namespace {

// A TLS 1.2 session as i2d_SSL_SESSION encodes it without a client certificate is about this
// size (measured on the lab's sessions: 150-200 bytes); a TLS 1.3 stateful one similar.
constexpr std::size_t DER_SIZE = 180;
constexpr std::size_t LOOKUPS = 2'000'000;
constexpr std::size_t INSERTS = 100'000;

std::vector<std::uint8_t> idFor(std::uint64_t n) {
  std::vector<std::uint8_t> id(32);
  std::mt19937_64 random(n);
  for (auto& b : id) {
    b = static_cast<std::uint8_t>(random());
  }
  return id;
}

} // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 3;
  std::printf("%10s %16s %16s %14s\n", "entries", "lookups/s", "inserts/s", "bytes/entry");
  for (const std::size_t entries : {10'000UL, 100'000UL, 1'000'000UL}) {
    std::vector<double> rates;
    std::vector<double> insert_rates;
    double bytes_per_entry = 0;
    for (int run = 0; run < runs; ++run) {
      const auto before = mallinfo2().uordblks;
      auto cache = std::make_unique<SessionCache>(entries, entries * 1024);
      for (std::size_t i = 0; i < entries; ++i) {
        cache->insert(SessionRecord{idFor(i), failover::sys::SecretBuffer(DER_SIZE, 0x30), 4'000'000'000}, 0);
      }
      bytes_per_entry = static_cast<double>(mallinfo2().uordblks - before) / static_cast<double>(entries);
      std::vector<std::vector<std::uint8_t>> probes;
      std::mt19937_64 pick(static_cast<std::uint64_t>(run));
      for (int i = 0; i < 4096; ++i) {
        probes.push_back(idFor(pick() % entries));
      }
      std::size_t found = 0;
      const auto start = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < LOOKUPS; ++i) {
        found += cache->lookup(probes[i % probes.size()], 1).has_value() ? 1U : 0U;
      }
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      if (found != LOOKUPS) {
        std::fprintf(stderr, "lookups failed: %zu of %zu found\n", found, LOOKUPS);
        return 1;
      }
      rates.push_back(static_cast<double>(LOOKUPS) / took.count());
      // Built before the clock starts: the cache's own work is timed, not the records'.
      std::vector<SessionRecord> fresh;
      fresh.reserve(INSERTS);
      for (std::size_t i = 0; i < INSERTS; ++i) {
        fresh.push_back(SessionRecord{idFor(entries + i), failover::sys::SecretBuffer(DER_SIZE, 0x30), 4'000'000'000});
      }
      const auto insert_start = std::chrono::steady_clock::now();
      for (auto& record : fresh) {
        cache->insert(std::move(record), 0);
      }
      const std::chrono::duration<double> insert_took = std::chrono::steady_clock::now() - insert_start;
      if (cache->stats().evictions != INSERTS) {
        std::fprintf(stderr, "inserts into the full cache evicted %llu, not %zu\n",
                     static_cast<unsigned long long>(cache->stats().evictions), INSERTS);
        return 1;
      }
      insert_rates.push_back(static_cast<double>(INSERTS) / insert_took.count());
    }
    std::sort(rates.begin(), rates.end());
    std::sort(insert_rates.begin(), insert_rates.end());
    std::printf("%10zu %16.0f %16.0f %14.0f\n", entries, rates[rates.size() / 2], insert_rates[insert_rates.size() / 2],
                bytes_per_entry);
  }
  return 0;
}
