// Fuzz target: the session record decoder (replication and import input from the network).
#include "tls/session_record.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto records = failover::tls::decodeSessionRecords(std::span(data, size));
  if (records) {
    // Whatever decodes must encode back to the same bytes.
    const auto again = failover::tls::encodeSessionRecords(*records);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) {
      __builtin_trap();
    }
  }
  return 0;
}
