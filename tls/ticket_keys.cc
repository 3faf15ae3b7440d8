#include "tls/ticket_keys.h"

#include "sys/wire.h"

#include <openssl/rand.h>

#include <algorithm>
#include <mutex>

namespace failover::tls {

using sys::Errc;

sys::Result<TicketKey> TicketKeyring::makeKey(std::int64_t now) {
  TicketKey key;
  key.aes = SecretBytes(AES_KEY);
  key.hmac = SecretBytes(HMAC_KEY);
  key.created = now;
  if (RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) != 1 ||
      RAND_bytes(key.aes.mutableView().data(), AES_KEY) != 1 ||
      RAND_bytes(key.hmac.mutableView().data(), HMAC_KEY) != 1) {
    return sys::fail(Errc::Crypto, "the OpenSSL random generator failed to make a ticket key");
  }
  return key;
}

sys::Status TicketKeyring::generate(std::int64_t now) {
  auto current = makeKey(now);
  auto next = makeKey(now);
  if (!current || !next) {
    return std::unexpected(!current ? current.error() : next.error());
  }
  const std::unique_lock lock(mutex_);
  current_ = std::move(*current);
  next_ = std::move(*next);
  previous_.clear();
  ++generation_;
  return {};
}

sys::Status TicketKeyring::rotate(std::int64_t now) {
  auto fresh = makeKey(now);
  if (!fresh) {
    return std::unexpected(fresh.error());
  }
  {
    const std::unique_lock lock(mutex_);
    if (!current_ || !next_) {
      return sys::fail(Errc::InvalidArgument, "the ticket keyring is empty: generate it first");
    }
    current_->retired_at = now;
    previous_.insert(previous_.begin(), std::move(*current_));
    current_ = std::move(*next_);
    current_->created = now;
    next_ = std::move(*fresh);
    ++generation_;
  }
  dropExpired(now);
  return {};
}

sys::Result<bool> TicketKeyring::rotateIfDue(std::int64_t now) {
  {
    const std::shared_lock lock(mutex_);
    if (!current_ || current_->created + rotation_.count() > now) {
      return false;
    }
  }
  if (auto rotated = rotate(now); !rotated) {
    return std::unexpected(rotated.error());
  }
  return true;
}

void TicketKeyring::dropExpired(std::int64_t now) {
  const std::unique_lock lock(mutex_);
  // A previous key decrypts the tickets it issued until they expire: retired + lifetime.
  const auto before = previous_.size();
  std::erase_if(previous_, [&](const TicketKey& key) {
    return key.retired_at + lifetime_.count() <= now;
  });
  if (previous_.size() != before) {
    ++generation_;
  }
}

const TicketKey* TicketKeyring::findLocked(std::span<const std::uint8_t> name) const {
  const auto matches = [&](const TicketKey& key) {
    return name.size() == key.name.size() && std::equal(name.begin(), name.end(), key.name.begin());
  };
  if (current_ && matches(*current_)) {
    return &*current_;
  }
  if (next_ && matches(*next_)) {
    // Another node may already have rotated: its current key is our next one.
    return &*next_;
  }
  for (const auto& key : previous_) {
    if (matches(key)) {
      return &key;
    }
  }
  return nullptr;
}

SecretBytes TicketKeyring::exportKeys() const {
  const std::shared_lock lock(mutex_);
  sys::WireWriter out;
  const std::size_t count = (current_ ? 1U : 0U) + (next_ ? 1U : 0U) + previous_.size();
  out.u8(1);
  out.u8(static_cast<std::uint8_t>(count));
  const auto write = [&out](const TicketKey& key, KeyRole role) {
    out.u8(static_cast<std::uint8_t>(role));
    out.bytes(key.name);
    out.i64(key.created);
    out.i64(key.retired_at);
    out.bytes(key.aes.view());
    out.bytes(key.hmac.view());
  };
  if (current_) {
    write(*current_, KeyRole::Current);
  }
  if (next_) {
    write(*next_, KeyRole::Next);
  }
  for (const auto& key : previous_) {
    write(key, KeyRole::Previous);
  }
  return SecretBytes(std::move(out.data()));
}

sys::Status TicketKeyring::importKeys(std::span<const std::uint8_t> data) {
  sys::WireReader in(data, "ticket keyring");
  auto version = in.u8();
  if (!version) {
    return std::unexpected(version.error());
  }
  if (*version != 1) {
    return in.malformed("version " + std::to_string(*version) + " is not supported (expected 1)");
  }
  auto count = in.u8();
  if (!count) {
    return std::unexpected(count.error());
  }
  if (*count == 0 || *count > MAX_KEYS) {
    return in.malformed("key count " + std::to_string(*count) + " is not 1-64");
  }
  std::optional<TicketKey> current, next;
  std::vector<TicketKey> previous;
  for (unsigned i = 0; i < *count; ++i) {
    auto role = in.u8();
    auto name = role ? in.bytes(16) : std::unexpected(role.error());
    auto created = name ? in.i64() : std::unexpected(name.error());
    auto retired = created ? in.i64() : std::unexpected(created.error());
    auto aes = retired ? in.bytes(AES_KEY) : std::unexpected(retired.error());
    auto hmac = aes ? in.bytes(HMAC_KEY) : std::unexpected(aes.error());
    if (!hmac) {
      return std::unexpected(hmac.error());
    }
    TicketKey key;
    std::copy(name->begin(), name->end(), key.name.begin());
    key.created = *created;
    key.retired_at = *retired;
    key.aes = SecretBytes(*aes);
    key.hmac = SecretBytes(*hmac);
    switch (static_cast<KeyRole>(*role)) {
    case KeyRole::Current:
      if (current) {
        return in.malformed("two current keys");
      }
      current = std::move(key);
      break;
    case KeyRole::Next:
      if (next) {
        return in.malformed("two next keys");
      }
      next = std::move(key);
      break;
    case KeyRole::Previous:
      previous.push_back(std::move(key));
      break;
    default:
      return in.malformed("unknown key role " + std::to_string(*role));
    }
  }
  if (in.remaining() != 0) {
    return in.malformed(std::to_string(in.remaining()) + " unexpected trailing bytes");
  }
  if (!current) {
    return in.malformed("no current key");
  }
  const std::unique_lock lock(mutex_);
  current_ = std::move(current);
  next_ = std::move(next);
  previous_ = std::move(previous);
  ++generation_;
  return {};
}

std::size_t TicketKeyring::size() const {
  const std::shared_lock lock(mutex_);
  return (current_ ? 1U : 0U) + (next_ ? 1U : 0U) + previous_.size();
}

std::uint64_t TicketKeyring::generation() const {
  const std::shared_lock lock(mutex_);
  return generation_;
}

std::optional<std::array<std::uint8_t, 16>> TicketKeyring::currentName() const {
  const std::shared_lock lock(mutex_);
  if (!current_) {
    return std::nullopt;
  }
  return current_->name;
}

std::optional<std::int64_t> TicketKeyring::currentCreated() const {
  const std::shared_lock lock(mutex_);
  if (!current_) {
    return std::nullopt;
  }
  return current_->created;
}

} // namespace failover::tls
