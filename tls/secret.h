#pragma once

#include "sys/error.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace failover::tls {

// Bytes that must never outlive their use: master secrets, ticket keys, the cluster key.
// Wiped with OPENSSL_cleanse (which the compiler may not elide) when freed or reassigned;
// never printed (there is deliberately no conversion to text).
class SecretBytes {
public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size) : bytes_(size) {}
  SecretBytes(std::span<const std::uint8_t> bytes) : bytes_(bytes.begin(), bytes.end()) {}
  SecretBytes(SecretBytes&& other) noexcept = default;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes() { wipe(); }

  std::span<const std::uint8_t> view() const noexcept { return bytes_; }
  std::span<std::uint8_t> mutableView() noexcept { return bytes_; }
  std::size_t size() const noexcept { return bytes_.size(); }

private:
  void wipe() noexcept;
  std::vector<std::uint8_t> bytes_;
};

// Reads a key file that must be a regular file, readable by its owner only (0600 or 0400),
// between min_size and max_size bytes. Errors name the file and the fix, never the contents.
sys::Result<SecretBytes> readSecretFile(const std::filesystem::path& path, std::size_t min_size,
                                        std::size_t max_size);

// Creates path (it must not exist) with mode 0600 holding size fresh random bytes from the
// OpenSSL CSPRNG: the cluster key that every node must then share.
sys::Status createRandomSecretFile(const std::filesystem::path& path, std::size_t size);

} // namespace failover::tls
