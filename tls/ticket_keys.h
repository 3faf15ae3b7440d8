#pragma once

#include "tls/secret.h"
#include "sys/error.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <span>
#include <vector>

namespace failover::tls {

// One session-ticket key (the layout RFC 5077 section 4 recommends): a 16-byte name that
// travels in every ticket, an AES-256 key and an HMAC-SHA256 key.
struct TicketKey {
  std::array<std::uint8_t, 16> name{};
  SecretBytes aes;
  SecretBytes hmac;
  std::int64_t created = 0;
  std::int64_t retired_at = 0; // when it stopped encrypting (0: it has not)
};

enum class KeyRole : std::uint8_t { Current = 0, Next = 1, Previous = 2 };

// The keys every node shares. One current key encrypts new tickets; the next key is known
// (and replicated) a whole rotation before it is used; previous keys still decrypt until the
// longest ticket they could have issued has expired, and tickets under them are renewed.
// Thread-safe: the ticket callback reads it from every TLS worker.
class TicketKeyring {
public:
  static constexpr std::size_t AES_KEY = 32;
  static constexpr std::size_t HMAC_KEY = 32;
  static constexpr std::size_t MAX_KEYS = 64;

  TicketKeyring(std::chrono::seconds rotation, std::chrono::seconds ticket_lifetime)
      : rotation_(rotation), lifetime_(ticket_lifetime) {}

  // Creates the current and next keys from the CSPRNG (a node's first start, or a cluster's).
  sys::Status generate(std::int64_t now);
  // Next becomes current, current becomes previous, a fresh next is made, expired previous
  // keys are dropped.
  sys::Status rotate(std::int64_t now);
  // Rotates if the current key is older than the rotation interval; returns whether it did.
  sys::Result<bool> rotateIfDue(std::int64_t now);
  void dropExpired(std::int64_t now);

  // Calls use(key) with the encrypting key under a shared lock; false if there is none.
  template <class F> bool withCurrent(F&& use) const {
    const std::shared_lock lock(mutex_);
    if (!current_) {
      return false;
    }
    use(*current_);
    return true;
  }
  // Calls use(key, is_current) with the key of that name; false if unknown.
  template <class F> bool withKey(std::span<const std::uint8_t> name, F&& use) const {
    const std::shared_lock lock(mutex_);
    if (const TicketKey* key = findLocked(name)) {
      use(*key, key == &*current_);
      return true;
    }
    return false;
  }

  // The wire format (version 1): u8 version | u8 count | per key: u8 role | 16 name |
  // i64 created | i64 retired_at | 32 AES | 32 HMAC. It holds secrets: wiped when freed.
  SecretBytes exportKeys() const;
  // Replaces the whole ring with an exported one, or leaves it untouched on any error.
  sys::Status importKeys(std::span<const std::uint8_t> data);

  std::size_t size() const;
  // Changes on every rotation and import: the daemon replicates when it moves.
  std::uint64_t generation() const;
  std::optional<std::array<std::uint8_t, 16>> currentName() const;
  // When the encrypting key was made (Unix time): how overdue a rotation is.
  std::optional<std::int64_t> currentCreated() const;

private:
  const TicketKey* findLocked(std::span<const std::uint8_t> name) const;
  static sys::Result<TicketKey> makeKey(std::int64_t now);

  const std::chrono::seconds rotation_;
  const std::chrono::seconds lifetime_;
  mutable std::shared_mutex mutex_;
  std::optional<TicketKey> current_;
  std::optional<TicketKey> next_;
  std::vector<TicketKey> previous_; // newest first
  std::uint64_t generation_ = 0;
};

} // namespace failover::tls
