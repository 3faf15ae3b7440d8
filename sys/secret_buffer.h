#pragma once

#include <string.h> // explicit_bzero

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

namespace failover::sys {

// An allocator that wipes what it frees (explicit_bzero: the compiler may not elide it). A
// container using it wipes its old buffer when it grows and its buffer when it goes, so
// secrets in it are gone by the type, not by a hand-placed call that a new code path forgets.
template <class T> struct CleansingAllocator {
  using value_type = T;
  using propagate_on_container_move_assignment = std::true_type;
  using is_always_equal = std::true_type;

  CleansingAllocator() noexcept = default;
  template <class U> CleansingAllocator(const CleansingAllocator<U>&) noexcept {}

  T* allocate(std::size_t count) { return std::allocator<T>{}.allocate(count); }
  void deallocate(T* pointer, std::size_t count) noexcept {
    ::explicit_bzero(pointer, count * sizeof(T));
    std::allocator<T>{}.deallocate(pointer, count);
  }
  template <class U> friend bool operator==(const CleansingAllocator&, const CleansingAllocator<U>&) noexcept {
    return true;
  }
};

// Bytes that may hold a secret (a session's DER with its master secret, ticket keys, a
// decrypted replication message): wiped when freed or grown.
using SecretBuffer = std::vector<std::uint8_t, CleansingAllocator<std::uint8_t>>;

} // namespace failover::sys
