#include "sys/wakeup.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace failover::sys {

Result<Wakeup> Wakeup::create() {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) {
    return std::unexpected(systemError("eventfd"));
  }
  return Wakeup(std::move(fd));
}

void Wakeup::notify() const noexcept {
  const std::uint64_t one = 1;
  (void)!::write(fd_.get(), &one, sizeof one);
}

void Wakeup::acknowledge() const noexcept {
  std::uint64_t count = 0;
  (void)!::read(fd_.get(), &count, sizeof count);
}

} // namespace failover::sys
