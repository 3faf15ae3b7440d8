#pragma once

#include "daemon/cluster/session_store.h"
#include "tls/session_confirmations.h"

#include <map>
#include <string>

namespace failover::fakes {

// A SessionStore in a map: what replication put in it and took out, and what it confirmed.
class MapSessionStore final : public daemon::cluster::SessionStore {
public:
  using Id = std::vector<std::uint8_t>;

  void sessionsConfirmed(std::uint64_t through) override {
    confirmed_through = std::max(confirmed_through, through);
    confirmations.confirm(through);
  }
  void sessionsAbandoned(std::uint64_t through) override {
    abandoned_through = std::max(abandoned_through, through);
    confirmations.abandon(through);
  }
  std::size_t entries() const override { return sessions.size(); }
  std::vector<tls::SessionRecord> snapshot(std::int64_t now_seconds) const override {
    std::vector<tls::SessionRecord> live;
    for (const auto& [id, record] : sessions) {
      if (record.expires_at > now_seconds) {
        live.push_back(record);
      }
    }
    return live;
  }
  bool importSession(const tls::SessionRecord& record, std::int64_t now_seconds) override {
    if (record.expires_at <= now_seconds) {
      return false;
    }
    sessions[record.id] = record;
    return true;
  }
  void removeSession(std::span<const std::uint8_t> id) override { sessions.erase(Id(id.begin(), id.end())); }
  tls::SecretBytes exportKeyring() const override { return tls::SecretBytes(std::span(keyring)); }
  sys::Status importKeyring(std::span<const std::uint8_t> keys) override {
    if (keys.empty()) {
      return std::unexpected(sys::Error{sys::Errc::InvalidArgument, "an empty keyring"});
    }
    keyring.assign(keys.begin(), keys.end());
    return {};
  }

  bool has(const Id& id) const { return sessions.contains(id); }
  bool has(std::uint32_t serial) const { return sessions.contains(idOf(serial)); }
  // The session ID of a test session (its serial, big-endian).
  static Id idOf(std::uint32_t serial) {
    return {static_cast<std::uint8_t>(serial >> 24), static_cast<std::uint8_t>(serial >> 16),
            static_cast<std::uint8_t>(serial >> 8), static_cast<std::uint8_t>(serial)};
  }
  // A record as the TLS workers would report it (the DER stands in for a real session).
  static tls::SessionRecord record(std::uint32_t serial, std::int64_t expires_at) {
    tls::SessionRecord record;
    record.id = idOf(serial);
    record.der.assign(48, static_cast<std::uint8_t>(serial));
    record.expires_at = expires_at;
    return record;
  }

  std::map<Id, tls::SessionRecord> sessions;
  std::vector<std::uint8_t> keyring{1, 2, 3, 4};
  std::uint64_t confirmed_through = 0;
  std::uint64_t abandoned_through = 0;
  // What a TLS worker holding a client's final flight would be told (the daemon's own rules).
  tls::SessionConfirmations confirmations;
};

} // namespace failover::fakes
