#include "tls/secret.h"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

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
