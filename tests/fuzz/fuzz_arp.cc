// Fuzz target: arpSenderOf, the parser of the ARP frames any host on the service LAN can send
// (the VIP guard's and the takeover's "does someone else answer for the VIP" check).
#include "netctl/frames.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace failover::netctl;
  static const auto vip = *parseIpAddress("198.18.1.10");
  static const auto own = *parseMacAddress("02:18:01:00:00:01");
  const std::span<const std::uint8_t> frame(data, size);
  if (const auto sender = arpSenderOf(frame, vip, own)) {
    // Only a whole Ethernet + ARP frame names a sender: the sender MAC at offset 22 and the
    // sender IP, the VIP, at 28; never our own MAC.
    constexpr std::uint8_t vip_bytes[] = {198, 18, 1, 10};
    if (size < 42 || sender->bytes == own.bytes || !std::equal(sender->bytes.begin(), sender->bytes.end(), data + 22) ||
        !std::equal(vip_bytes, vip_bytes + 4, data + 28)) {
      __builtin_trap();
    }
  }
  return 0;
}
