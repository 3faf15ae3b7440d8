// Fuzz target: the TLS service channel's decoder (what the agent reads from the unprivileged,
// internet-facing TLS process, and what that process reads from the agent).
#include "tls/service_channel.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto message = failover::tls::channel::decode(std::span(data, size));
  if (message) {
    // Whatever decodes is exactly what encoding it gives back.
    const auto again = failover::tls::channel::encode(*message);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) {
      __builtin_trap();
    }
  }
  return 0;
}
