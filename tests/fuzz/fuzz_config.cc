// Fuzz target: the configuration parser (failoverd.conf, as an operator or a configuration
// tool may write it). Whatever the text, loadConfig returns a configuration or throws
// ConfigError naming the problems; any other exception, or a crash, is a bug.
#include "daemon/config.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The parser reads a path: a memory file keeps the fuzzer off the disk.
  const int fd = ::memfd_create("failoverd.conf", MFD_CLOEXEC);
  if (fd < 0 || ::write(fd, data, size) != static_cast<ssize_t>(size)) {
    __builtin_trap();
  }
  try {
    (void)failover::daemon::loadConfig("/proc/self/fd/" + std::to_string(fd), {});
  } catch (const failover::daemon::ConfigError& error) {
    if (error.problems().empty()) {
      __builtin_trap(); // an error that names nothing
    }
  } catch (...) {
    __builtin_trap();
  }
  ::close(fd);
  return 0;
}
