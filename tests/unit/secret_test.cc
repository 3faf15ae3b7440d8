#include "tls/secret.h"
#include "sys/wire.h"
#include "tls/session_record.h"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <type_traits>

using namespace failover;

namespace {
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "failoverd-unit-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};
} // namespace

TEST_CASE("a created key file is 0600, random, and read back whole") {
  TempDir dir;
  const auto file = dir.path / "cluster.key";
  REQUIRE(tls::createRandomSecretFile(file, 64));
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  const auto key = tls::readSecretFile(file, 32, 4096);
  REQUIRE(key);
  CHECK(key->size() == 64);

  const auto other = dir.path / "other.key";
  REQUIRE(tls::createRandomSecretFile(other, 64));
  const auto second = tls::readSecretFile(other, 32, 4096);
  REQUIRE(second);
  CHECK(std::vector(key->view().begin(), key->view().end()) !=
        std::vector(second->view().begin(), second->view().end()));
}

TEST_CASE("an existing key file is never overwritten") {
  TempDir dir;
  const auto file = dir.path / "cluster.key";
  REQUIRE(tls::createRandomSecretFile(file, 64));
  const auto again = tls::createRandomSecretFile(file, 64);
  REQUIRE_FALSE(again);
  CHECK(again.error().sys_errno == EEXIST);
}

TEST_CASE("key file errors name the file and the fix, never the contents") {
  TempDir dir;
  const auto file = dir.path / "cluster.key";
  std::ofstream(file) << "SECRETSECRETSECRETSECRETSECRETSECRET";
  ::chmod(file.c_str(), 0640);
  const auto open = tls::readSecretFile(file, 32, 4096);
  REQUIRE_FALSE(open);
  CHECK(open.error().message.find(file.string()) != std::string::npos);
  CHECK(open.error().message.find("chmod 600") != std::string::npos);
  CHECK(open.error().message.find("SECRET") == std::string::npos);

  ::chmod(file.c_str(), 0600);
  const auto small = tls::readSecretFile(file, 64, 4096);
  REQUIRE_FALSE(small);
  CHECK(small.error().message.find("SECRET") == std::string::npos);
  CHECK(tls::readSecretFile(dir.path, 32, 4096).error().message.find("not a regular file") !=
        std::string::npos);
}

// The secrets are wiped by their type, not by hand: every buffer that carries a session's
// DER (its master secret), an encoded keyring or a decrypted replication message is a
// sys::SecretBuffer, whose allocator wipes what it frees, also when the buffer grows.
static_assert(std::is_same_v<decltype(failover::tls::SessionRecord::der), failover::sys::SecretBuffer>);
static_assert(std::is_same_v<std::remove_reference_t<decltype(std::declval<failover::sys::WireWriter&>().data())>,
                             failover::sys::SecretBuffer>);
static_assert(std::is_same_v<decltype(failover::tls::encodeSessionRecords({})), failover::sys::SecretBuffer>);

TEST_CASE("a secret buffer keeps its bytes while it lives, across growth and moves") {
  failover::sys::SecretBuffer buffer{1, 2, 3};
  const auto* before = buffer.data();
  buffer.resize(4096, 7); // reallocates: the old block is wiped as it is freed
  CHECK(buffer.data() != before);
  CHECK(buffer[0] == 1);
  CHECK(buffer[4095] == 7);
  failover::sys::SecretBuffer moved = std::move(buffer);
  CHECK(moved.size() == 4096);
  failover::tls::SecretBytes secret(std::move(moved));
  CHECK(secret.view()[2] == 3);
}
