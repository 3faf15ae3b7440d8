#pragma once

#include "sys/error.h"
#include "sys/unique_fd.h"

#include <cstddef>

namespace failover::sys {

// A zero-filled memfd mapping shared with a child process: the parent creates it (sealed at
// its size), passes fd() to the child, and the child attaches to it. For plain lock-free
// atomics only (counters a child writes and the parent reads): never a pointer, never
// anything the reader trusts.
class SharedMemory {
public:
  static Result<SharedMemory> create(const char* name, std::size_t size);
  // Maps an inherited memfd; refuses one smaller than `size`.
  static Result<SharedMemory> attach(UniqueFd fd, std::size_t size);
  SharedMemory(SharedMemory&& other) noexcept;
  SharedMemory& operator=(SharedMemory&& other) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  ~SharedMemory();

  void* data() const noexcept { return data_; }
  int fd() const noexcept { return fd_.get(); }

private:
  SharedMemory(UniqueFd fd, void* data, std::size_t size) noexcept : fd_(std::move(fd)), data_(data), size_(size) {}
  UniqueFd fd_;
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

} // namespace failover::sys
