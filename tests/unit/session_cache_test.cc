#include "tls/session_cache.h"
#include "tls/session_record.h"

#include <doctest/doctest.h>

using namespace failover::tls;

namespace {
SessionRecord record(std::uint8_t id, std::size_t der_size, std::int64_t expires_at) {
  return SessionRecord{std::vector<std::uint8_t>(32, id), failover::sys::SecretBuffer(der_size, 0xd0),
                       expires_at};
}
std::vector<std::uint8_t> idOf(std::uint8_t id) { return std::vector<std::uint8_t>(32, id); }
} // namespace

TEST_CASE("the cache stores, finds and removes sessions by ID") {
  SessionCache cache(10, 100000);
  REQUIRE(cache.insert(record(1, 200, 1000), 0));
  const auto found = cache.lookup(idOf(1), 10);
  REQUIRE(found);
  CHECK(found->size() == 200);
  CHECK_FALSE(cache.lookup(idOf(2), 10));
  CHECK(cache.remove(idOf(1)));
  CHECK_FALSE(cache.remove(idOf(1)));
  CHECK_FALSE(cache.lookup(idOf(1), 10));
  const auto stats = cache.stats();
  CHECK(stats.hits == 1);
  CHECK(stats.misses == 2);
  CHECK(stats.entries == 0);
  CHECK(stats.bytes == 0);
}

TEST_CASE("expired sessions are not resumed") {
  SessionCache cache(10, 100000);
  CHECK_FALSE(cache.insert(record(1, 200, 50), 50)); // already expired
  REQUIRE(cache.insert(record(2, 200, 100), 0));
  CHECK(cache.lookup(idOf(2), 99));
  CHECK_FALSE(cache.lookup(idOf(2), 100));
  CHECK(cache.stats().expired == 1);
  CHECK(cache.stats().entries == 0);
}

TEST_CASE("the cache is bounded in entries: the least recently used is evicted") {
  SessionCache cache(3, 100000);
  for (std::uint8_t id = 1; id <= 3; ++id) {
    REQUIRE(cache.insert(record(id, 100, 1000), 0));
  }
  CHECK(cache.lookup(idOf(1), 1)); // 1 is now the most recently used; 2 is the oldest
  REQUIRE(cache.insert(record(4, 100, 1000), 0));
  CHECK_FALSE(cache.lookup(idOf(2), 1));
  CHECK(cache.lookup(idOf(1), 1));
  CHECK(cache.lookup(idOf(3), 1));
  CHECK(cache.lookup(idOf(4), 1));
  CHECK(cache.stats().evictions == 1);
}

TEST_CASE("the cache is bounded in bytes") {
  SessionCache cache(100, 1000);
  for (std::uint8_t id = 1; id <= 5; ++id) {
    REQUIRE(cache.insert(record(id, 268, 1000), 0)); // 300 bytes each with the ID
  }
  const auto stats = cache.stats();
  CHECK(stats.entries == 3);
  CHECK(stats.bytes == 900);
  CHECK_FALSE(cache.lookup(idOf(1), 1));
  CHECK(cache.lookup(idOf(5), 1));
  CHECK_FALSE(cache.insert(record(9, 2000, 1000), 0)); // larger than the whole cache
}

TEST_CASE("replacing a session keeps the accounting right, serves the new record and refreshes its age") {
  SessionCache cache(2, 100000);
  REQUIRE(cache.insert(record(1, 100, 1000), 0));
  REQUIRE(cache.insert(record(2, 100, 1000), 0));
  REQUIRE(cache.insert(record(1, 300, 1000), 0));
  CHECK(cache.stats().entries == 2);
  CHECK(cache.stats().bytes == 332 + 132);
  // The replaced session is the newest: a third one evicts session 2, not it.
  REQUIRE(cache.insert(record(3, 100, 1000), 0));
  CHECK(cache.stats().evictions == 1);
  CHECK_FALSE(cache.lookup(idOf(2), 10));
  const auto found = cache.lookup(idOf(1), 10);
  REQUIRE(found);
  CHECK(found->size() == 300);
  CHECK(cache.stats().entries == 2);
  CHECK(cache.stats().bytes == 332 + 132);
}

