#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace failover::tls {

// Follows the frame boundaries of one direction of an HTTP/2 connection that the relay
// carries as bytes (RFC 9113 section 4.1: a 9-byte header whose first 3 bytes give the payload
// length), so that the relay can put a frame of its own between two of the backend's, and
// knows the highest stream the client opened. It reads only frame headers: what is inside a
// frame is the endpoints' business, and a frame that breaks the protocol is theirs to refuse.
class Http2FrameCursor {
public:
  // The client's direction starts with the 24-byte connection preface, which is not a frame.
  static constexpr std::size_t CLIENT_PREFACE = 24;

  explicit Http2FrameCursor(std::size_t preface = 0) : skip_(preface) {}

  void follow(std::string_view bytes);
  // After a whole frame, and not between the frames of one header block (HEADERS or
  // PUSH_PROMISE and their CONTINUATIONs, which nothing may split). Never before the first
  // frame: a server's connection preface is its SETTINGS, which nothing may precede.
  bool atBoundary() const noexcept {
    return frames_ > 0 && header_used_ == 0 && payload_left_ == 0 && !in_header_block_;
  }
  // The highest stream ID a HEADERS frame opened (0: none yet).
  std::uint32_t highestStream() const noexcept { return highest_stream_; }

private:
  std::size_t skip_;
  unsigned char header_[9] = {};
  std::size_t header_used_ = 0;
  std::size_t payload_left_ = 0;
  bool in_header_block_ = false;
  std::uint64_t frames_ = 0; // frames whose header was read
  std::uint32_t highest_stream_ = 0;
};

// A GOAWAY frame with NO_ERROR: the sender takes no stream above last_stream.
std::string http2GoAwayFrame(std::uint32_t last_stream);

} // namespace failover::tls
