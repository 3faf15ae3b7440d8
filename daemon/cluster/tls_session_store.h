#pragma once

#include "daemon/cluster/session_store.h"
#include "daemon/tls_service.h"
#include "tls/server.h"

namespace failover::daemon::cluster {

// The daemon's SessionStore: the agent's copy of the cache and keyring (the mirror), kept in
// step with the TLS service process it feeds. The agent never parses a session's DER (that is
// OpenSSL's ASN.1 decoder, fed by whatever another node's TLS process reported): the
// unprivileged TLS process checks each session it imports, and counts what it refuses.
class TlsSessionStore final : public SessionStore {
public:
  TlsSessionStore(tls::TlsServer& mirror, TlsService& service) : mirror_(mirror), service_(service) {}

  void sessionsConfirmed(std::uint64_t through) override { service_.sessionsConfirmed(through); }
  void sessionsAbandoned(std::uint64_t through) override { service_.sessionsAbandoned(through); }
  std::size_t entries() const override { return mirror_.cache().stats().entries; }
  std::vector<tls::SessionRecord> snapshot(std::int64_t now_seconds) const override {
    return mirror_.cache().snapshot(now_seconds);
  }
  bool importSession(const tls::SessionRecord& record, std::int64_t now_seconds) override {
    if (!mirror_.cache().insert(record, now_seconds)) {
      return false; // expired, or an ID of the wrong size
    }
    service_.importSession(record);
    return true;
  }
  void removeSession(std::span<const std::uint8_t> id) override {
    mirror_.cache().remove(id);
    service_.removeSession(id);
  }
  tls::SecretBytes exportKeyring() const override { return mirror_.keyring().exportKeys(); }
  sys::Status importKeyring(std::span<const std::uint8_t> keys) override {
    auto imported = mirror_.keyring().importKeys(keys);
    if (imported) {
      service_.syncKeyring();
    }
    return imported;
  }

private:
  tls::TlsServer& mirror_;
  TlsService& service_;
};

} // namespace failover::daemon::cluster