TEST_CASE("a snapshot holds the live sessions, oldest first") {
  SessionCache cache(10, 100000);
  REQUIRE(cache.insert(record(1, 10, 1000), 0));
  REQUIRE(cache.insert(record(2, 10, 50), 0));
  REQUIRE(cache.insert(record(3, 10, 1000), 0));
  const auto live = cache.snapshot(60);
  REQUIRE(live.size() == 2);
  CHECK(live[0].id == idOf(1));
  CHECK(live[1].id == idOf(3));
}

TEST_CASE("session records round-trip through the wire format") {
  const auto original = record(7, 150, 1234567890123);
  const auto encoded = encodeSessionRecords({original});
  CHECK(encoded.size() == 1 + 1 + 32 + 8 + 4 + 150);
  const auto decoded = decodeSessionRecord(encoded);
  REQUIRE(decoded);
  CHECK(decoded->record == original);
  CHECK(decoded->consumed == encoded.size());

  const auto many = encodeSessionRecords({record(1, 10, 5), record(2, 20, 6)});
  const auto all = decodeSessionRecords(many);
  REQUIRE(all);
  CHECK(all->size() == 2);
  CHECK((*all)[1].der.size() == 20);
}

TEST_CASE("every truncation and corruption of a record is rejected with a reason") {
  const auto encoded = encodeSessionRecords({record(7, 40, 99)});
  for (std::size_t length = 0; length < encoded.size(); ++length) {
    CAPTURE(length);
    const auto decoded = decodeSessionRecord(std::span(encoded.data(), length));
    REQUIRE_FALSE(decoded);
    CHECK(decoded.error().message.find("session record") != std::string::npos);
  }
  auto wrong_version = encoded;
  wrong_version[0] = 2;
  CHECK(decodeSessionRecord(wrong_version).error().message.find("version 2") != std::string::npos);
  auto long_id = encoded;
  long_id[1] = 33;
  CHECK(decodeSessionRecord(long_id).error().message.find("ID length 33") != std::string::npos);
  auto huge_der = encoded;
  huge_der[42] = 0x7f; // der_len's top byte
  CHECK(decodeSessionRecord(huge_der).error().message.find("DER length") != std::string::npos);
  auto trailing = encodeSessionRecords({record(1, 10, 5)});
  trailing.push_back(1);
  CHECK(decodeSessionRecords(trailing).error().message.find("record 2") != std::string::npos);
}

TEST_CASE("a session taken for 0-RTT can be used once only") {
  SessionCache cache(10, 100000);
  REQUIRE(cache.insert(record(1, 100, 1000), 0));
  REQUIRE(cache.insert(record(2, 100, 50), 0));
  const auto taken = cache.take(idOf(1), 10);
  REQUIRE(taken);
  CHECK(taken->size() == 100);
  CHECK_FALSE(cache.take(idOf(1), 10));
  CHECK_FALSE(cache.lookup(idOf(1), 10));
  CHECK_FALSE(cache.take(idOf(2), 60)); // expired: gone, and not returned
  const auto stats = cache.stats();
  CHECK(stats.entries == 0);
  CHECK(stats.bytes == 0);
  CHECK(stats.expired == 1);
}

TEST_CASE("IDs are told apart by their length too, and one longer than any stored ID is a miss") {
  SessionCache cache(10, 100000);
  // A shorter ID is a prefix of the longer, zero-filled where the key holds it in place.
  REQUIRE(cache.insert(SessionRecord{{0x00}, failover::sys::SecretBuffer(10, 1), 1000}, 0));
  REQUIRE(cache.insert(SessionRecord{{0x00, 0x00}, failover::sys::SecretBuffer(20, 2), 1000}, 0));
  CHECK(cache.stats().entries == 2);
  const std::vector<std::uint8_t> shorter{0x00}, longer{0x00, 0x00}, three{0x00, 0x00, 0x00};
  REQUIRE(cache.lookup(shorter, 1));
  CHECK(cache.lookup(shorter, 1)->size() == 10);
  CHECK(cache.lookup(longer, 1)->size() == 20);
  CHECK_FALSE(cache.lookup(three, 1));
  const std::vector<std::uint8_t> too_long(SessionCache::MAX_ID + 1, 0x00);
  CHECK_FALSE(cache.lookup(too_long, 1));
  CHECK_FALSE(cache.take(too_long, 1));
  CHECK_FALSE(cache.remove(too_long));
  CHECK_FALSE(cache.insert(SessionRecord{too_long, failover::sys::SecretBuffer(10, 1), 1000}, 0));
  CHECK(cache.stats().entries == 2);
}
