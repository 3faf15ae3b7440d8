#include "tls/session_cache.h"

#include <algorithm>
#include <string_view>

namespace failover::tls {

namespace {

std::size_t cost(const SessionRecord& record) { return record.der.size() + record.id.size(); }

} // namespace

SessionCache::Key::Key(std::span<const std::uint8_t> id) noexcept : size(static_cast<std::uint8_t>(id.size())) {
  std::copy(id.begin(), id.end(), bytes.begin());
}

// The bytes a session ID has, hashed whole: a client chooses the IDs it looks up, so the hash
// does not assume they are random.
std::size_t SessionCache::KeyHash::operator()(const Key& key) const noexcept {
  return std::hash<std::string_view>{}({reinterpret_cast<const char*>(key.bytes.data()), key.size});
}

bool SessionCache::insert(SessionRecord record, std::int64_t now) {
  if (record.id.empty() || record.id.size() > MAX_ID || record.der.empty() ||
      record.expires_at <= now || cost(record) > max_bytes_ || max_entries_ == 0) {
    return false;
  }
  const std::lock_guard lock(mutex_);
  stats_.bytes += cost(record);
  lru_.push_front(std::move(record));
  // One lookup, not a find then an insert: every handshake's session passes here, in the TLS
  // process and again in the agent's copy.
  if (auto [it, inserted] = index_.try_emplace(Key(lru_.front().id), lru_.begin()); inserted) {
    ++stats_.entries;
  } else { // the same ID again: the new record replaces the old one
    stats_.bytes -= cost(*it->second);
    lru_.erase(it->second);
    it->second = lru_.begin();
  }
  evictLocked();
  return true;
}

SessionCache::Index::iterator SessionCache::findLocked(std::span<const std::uint8_t> id) {
  // Longer than any stored ID (a client chooses what it looks up): not here.
  return id.size() > MAX_ID ? index_.end() : index_.find(Key(id));
}

SessionCache::Index::iterator SessionCache::findLiveLocked(std::span<const std::uint8_t> id, std::int64_t now) {
  const auto it = findLocked(id);
  if (it == index_.end()) {
    ++stats_.misses;
    return index_.end();
  }
  if (it->second->expires_at <= now) {
    eraseLocked(it);
    ++stats_.expired;
    ++stats_.misses;
    return index_.end();
  }
  ++stats_.hits;
  return it;
}

std::optional<sys::SecretBuffer> SessionCache::lookup(std::span<const std::uint8_t> id,
                                                              std::int64_t now) {
  const std::lock_guard lock(mutex_);
  const auto it = findLiveLocked(id, now);
  if (it == index_.end()) {
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->der;
}

std::optional<sys::SecretBuffer> SessionCache::take(std::span<const std::uint8_t> id,
                                                            std::int64_t now) {
  const std::lock_guard lock(mutex_);
  const auto it = findLiveLocked(id, now);
  if (it == index_.end()) {
    return std::nullopt;
  }
  auto der = it->second->der;
  eraseLocked(it);
  return der;
}

bool SessionCache::remove(std::span<const std::uint8_t> id) {
  const std::lock_guard lock(mutex_);
  const auto it = findLocked(id);
  if (it == index_.end()) {
    return false;
  }
  eraseLocked(it);
  return true;
}

std::vector<SessionRecord> SessionCache::snapshot(std::int64_t now) const {
  const std::lock_guard lock(mutex_);
  std::vector<SessionRecord> records;
  records.reserve(lru_.size());
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
    if (it->expires_at > now) {
      records.push_back(*it);
    }
  }
  return records;
}

SessionCacheStats SessionCache::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

void SessionCache::evictLocked() {
  while (!lru_.empty() && (stats_.entries > max_entries_ || stats_.bytes > max_bytes_)) {
    eraseLocked(index_.find(Key(lru_.back().id)));
    ++stats_.evictions;
  }
}

void SessionCache::eraseLocked(Index::iterator it) {
  stats_.bytes -= cost(*it->second);
  --stats_.entries;
  lru_.erase(it->second);
  index_.erase(it);
}

} // namespace failover::tls
