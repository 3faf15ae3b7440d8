#pragma once

#include "sys/error.h"
#include "sys/secret_buffer.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace failover::sys {

// Big-endian writer and bounds-checked reader for the project's binary formats. What it
// writes may hold secrets (sessions, ticket keys), so its buffer wipes itself.
class WireWriter {
public:
  void u8(std::uint8_t v) { bytes_.push_back(v); }
  void u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
      bytes_.push_back(static_cast<std::uint8_t>(v >> shift));
    }
  }
  void i64(std::int64_t v) {
    const auto u = static_cast<std::uint64_t>(v);
    for (int shift = 56; shift >= 0; shift -= 8) {
      bytes_.push_back(static_cast<std::uint8_t>(u >> shift));
    }
  }
  void bytes(std::span<const std::uint8_t> data) { bytes_.insert(bytes_.end(), data.begin(), data.end()); }
  void reserve(std::size_t size) { bytes_.reserve(size); }
  SecretBuffer& data() noexcept { return bytes_; }

private:
  SecretBuffer bytes_;
};

// Every read checks the remaining length; a short input becomes an error naming `what`.
class WireReader {
public:
  WireReader(std::span<const std::uint8_t> data, std::string what) : data_(data), what_(std::move(what)) {}
  sys::Result<std::uint8_t> u8();
  sys::Result<std::uint32_t> u32();
  sys::Result<std::int64_t> i64();
  sys::Result<std::span<const std::uint8_t>> bytes(std::size_t count);
  std::size_t consumed() const noexcept { return offset_; }
  std::size_t remaining() const noexcept { return data_.size() - offset_; }
  std::unexpected<sys::Error> malformed(const std::string& problem) const;

private:
  std::span<const std::uint8_t> data_;
  std::string what_;
  std::size_t offset_ = 0;
};

} // namespace failover::sys
