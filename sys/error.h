#pragma once

#include <cerrno>
#include <expected>
#include <stdexcept>
#include <string>
#include <string_view>

namespace failover::sys {

// The kinds of failure the event loop distinguishes. The message carries the detail (what,
// where, and what to do); the kind decides the reaction and the metric it is counted in.
enum class Errc {
  InvalidArgument, // a caller or a peer gave something malformed
  NotFound,        // an interface, file or peer that does not exist
  PermissionDenied,
  System,     // a system call failed for another reason (see sys_errno)
  Unavailable, // a service (corosync, the daemon) is not running or not reachable
  Protocol,   // a peer broke a wire format
  Crypto,     // an OpenSSL operation failed
  Timeout,
};

struct Error {
  Errc code;
  std::string message;
  int sys_errno = 0;
};

template <class T> using Result = std::expected<T, Error>;
using Status = Result<void>;

// "what: strerror(err)", classified from errno so callers can react to EPERM or ENOENT.
Error systemError(std::string_view what, int err = errno);

inline std::unexpected<Error> fail(Errc code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}

// Start-up only (the one place exceptions are used): the value, or std::runtime_error
// "what: message".
template <class T> T orThrow(Result<T> result, const std::string& what) {
  if (!result) {
    throw std::runtime_error(what + ": " + result.error().message);
  }
  return std::move(*result);
}
inline void orThrow(const Status& status, const std::string& what) {
  if (!status) {
    throw std::runtime_error(what + ": " + status.error().message);
  }
}

} // namespace failover::sys
