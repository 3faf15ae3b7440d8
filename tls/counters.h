#pragma once

#include <atomic>
#include <cstdint>

namespace failover::tls {

// Handshake and service counters, shared by all workers (relaxed atomics: each is an
// independent count; a reader may see them a moment apart).
struct TlsCounters {
  using Counter = std::atomic<std::uint64_t>;
  Counter full_tls12{0};
  Counter full_tls13{0};
  Counter resumed_tls12_session_id{0};
  Counter resumed_tls12_ticket{0};
  Counter resumed_tls13_stateful{0}; // PSK from a stateful ticket (the server-side cache)
  Counter resumed_tls13_ticket{0};   // PSK from a stateless ticket
  Counter ticket_decrypt_failures{0}; // a ticket under a key no longer (or never) known
  Counter ticket_renewals{0};         // a ticket under an older key, reissued under the current
  Counter sessions_imported{0};
  Counter sessions_rejected{0};       // an import whose record or DER was invalid
  // Sessions the TLS service process could not report to the agent (its channel was full:
  // the agent was not reading). They stay on this node only.
  Counter sessions_unreported{0};
  Counter handshake_failures{0};
  Counter connections_accepted{0};
  Counter connections_closed{0};
  Counter connections_http2{0};       // handshakes that chose h2 in ALPN
  Counter connections_http11{0};      // the others (http/1.1, or no ALPN)
  Counter http_requests{0};
  Counter http_errors{0};             // 4xx and 5xx answers; HTTP/2 connections that broke the protocol
  Counter backend_connect_failures{0};
  Counter bytes_relayed{0};
  Counter unknown_server_names{0};
  // Sync mode: handshakes whose final flight waited for their session's confirmation, how
  // many were confirmed in time, how many completed (or, if so configured, were closed)
  // without it, and the time spent waiting.
  Counter sync_held{0};
  Counter sync_confirmed{0};
  Counter sync_unprotected{0};
  Counter sync_closed{0};
  Counter sync_wait_us{0};
  // A gauge, not a count: the connections the workers hold now.
  Counter open_connections{0};

  static void add(Counter& counter, std::uint64_t n = 1) noexcept {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
};

} // namespace failover::tls
