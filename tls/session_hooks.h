#pragma once

#include "tls/session_cache.h"

#include <cstdint>
#include <span>

namespace failover::tls {

// What the daemon learns about sessions, so that it can replicate them. Called on TLS worker
// threads, from inside OpenSSL callbacks: implementations must be thread-safe, fast, and
// must not throw.
class SessionHooks {
public:
  virtual ~SessionHooks() = default;
  // The sessions one step of one handshake created, in creation order (a TLS 1.3 handshake's
  // tickets come together, so they travel together). Returns the highest number given to them
  // for SessionConfirmations (sync mode), or 0 if they will never be confirmed (the cluster
  // is out of reach).
  virtual std::uint64_t sessionsCreated(std::span<const SessionRecord> records) noexcept = 0;
  virtual void sessionRemoved(std::span<const std::uint8_t> id) noexcept = 0;
};

} // namespace failover::tls
