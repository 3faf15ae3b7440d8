// Fuzz target: the replication message decoder. The first byte picks what is fuzzed: 0 the
// whole decoder (framing and authentication under a fixed key) and the clear-header reader
// that must agree with it, 1-9 one payload type after authentication (what a sender holding
// the key could send: replication's six, and the majority lease's three).
#include "daemon/cluster/message.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace failover::daemon::cluster;
  if (size == 0) {
    return 0;
  }
  static const std::vector<std::uint8_t> key(32, 0x5a);
  static const Sealer sealer = Sealer::create(key).value();
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  if (data[0] == 0) {
    const auto decoded = decodeMessage(rest, sealer);
    const auto peeked = peekHeader(rest);
    // Whatever decodes has a readable header, and it is the one the decoder authenticated.
    if (decoded && (!peeked || peeked->sequence != decoded->header.sequence ||
                    peeked->incarnation != decoded->header.incarnation)) {
      __builtin_trap();
    }
  } else if (auto payload = decodePayload(static_cast<MessageType>(data[0] % 10), rest)) {
    // What decodes must encode and decode again to the same type.
    const auto wire = encodeMessage(Message{Header{}, std::move(*payload)}, sealer);
    if (!decodeMessage(wire, sealer)) {
      __builtin_trap();
    }
  }
  return 0;
}
