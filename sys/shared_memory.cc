#include "sys/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <utility>

namespace failover::sys {

namespace {

Result<void*> mapShared(int fd, std::size_t size) {
  void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) {
    return std::unexpected(systemError("mmap(shared memory)"));
  }
  return data;
}

} // namespace

Result<SharedMemory> SharedMemory::create(const char* name, std::size_t size) {
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) {
    return std::unexpected(systemError("memfd_create"));
  }
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0) {
    return std::unexpected(systemError("ftruncate(memfd)"));
  }
  // The child may be hostile: shrinking the memory under the parent's mapping would make
  // the parent's next read of it a SIGBUS.
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
    return std::unexpected(systemError("fcntl(memfd, F_ADD_SEALS)"));
  }
  auto data = mapShared(fd.get(), size);
  if (!data) {
    return std::unexpected(data.error());
  }
  return SharedMemory(std::move(fd), *data, size);
}

Result<SharedMemory> SharedMemory::attach(UniqueFd fd, std::size_t size) {
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) {
    return std::unexpected(systemError("fstat(shared memory)"));
  }
  if (static_cast<std::size_t>(st.st_size) < size) {
    return fail(Errc::InvalidArgument, "the shared memory is " + std::to_string(st.st_size) + " bytes, " +
                                           std::to_string(size) + " needed (agent and TLS service of different builds?)");
  }
  auto data = mapShared(fd.get(), size);
  if (!data) {
    return std::unexpected(data.error());
  }
  return SharedMemory(std::move(fd), *data, size);
}

SharedMemory::SharedMemory(SharedMemory&& other) noexcept
    : fd_(std::move(other.fd_)), data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) {
      ::munmap(data_, size_);
    }
    fd_ = std::move(other.fd_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SharedMemory::~SharedMemory() {
  if (data_ != nullptr) {
    ::munmap(data_, size_);
  }
}

} // namespace failover::sys
