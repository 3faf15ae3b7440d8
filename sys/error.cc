#include "sys/error.h"

#include <cstring>

namespace failover::sys {

Error systemError(std::string_view what, int err) {
  Errc code = Errc::System;
  switch (err) {
  case EPERM:
  case EACCES:
    code = Errc::PermissionDenied;
    break;
  case ENOENT:
  case ENODEV:
  case ESRCH:
    code = Errc::NotFound;
    break;
  case ECONNREFUSED:
    code = Errc::Unavailable;
    break;
  case EINVAL:
    code = Errc::InvalidArgument;
    break;
  case ETIMEDOUT:
    code = Errc::Timeout;
    break;
  default:
    break;
  }
  std::string message(what);
  message += ": ";
  message += std::strerror(err);
  return Error{code, std::move(message), err};
}

} // namespace failover::sys
