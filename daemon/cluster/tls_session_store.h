#pragma once

#include "daemon/cluster/session_store.h"
#include "tls/server.h"

namespace failover::daemon::cluster {

// The daemon's SessionStore: the TLS server's cache, keyring and confirmations.
class TlsSessionStore final : public SessionStore {
public:
  explicit TlsSessionStore(tls::TlsServer& server) : server_(server) {}

  void sessionsConfirmed(std::uint64_t through) override { server_.sessionsConfirmed(through); }
  void sessionsAbandoned(std::uint64_t through) override { server_.sessionsAbandoned(through); }
  std::size_t entries() const override { return server_.cache().stats().entries; }
  std::vector<tls::SessionRecord> snapshot(std::int64_t now_seconds) const override {
    return server_.cache().snapshot(now_seconds);
  }
  bool importSession(const tls::SessionRecord& record, std::int64_t now_seconds) override {
    return server_.context()->importSession(record, now_seconds).has_value();
  }
  void removeSession(std::span<const std::uint8_t> id) override { server_.cache().remove(id); }
  tls::SecretBytes exportKeyring() const override { return server_.keyring().exportKeys(); }
  sys::Status importKeyring(std::span<const std::uint8_t> keys) override { return server_.keyring().importKeys(keys); }

private:
  tls::TlsServer& server_;
};

} // namespace failover::daemon::cluster
