#include "daemon/cluster/message.h"

#include <doctest/doctest.h>

using namespace failover;
using namespace failover::daemon::cluster;

namespace {
Sealer sealerWith(std::uint8_t fill) {
  const std::vector<std::uint8_t> key(64, fill);
  return Sealer::create(key).value();
}
Header header(std::uint64_t sequence) { return Header{MessageType::State, 2, 0xabcdef, sequence, 1700000000000}; }
} // namespace

TEST_CASE("every message type round-trips through sealing") {
  const auto sealer = sealerWith(7);
  StateMessage state{"n2", 150, WireRole::Active, true, false, 42, 0x1234, 17};
  SessionsMessage sessions{{tls::SessionRecord{std::vector<std::uint8_t>(32, 1), {0x30, 1, 2}, 99},
                            tls::SessionRecord{std::vector<std::uint8_t>(16, 2), {0x30}, 100}}};
  RemovalsMessage removals{{std::vector<std::uint8_t>(32, 3)}};
  const std::vector<std::uint8_t> key_bytes{1, 1, 0, 9, 9};
  SnapshotDoneMessage done{3, 250};
  std::vector<Payload> payloads;
  payloads.emplace_back(state);
  payloads.emplace_back(sessions);
  payloads.emplace_back(removals);
  payloads.emplace_back(KeyringMessage{tls::SecretBytes(key_bytes)});
  payloads.emplace_back(done);
  payloads.emplace_back(LeaseRequestMessage{0x1122334455, 3});
  payloads.emplace_back(LeaseGrantMessage{4, 0x99aabbcc});
  payloads.emplace_back(LeaseReleaseMessage{});
  for (auto& payload : payloads) {
    const auto type = payload.index();
    const auto wire = encodeMessage(Message{header(5), std::move(payload)}, sealer);
    REQUIRE(wire.size() >= HEADER_SIZE + NONCE_SIZE + TAG_SIZE); // a release has no payload
    const auto decoded = decodeMessage(wire, sealer);
    REQUIRE(decoded);
    CHECK(decoded->header.sender == 2);
    CHECK(decoded->header.incarnation == 0xabcdef);
    CHECK(decoded->header.sequence == 5);
    CHECK(decoded->header.sent_ms == 1700000000000);
    CHECK(decoded->payload.index() == type);
    if (std::holds_alternative<LeaseReleaseMessage>(decoded->payload)) {
      continue; // nothing but its type
    }
    if (const auto* s = std::get_if<StateMessage>(&decoded->payload)) {
      CHECK(s->name == "n2");
      CHECK(s->priority == 150);
      CHECK((s->role == WireRole::Active));
      CHECK(s->in_sync);
      CHECK_FALSE(s->eligible);
      CHECK(s->applied_sequence == 42);
      CHECK(s->cache_entries == 17);
    } else if (const auto* request = std::get_if<LeaseRequestMessage>(&decoded->payload)) {
      CHECK(request->round == 0x1122334455);
      CHECK(request->successor == 3);
    } else if (const auto* grant = std::get_if<LeaseGrantMessage>(&decoded->payload)) {
      CHECK(grant->requester == 4);
      CHECK(grant->round == 0x99aabbcc);
    } else if (const auto* r = std::get_if<SessionsMessage>(&decoded->payload)) {
      CHECK(r->records == sessions.records);
    } else if (const auto* k = std::get_if<KeyringMessage>(&decoded->payload)) {
      CHECK(std::vector(k->keys.view().begin(), k->keys.view().end()) == key_bytes);
    } else if (const auto* d = std::get_if<SnapshotDoneMessage>(&decoded->payload)) {
      CHECK(d->member == 3);
      CHECK(d->sessions == 250);
    } else {
      CHECK(std::get<RemovalsMessage>(decoded->payload).ids == removals.ids);
    }
  }
}

TEST_CASE("a message under another key, or altered anywhere, is unauthenticated") {
  const auto wire = encodeMessage(Message{header(1), StateMessage{"n1"}}, sealerWith(7));
  CHECK((decodeMessage(wire, sealerWith(8)).error().reason == RejectReason::Unauthenticated));
  for (std::size_t at = 8; at < wire.size(); at += 3) { // header fields, nonce, ciphertext, tag
    CAPTURE(at);
    auto altered = wire;
    altered[at] ^= 0x01;
    CHECK((decodeMessage(altered, sealerWith(7)).error().reason == RejectReason::Unauthenticated));
  }
}

