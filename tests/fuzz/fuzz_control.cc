// Fuzz target: the control request decoder (bytes from any process allowed on the socket).
#include "daemon/control/protocol.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  if (auto request = failover::daemon::parseControlRequest(line)) {
    // A request that decodes formats back to a line that decodes to the same request.
    auto formatted = failover::daemon::formatControlRequest(*request);
    formatted.pop_back(); // the newline, which the request server strips before decoding
    const auto again = failover::daemon::parseControlRequest(formatted);
    if (!again || again->command != request->command || again->arguments != request->arguments) {
      __builtin_trap();
    }
  }
  return 0;
}
