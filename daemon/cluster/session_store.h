#pragma once

#include "sys/error.h"
#include "tls/secret.h"
#include "tls/session_record.h"

#include <cstdint>
#include <span>
#include <vector>

namespace failover::daemon::cluster {

// The TLS side as replication sees it: the session cache, the ticket keyring and the sync-mode
// confirmations. The daemon's is TlsSessionStore (the TLS server); the unit tests and the
// cluster simulator keep sessions in a map.
class SessionStore {
public:
  virtual ~SessionStore() = default;
  // Sync mode: sessions numbered up to `through` reached the group (confirmed) or never will.
  virtual void sessionsConfirmed(std::uint64_t through) = 0;
  virtual void sessionsAbandoned(std::uint64_t through) = 0;
  virtual std::size_t entries() const = 0;
  // Every live session, for a snapshot.
  virtual std::vector<tls::SessionRecord> snapshot(std::int64_t now_seconds) const = 0;
  // A session another member created; false when it cannot be used (expired, malformed).
  virtual bool importSession(const tls::SessionRecord& record, std::int64_t now_seconds) = 0;
  virtual void removeSession(std::span<const std::uint8_t> id) = 0;
  virtual tls::SecretBytes exportKeyring() const = 0;
  virtual sys::Status importKeyring(std::span<const std::uint8_t> keys) = 0;
};

} // namespace failover::daemon::cluster
