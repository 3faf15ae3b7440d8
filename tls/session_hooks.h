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
};

} // namespace failover::tls
