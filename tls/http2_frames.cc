#include "tls/http2_frames.h"

#include <algorithm>

namespace failover::tls {

namespace {

constexpr std::uint8_t FRAME_HEADERS = 0x1;
constexpr std::uint8_t FRAME_PUSH_PROMISE = 0x5;
constexpr std::uint8_t FRAME_GOAWAY = 0x7;
constexpr std::uint8_t FRAME_CONTINUATION = 0x9;
constexpr std::uint8_t FLAG_END_HEADERS = 0x4;

} // namespace

void Http2FrameCursor::follow(std::string_view bytes) {
  while (!bytes.empty()) {
    if (skip_ > 0) {
      const auto n = std::min(skip_, bytes.size());
      skip_ -= n;
      bytes.remove_prefix(n);
    } else if (payload_left_ > 0) {
      const auto n = std::min(payload_left_, bytes.size());
      payload_left_ -= n;
      bytes.remove_prefix(n);
    } else {
      const auto n = std::min(sizeof header_ - header_used_, bytes.size());
      std::copy_n(bytes.begin(), n, header_ + header_used_);
      header_used_ += n;
      bytes.remove_prefix(n);
      if (header_used_ < sizeof header_) {
        return;
      }
      header_used_ = 0;
      ++frames_;
      payload_left_ = (std::size_t{header_[0]} << 16) | (std::size_t{header_[1]} << 8) | header_[2];
      const std::uint8_t type = header_[3];
      const std::uint8_t flags = header_[4];
      const std::uint32_t stream = ((std::uint32_t{header_[5]} & 0x7f) << 24) | (std::uint32_t{header_[6]} << 16) |
                                   (std::uint32_t{header_[7]} << 8) | header_[8];
      if (type == FRAME_HEADERS) {
        highest_stream_ = std::max(highest_stream_, stream);
      }
      if (type == FRAME_HEADERS || type == FRAME_PUSH_PROMISE || type == FRAME_CONTINUATION) {
        in_header_block_ = (flags & FLAG_END_HEADERS) == 0;
      }
    }
  }
}

std::string http2GoAwayFrame(std::uint32_t last_stream) {
  last_stream &= 0x7fffffff;
  const char frame[17] = {0, 0, 8, static_cast<char>(FRAME_GOAWAY), 0, 0, 0, 0, 0,
                          static_cast<char>(last_stream >> 24), static_cast<char>(last_stream >> 16),
                          static_cast<char>(last_stream >> 8), static_cast<char>(last_stream),
                          0, 0, 0, 0}; // error code NO_ERROR
  return {frame, sizeof frame};
}

} // namespace failover::tls
