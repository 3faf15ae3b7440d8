#pragma once

#include "sys/error.h"
#include "sys/secret_buffer.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace failover::tls {

// Bytes that must never outlive their use: master secrets, ticket keys, the cluster key.
// Held in a sys::SecretBuffer, so wiped when freed or reassigned; never copied implicitly;
// never printed (there is deliberately no conversion to text).
class SecretBytes {
public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size) : bytes_(size) {}
  SecretBytes(std::span<const std::uint8_t> bytes) : bytes_(bytes.begin(), bytes.end()) {}
  explicit SecretBytes(sys::SecretBuffer bytes) noexcept : bytes_(std::move(bytes)) {}
  SecretBytes(SecretBytes&& other) noexcept = default;
  SecretBytes& operator=(SecretBytes&& other) noexcept = default;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  std::span<const std::uint8_t> view() const noexcept { return bytes_; }
  std::span<std::uint8_t> mutableView() noexcept { return bytes_; }
  std::size_t size() const noexcept { return bytes_.size(); }

private:
  sys::SecretBuffer bytes_;
};

// Reads a key file that must be a regular file, readable by its owner only (0600 or 0400),
// between min_size and max_size bytes. Errors name the file and the fix, never the contents.
sys::Result<SecretBytes> readSecretFile(const std::filesystem::path& path, std::size_t min_size,
                                        std::size_t max_size);

// Creates path (it must not exist) with mode 0600 holding size fresh random bytes from the
// OpenSSL CSPRNG: the cluster key that every node must then share.
sys::Status createRandomSecretFile(const std::filesystem::path& path, std::size_t size);

} // namespace failover::tls
