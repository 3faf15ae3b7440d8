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
  // Returns the session's number for SessionConfirmations (sync mode), or 0 if it will
  // never be confirmed (the cluster is out of reach).
  virtual std::uint64_t sessionCreated(const SessionRecord& record) noexcept = 0;
  virtual void sessionRemoved(std::span<const std::uint8_t> id) noexcept = 0;
  // Called by each worker once it has handled a round of ready events, before it waits
  // again: reports may be queued until then and sent together (one wake-up of the reader for
  // a round's sessions), never later, since a held handshake waits for its report's answer.
  virtual void flush() noexcept {}
};

} // namespace failover::tls
