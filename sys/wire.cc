#include "sys/wire.h"

namespace failover::sys {

std::unexpected<sys::Error> WireReader::malformed(const std::string& problem) const {
  return sys::fail(sys::Errc::Protocol,
                   what_ + ": " + problem + " (at byte " + std::to_string(offset_) + " of " +
                       std::to_string(data_.size()) + ")");
}

sys::Result<std::span<const std::uint8_t>> WireReader::bytes(std::size_t count) {
  if (count > remaining()) {
    return malformed("truncated: " + std::to_string(count) + " bytes needed, " +
                     std::to_string(remaining()) + " left");
  }
  auto view = data_.subspan(offset_, count);
  offset_ += count;
  return view;
}

sys::Result<std::uint8_t> WireReader::u8() {
  auto b = bytes(1);
  if (!b) {
    return std::unexpected(b.error());
  }
  return (*b)[0];
}

sys::Result<std::uint32_t> WireReader::u32() {
  auto b = bytes(4);
  if (!b) {
    return std::unexpected(b.error());
  }
  std::uint32_t v = 0;
  for (auto byte : *b) {
    v = v << 8 | byte;
  }
  return v;
}

sys::Result<std::int64_t> WireReader::i64() {
  auto b = bytes(8);
  if (!b) {
    return std::unexpected(b.error());
  }
  std::uint64_t v = 0;
  for (auto byte : *b) {
    v = v << 8 | byte;
  }
  return static_cast<std::int64_t>(v);
}

} // namespace failover::sys