TEST_CASE("framing problems are named") {
  const auto sealer = sealerWith(7);
  auto wire = encodeMessage(Message{header(1), StateMessage{"n1"}}, sealer);
  for (std::size_t length = 0; length < HEADER_SIZE + NONCE_SIZE + TAG_SIZE; ++length) {
    CAPTURE(length);
    CHECK((decodeMessage(std::span(wire.data(), length), sealer).error().reason == RejectReason::Malformed));
  }
  auto wrong_magic = wire;
  wrong_magic[0] = 'X';
  CHECK(decodeMessage(wrong_magic, sealer).error().detail.find("bad magic") != std::string::npos);
  auto wrong_version = wire;
  wrong_version[4] = 9;
  const auto rejected = decodeMessage(wrong_version, sealer);
  CHECK((rejected.error().reason == RejectReason::Version));
  CHECK(rejected.error().detail.find("version 9") != std::string::npos);
}

TEST_CASE("payloads are checked after authentication") {
  CHECK_FALSE(decodePayload(MessageType::Removals, std::vector<std::uint8_t>{0, 0, 0, 1, 33}));
  CHECK_FALSE(decodePayload(MessageType::Sessions, std::vector<std::uint8_t>{0xff, 0xff, 0xff, 0xff}));
  CHECK(decodePayload(MessageType::SnapshotDone, std::vector<std::uint8_t>{0, 0, 0, 1, 0, 0, 0, 2}));
  CHECK_FALSE(decodePayload(MessageType::SnapshotDone, std::vector<std::uint8_t>{0, 0, 0, 1, 0, 0, 0, 2, 0}));
  CHECK_FALSE(decodePayload(static_cast<MessageType>(77), std::vector<std::uint8_t>{}));
}

TEST_CASE("an own message's clear header is read without the key, and framing is still checked") {
  auto sent = header(41);
  sent.incarnation = 0x1122334455667788;
  const auto wire = encodeMessage(Message{sent, SessionsMessage{}}, sealerWith(7));
  const auto peeked = peekHeader(wire);
  REQUIRE(peeked);
  CHECK(peeked->sequence == 41);
  CHECK(peeked->incarnation == 0x1122334455667788);
  CHECK((peeked->type == MessageType::Sessions));
  CHECK_FALSE(peekHeader(std::span(wire.data(), HEADER_SIZE - 1)));
  auto wrong_magic = wire;
  wrong_magic[1] = 'X';
  CHECK_FALSE(peekHeader(wrong_magic));
}

TEST_CASE("protocol versions: a version outside the receiver's range is refused, naming both, before the key is used") {
  const auto sealer = sealerWith(7);
  auto newer = header(1);
  newer.version = static_cast<std::uint8_t>(MESSAGE_VERSION + 1);
  StateMessage state{"n1"};
  state.speaks = WireVersions{MESSAGE_VERSION, static_cast<std::uint8_t>(MESSAGE_VERSION + 1)};
  const auto wire = encodeMessage(Message{newer, state}, sealer);
  // A node that speaks the newer version too reads it, and the range it announced.
  const auto read = decodeMessage(wire, sealer, WireVersions{MESSAGE_VERSION, static_cast<std::uint8_t>(MESSAGE_VERSION + 1)});
  REQUIRE(read);
  CHECK(read->header.version == MESSAGE_VERSION + 1);
  CHECK(std::get<StateMessage>(read->payload).speaks.max == MESSAGE_VERSION + 1);
  // This build alone does not.
  const auto refused = decodeMessage(wire, sealer);
  REQUIRE_FALSE(refused);
  CHECK((refused.error().reason == RejectReason::Version));
  const auto& why = refused.error().detail;
  CHECK(why.find("protocol version " + std::to_string(MESSAGE_VERSION + 1)) != std::string::npos);
  CHECK(why.find("this node speaks protocol version " + std::to_string(MESSAGE_VERSION)) != std::string::npos);
  CHECK(why.find("too new") != std::string::npos);
  // An older sender is named too old.
  auto older = wire;
  older[4] = static_cast<std::uint8_t>(MESSAGE_VERSION - 1);
  CHECK(decodeMessage(older, sealer).error().detail.find("too old") != std::string::npos);
  // A State whose range is empty or starts at 0 is malformed.
  for (const auto& [low, high] : {std::pair{0, 2}, std::pair{3, 2}}) {
    state.speaks = WireVersions{static_cast<std::uint8_t>(low), static_cast<std::uint8_t>(high)};
    CHECK((decodeMessage(encodeMessage(Message{header(2), state}, sealer), sealer).error().reason ==
           RejectReason::Malformed));
  }
}
