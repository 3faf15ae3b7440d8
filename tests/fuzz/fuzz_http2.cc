// Fuzz target: the HTTP/2 glue (bytes from any client that chose h2) and the relay's frame
// cursor. The input, split at its first byte's offset, is fed in two pieces to a server with
// files, as the connection would; whatever nghttp2 accepts or refuses, the glue must not
// crash, its output must be whole frames, and the cursor must follow it to a boundary.
#include "tls/http2.h"
#include "tls/http2_frames.h"

#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

namespace {

std::shared_ptr<const failover::tls::StaticFiles> files() {
  static const auto loaded = [] {
    char pattern[] = "/tmp/failoverd-fuzz-h2-XXXXXX";
    const std::filesystem::path root = ::mkdtemp(pattern);
    std::ofstream(root / "index.html") << "<h1>fuzz</h1>";
    std::ofstream(root / "big.bin") << std::string(200'000, 'x');
    auto result = failover::tls::StaticFiles::load(root, 1 << 20);
    std::filesystem::remove_all(root);
    return result ? *result : nullptr;
  }();
  return loaded;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  // Most inputs start with the preface, so that the fuzzer spends its time on frames.
  std::string input(preface);
  input.append(reinterpret_cast<const char*>(data), size);
  const std::size_t split = size == 0 ? 0 : data[0] % input.size();
  failover::tls::TlsCounters counters;
  auto server = failover::tls::Http2Server::create(files().get(), 200, counters);
  if (!server) {
    return 0;
  }
  std::string out;
  failover::tls::Http2FrameCursor cursor;
  for (const auto piece : {std::string_view(input).substr(0, split), std::string_view(input).substr(split)}) {
    if (!(*server)->receive(piece)) {
      break;
    }
    for (int round = 0; round < 64 && (*server)->wantsWrite(); ++round) {
      out.clear();
      if (!(*server)->send(out, 256 * 1024)) {
        __builtin_trap();
      }
      cursor.follow(out);
      if (!out.empty() && !cursor.atBoundary()) {
        __builtin_trap(); // send() must give whole frames
      }
    }
  }
  (*server)->goAway();
  out.clear();
  (void)(*server)->send(out, 256 * 1024);
  return 0;
}
