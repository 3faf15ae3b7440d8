#include "tls/ticket_keys.h"

#include <doctest/doctest.h>

#include <chrono>

using namespace failover::tls;
using namespace std::chrono_literals;

namespace {
std::vector<std::uint8_t> nameOf(const TicketKeyring& ring) {
  const auto name = ring.currentName().value();
  return {name.begin(), name.end()};
}
bool decrypts(const TicketKeyring& ring, const std::vector<std::uint8_t>& name, bool* current = nullptr) {
  return ring.withKey(name, [&](const TicketKey&, bool is_current) {
    if (current) {
      *current = is_current;
    }
  });
}
} // namespace

TEST_CASE("a generated keyring has a current and a next key") {
  TicketKeyring ring(3600s, 300s);
  CHECK(ring.size() == 0);
  CHECK_FALSE(ring.withCurrent([](const TicketKey&) {}));
  REQUIRE(ring.generate(1000));
  CHECK(ring.size() == 2);
  bool current = false;
  CHECK(decrypts(ring, nameOf(ring), &current));
  CHECK(current);
  CHECK_FALSE(decrypts(ring, std::vector<std::uint8_t>(16, 0)));
}

TEST_CASE("rotation: next becomes current, the old key decrypts until its tickets expire") {
  TicketKeyring ring(3600s, 300s);
  REQUIRE(ring.generate(1000));
  const auto first = nameOf(ring);
  const auto generation = ring.generation();
  CHECK_FALSE(ring.rotateIfDue(4599).value());
  CHECK(ring.rotateIfDue(4600).value());
  CHECK(ring.generation() > generation);
  const auto second = nameOf(ring);
  CHECK(second != first);
  bool current = true;
  CHECK(decrypts(ring, first, &current));
  CHECK_FALSE(current); // a ticket under an old key decrypts, and is renewed
  ring.dropExpired(4600 + 299);
  CHECK(decrypts(ring, first));
  ring.dropExpired(4600 + 300);
  CHECK_FALSE(decrypts(ring, first));
  CHECK(ring.size() == 2);
}

TEST_CASE("an exported keyring imports whole, and a broken one changes nothing") {
  TicketKeyring a(3600s, 300s);
  REQUIRE(a.generate(1000));
  REQUIRE(a.rotate(2000));
  const auto exported = a.exportKeys();
  CHECK(exported.size() == 2 + 3 * (1 + 16 + 8 + 8 + 32 + 32));
  TicketKeyring b(3600s, 300s);
  REQUIRE(b.importKeys(exported.view()));
  CHECK(nameOf(b) == nameOf(a));
  CHECK(b.size() == 3);

  TicketKeyring c(3600s, 300s);
  REQUIRE(c.generate(1000));
  const auto before = nameOf(c);
  const auto bytes = exported.view();
  for (std::size_t length = 0; length < bytes.size(); length += 7) {
    CAPTURE(length);
    CHECK_FALSE(c.importKeys(bytes.first(length)));
  }
  std::vector<std::uint8_t> bad(bytes.begin(), bytes.end());
  bad[2] = 9; // unknown role
  CHECK(c.importKeys(bad).error().message.find("unknown key role 9") != std::string::npos);
  bad.assign(bytes.begin(), bytes.end());
  bad.push_back(0);
  CHECK(c.importKeys(bad).error().message.find("trailing") != std::string::npos);
  CHECK(nameOf(c) == before);
}
