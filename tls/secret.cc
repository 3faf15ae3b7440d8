#include "tls/secret.h"

#include "sys/unique_fd.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <string>

namespace failover::tls {

using sys::Errc;
using sys::fail;

sys::Result<SecretBytes> readSecretFile(const std::filesystem::path& path, std::size_t min_size,
                                        std::size_t max_size) {
  const std::string name = path.string();
  sys::UniqueFd fd(::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    return std::unexpected(sys::systemError("cannot open key file '" + name + "'"));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) {
    return std::unexpected(sys::systemError("cannot stat key file '" + name + "'"));
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(Errc::InvalidArgument, "key file '" + name + "' is not a regular file");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return fail(Errc::PermissionDenied,
                "key file '" + name + "' is accessible by group or others: chmod 600 '" + name + "'");
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size < min_size || size > max_size) {
    return fail(Errc::InvalidArgument, "key file '" + name + "' has " + std::to_string(size) +
                                           " bytes; it must have " + std::to_string(min_size) +
                                           " to " + std::to_string(max_size) + " bytes");
  }
  SecretBytes secret(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd.get(), secret.mutableView().data() + done, size - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return std::unexpected(sys::systemError("cannot read key file '" + name + "'"));
    }
    if (n == 0) {
      return fail(Errc::InvalidArgument, "key file '" + name + "' shrank while it was read");
    }
    done += static_cast<std::size_t>(n);
  }
  return secret;
}

sys::Status createRandomSecretFile(const std::filesystem::path& path, std::size_t size) {
  const std::string name = path.string();
  SecretBytes secret(size);
  if (RAND_bytes(secret.mutableView().data(), static_cast<int>(size)) != 1) {
    return fail(Errc::Crypto, "the OpenSSL random generator failed; no key was written");
  }
  sys::UniqueFd fd(::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    return std::unexpected(sys::systemError("cannot create key file '" + name + "'"));
  }
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd.get(), secret.view().data() + done, size - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const auto error = sys::systemError("cannot write key file '" + name + "'");
      ::unlink(name.c_str());
      return std::unexpected(error);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) < 0) {
    const auto error = sys::systemError("cannot sync key file '" + name + "'");
    ::unlink(name.c_str());
    return std::unexpected(error);
  }
  return {};
}

} // namespace failover::tls
