// Fuzz target: the HTTP request parser (bytes from any client on the VIP).
#include "tls/http.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parsed = failover::tls::parseHttpRequest(input);
  if (parsed.status == failover::tls::HttpParse::Status::Complete &&
      (parsed.consumed > size || parsed.request.target.empty())) {
    __builtin_trap();
  }
  return 0;
}
