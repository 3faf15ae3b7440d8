#pragma once

#include "sys/pi_mutex.h"
#include "sys/secret_buffer.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace failover::tls {

// A session that can leave the process: its ID, the DER encoding of the SSL_SESSION
// (i2d_SSL_SESSION), and when it expires (Unix seconds).
struct SessionRecord {
  std::vector<std::uint8_t> id;
  sys::SecretBuffer der; // holds the master secret
  std::int64_t expires_at = 0;
  friend bool operator==(const SessionRecord&, const SessionRecord&) = default;
};

struct SessionCacheStats {
  std::size_t entries = 0;
  std::size_t bytes = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;
  std::uint64_t expired = 0;
};

// The server-side session cache that replaces OpenSSL's internal one. Keyed by session ID,
// bounded in entries and in bytes (the least recently used entry is evicted first), O(1)
// for insert, lookup and remove whatever its size (a hash map into an LRU list), so that a
// cache filled by replication costs nothing later. Thread-safe: all TLS workers share it.
// Time is passed in, so the logic is tested without a clock.
class SessionCache {
public:
  // The largest session ID TLS allows (RFC 5246 7.4.1.2, RFC 8446 4.6.1 for ticket IDs the
  // server chooses: we only store IDs OpenSSL generated, which are at most 32 bytes).
  static constexpr std::size_t MAX_ID = 32;

  SessionCache(std::size_t max_entries, std::size_t max_bytes)
      : max_entries_(max_entries), max_bytes_(max_bytes) {}

  // Stores (or replaces) a record; returns false if it is invalid or expired.
  bool insert(SessionRecord record, std::int64_t now);
  // The DER of a live session; an expired one is removed and counts as a miss.
  std::optional<sys::SecretBuffer> lookup(std::span<const std::uint8_t> id, std::int64_t now);
  bool remove(std::span<const std::uint8_t> id);
  // lookup() and remove() in one step: the session can be used once only (0-RTT anti-replay).
  std::optional<sys::SecretBuffer> take(std::span<const std::uint8_t> id, std::int64_t now);
  // Every live record, oldest first (for state transfer to a joining node).
  std::vector<SessionRecord> snapshot(std::int64_t now) const;
  SessionCacheStats stats() const;

private:
  // A session ID held in place: finding or indexing one allocates nothing, and an index
  // entry is one allocation (a cache line), not two.
  struct Key {
    explicit Key(std::span<const std::uint8_t> id) noexcept; // id.size() <= MAX_ID
    std::array<std::uint8_t, MAX_ID> bytes{};
    std::uint8_t size = 0;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const noexcept;
  };
  using Lru = std::list<SessionRecord>;
  using Index = std::unordered_map<Key, Lru::iterator, KeyHash>;
  void evictLocked();
  void eraseLocked(Index::iterator it);
  // The entry for id, else end().
  Index::iterator findLocked(std::span<const std::uint8_t> id);
  // The entry for id if it is live, else end(): a miss is counted, an expired entry removed.
  Index::iterator findLiveLocked(std::span<const std::uint8_t> id, std::int64_t now);

  const std::size_t max_entries_;
  const std::size_t max_bytes_;
  // Taken by the TLS workers and by the agent's real-time loop (imports, snapshots).
  mutable sys::PiMutex mutex_;
  Lru lru_; // front = most recently used
  Index index_;
  SessionCacheStats stats_;
};

} // namespace failover::tls
