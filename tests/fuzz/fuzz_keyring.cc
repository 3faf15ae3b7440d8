// Fuzz target: the ticket keyring import (replicated from another node).
#include "tls/ticket_keys.h"

#include <chrono>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace std::chrono_literals;
  failover::tls::TicketKeyring ring(3600s, 300s);
  if (ring.importKeys(std::span(data, size))) {
    // An imported ring exports and re-imports; its current key is usable.
    const auto exported = ring.exportKeys();
    failover::tls::TicketKeyring again(3600s, 300s);
    if (!again.importKeys(exported.view()) || again.currentName() != ring.currentName()) {
      __builtin_trap();
    }
  }
  return 0;
}
