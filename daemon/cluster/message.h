#pragma once

#include "sys/error.h"
#include "tls/secret.h"
#include "tls/session_cache.h"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace failover::daemon::cluster {

// Replication messages. On the wire:
//   header (36 bytes, clear, authenticated):  "FOVR" | u8 version | u8 type | u16 0 |
//     u32 sender node id | u64 incarnation | u64 sequence | i64 sent (Unix ms)
//   u8[12] nonce | ciphertext of the payload | u8[16] GCM tag
// The payload is sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the cluster
// key, on top of Corosync's own link encryption: a local process that may talk to Corosync
// but lacks the cluster key can neither read nor forge sessions or ticket keys.
// The protocol versions (docs/operations.md, "Rolling upgrade"): a node speaks a range of them
// and says which in every State message; the group uses the highest version every member
// speaks, and a message in a version outside a node's range is rejected, naming both. State
// messages go in the sender's lowest version, so that every node that could work with it reads
// them. Version 2 is the first to announce its range; version 1 builds cannot join it.
inline constexpr std::uint8_t MESSAGE_VERSION = 2;
struct WireVersions {
  std::uint8_t min = MESSAGE_VERSION;
  std::uint8_t max = MESSAGE_VERSION;
  bool contains(std::uint8_t version) const noexcept { return version >= min && version <= max; }
  std::string describe() const; // "2" or "2 to 3"
};
inline constexpr std::size_t HEADER_SIZE = 36;
inline constexpr std::size_t NONCE_SIZE = 12;
inline constexpr std::size_t TAG_SIZE = 16;
inline constexpr std::size_t MAX_MESSAGE = 1u << 20;
inline constexpr std::size_t MAX_ITEMS = 100'000;

enum class MessageType : std::uint8_t {
  State = 1,        // a member's role, priority and sync state (on change and every second)
  Sessions = 2,     // session records created on the active
  Removals = 3,     // session IDs removed on the active
  Keyring = 4,      // the whole ticket keyring, after every change
  SnapshotDone = 5, // the end of a state transfer to one member
  Handover = 6,     // a step of a planned switchover
  // The majority lease's datagrams (docs/lease.md), on its own UDP port, never over Corosync.
  LeaseRequest = 7, // grant me the lease (this round), and my successor if named
  LeaseGrant = 8,   // granted: the requester and its round
  LeaseRelease = 9, // I gave the lease back
};

struct Header {
  MessageType type = MessageType::State;
  std::uint32_t sender = 0;
  std::uint64_t incarnation = 0; // random per daemon start: tells restarts apart
  std::uint64_t sequence = 0;    // per incarnation, from 1, in send order
  std::int64_t sent_ms = 0;
  std::uint8_t version = MESSAGE_VERSION; // the version this message is encoded in
};

// Member roles as they travel (the role machine's enum maps onto these values).
enum class WireRole : std::uint8_t { Standby = 0, Active = 1, Maintenance = 2, Fault = 3, HandingOver = 4 };

struct StateMessage {
  std::string name;
  std::uint8_t priority = 0;
  WireRole role = WireRole::Standby;
  bool in_sync = false;
  bool eligible = true;              // not yielding after an operator's demote
  std::uint64_t applied_sequence = 0; // last message applied from the active's stream
  std::uint64_t applied_incarnation = 0;
  std::uint32_t cache_entries = 0;
  WireVersions speaks = {}; // the protocol versions the sender reads and writes
};
struct SessionsMessage {
  std::vector<tls::SessionRecord> records;
};
struct RemovalsMessage {
  std::vector<std::vector<std::uint8_t>> ids;
};
struct KeyringMessage {
  tls::SecretBytes keys; // TicketKeyring::exportKeys()
};
struct SnapshotDoneMessage {
  std::uint32_t member = 0;   // the node the snapshot was for
  std::uint32_t sessions = 0; // how many records it carried
};

// A planned switchover, in the group's total order: anyone may ask the active to hand over
// (Request); the active stops answering ARP for the VIP and says so (Released); the target
// takes the VIP, announces it and says so (Taken); either side may give up (Aborted).
struct HandoverMessage {
  enum class Phase : std::uint8_t { Request = 1, Released = 2, Taken = 3, Aborted = 4 };
  Phase phase = Phase::Request;
  std::uint32_t from = 0; // the active node handing over
  std::uint32_t to = 0;   // the node taking over
  // Taken: the new active's MAC, to which the old one forwards the SYNs it held meanwhile.
  std::array<std::uint8_t, 6> mac{};
};

struct LeaseRequestMessage {
  std::uint64_t round = 0;
  std::uint32_t successor = 0; // 0: none
};
struct LeaseGrantMessage {
  std::uint32_t requester = 0;
  std::uint64_t round = 0;
};
struct LeaseReleaseMessage {};

using Payload = std::variant<StateMessage, SessionsMessage, RemovalsMessage, KeyringMessage,
                             SnapshotDoneMessage, HandoverMessage, LeaseRequestMessage, LeaseGrantMessage,
                             LeaseReleaseMessage>;

struct Message {
  Header header;
  Payload payload;
};

MessageType typeOf(const Payload& payload);

// Seals and opens messages with the key derived from the cluster key. Holds the key only as
// SecretBytes; nothing here logs or prints key material.
class Sealer {
public:
  static sys::Result<Sealer> create(std::span<const std::uint8_t> cluster_key);
  std::vector<std::uint8_t> seal(const Header& header, std::span<const std::uint8_t> plaintext) const;
  // Checks the header's framing, that its version is one of `accepted`, and the tag; returns
  // the header and the plaintext.
  sys::Result<std::pair<Header, tls::SecretBytes>> open(std::span<const std::uint8_t> wire,
                                                        WireVersions accepted) const;

private:
  explicit Sealer(tls::SecretBytes key) : key_(std::move(key)) {}
  tls::SecretBytes key_;
};

// Why a message was rejected, for the metrics (failoverd_replication_rejected_total{reason}).
enum class RejectReason { Malformed, Version, Unauthenticated, WrongSender, Replayed, Stale };
std::string_view toString(RejectReason reason);

struct Rejection {
  RejectReason reason;
  std::string detail;
};

std::vector<std::uint8_t> encodeMessage(const Message& message, const Sealer& sealer);
// The clear header alone, unauthenticated: only for a message Corosync says this very
// process sent (its own messages coming back in the agreed order).
sys::Result<Header> peekHeader(std::span<const std::uint8_t> wire, WireVersions accepted = {});
// The payload half of the decoder (after authentication); public for its fuzz target.
sys::Result<Payload> decodePayload(MessageType type, std::span<const std::uint8_t> data);
// The one decoder of replication messages: framing, version (one of `accepted`),
// authentication, payload.
std::expected<Message, Rejection> decodeMessage(std::span<const std::uint8_t> wire, const Sealer& sealer,
                                                WireVersions accepted = {});

} // namespace failover::daemon::cluster
