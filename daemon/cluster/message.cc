#include "daemon/cluster/message.h"

#include "tls/openssl_ptr.h"
#include "tls/session_record.h"
#include "sys/wire.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <cstring>

namespace failover::daemon::cluster {

namespace {

constexpr std::uint8_t MAGIC[4] = {'F', 'O', 'V', 'R'};
constexpr std::size_t KEY_SIZE = 32;
constexpr char KDF_SALT[] = "failoverd";
constexpr char KDF_INFO[] = "failoverd replication v1";

std::unexpected<Rejection> reject(RejectReason reason, std::string detail) {
  return std::unexpected(Rejection{reason, std::move(detail)});
}

void writeHeader(sys::WireWriter& out, const Header& header) {
  out.bytes(MAGIC);
  out.u8(header.version);
  out.u8(static_cast<std::uint8_t>(header.type));
  out.u8(0);
  out.u8(0);
  out.u32(header.sender);
  out.i64(static_cast<std::int64_t>(header.incarnation));
  out.i64(static_cast<std::int64_t>(header.sequence));
  out.i64(header.sent_ms);
}

sys::SecretBuffer encodePayload(const Payload& payload) {
  sys::WireWriter out;
  std::visit(
      [&out](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, StateMessage>) {
          out.u8(static_cast<std::uint8_t>(p.name.size()));
          out.bytes(std::span(reinterpret_cast<const std::uint8_t*>(p.name.data()), p.name.size()));
          out.u8(p.priority);
          out.u8(static_cast<std::uint8_t>(p.role));
          out.u8(static_cast<std::uint8_t>((p.in_sync ? 1 : 0) | (p.eligible ? 2 : 0)));
          out.i64(static_cast<std::int64_t>(p.applied_sequence));
          out.i64(static_cast<std::int64_t>(p.applied_incarnation));
          out.u32(p.cache_entries);
          out.u8(p.speaks.min);
          out.u8(p.speaks.max);
        } else if constexpr (std::is_same_v<T, SessionsMessage>) {
          out.u32(static_cast<std::uint32_t>(p.records.size()));
          for (const auto& record : p.records) {
            tls::writeSessionRecord(out, record);
          }
        } else if constexpr (std::is_same_v<T, RemovalsMessage>) {
          out.u32(static_cast<std::uint32_t>(p.ids.size()));
          for (const auto& id : p.ids) {
            out.u8(static_cast<std::uint8_t>(id.size()));
            out.bytes(id);
          }
        } else if constexpr (std::is_same_v<T, KeyringMessage>) {
          out.bytes(p.keys.view());
        } else if constexpr (std::is_same_v<T, SnapshotDoneMessage>) {
          out.u32(p.member);
          out.u32(p.sessions);
        } else if constexpr (std::is_same_v<T, LeaseRequestMessage>) {
          out.i64(static_cast<std::int64_t>(p.round));
          out.u32(p.successor);
        } else if constexpr (std::is_same_v<T, LeaseGrantMessage>) {
          out.u32(p.requester);
          out.i64(static_cast<std::int64_t>(p.round));
        } else if constexpr (std::is_same_v<T, LeaseReleaseMessage>) {
          // the type says it all
        } else {
          static_assert(std::is_same_v<T, HandoverMessage>);
          out.u8(static_cast<std::uint8_t>(p.phase));
          out.u32(p.from);
          out.u32(p.to);
          out.bytes(p.mac);
        }
      },
      payload);
  return std::move(out.data());
}

sys::Result<std::uint32_t> itemCount(sys::WireReader& in) {
  auto count = in.u32();
  if (count && *count > MAX_ITEMS) {
    return in.malformed("item count " + std::to_string(*count) + " exceeds " + std::to_string(MAX_ITEMS));
  }
  return count;
}

} // namespace

sys::Result<Payload> decodePayload(MessageType type, std::span<const std::uint8_t> data) {
  sys::WireReader in(data, "replication payload");
  Payload payload;
  switch (type) {
  case MessageType::State: {
    StateMessage state;
    auto length = in.u8();
    auto name = length ? in.bytes(*length) : std::unexpected(length.error());
    auto priority = name ? in.u8() : std::unexpected(name.error());
    auto role = priority ? in.u8() : std::unexpected(priority.error());
    auto flags = role ? in.u8() : std::unexpected(role.error());
    auto applied = flags ? in.i64() : std::unexpected(flags.error());
    auto incarnation = applied ? in.i64() : std::unexpected(applied.error());
    auto entries = incarnation ? in.u32() : std::unexpected(incarnation.error());
    auto lowest = entries ? in.u8() : std::unexpected(entries.error());
    auto highest = lowest ? in.u8() : std::unexpected(lowest.error());
    if (!highest) {
      return std::unexpected(highest.error());
    }
    if (*role > static_cast<std::uint8_t>(WireRole::HandingOver)) {
      return in.malformed("unknown role " + std::to_string(*role));
    }
    if (*lowest == 0 || *lowest > *highest) {
      return in.malformed("protocol versions " + std::to_string(*lowest) + " to " + std::to_string(*highest));
    }
    state.speaks = WireVersions{*lowest, *highest};
    state.name.assign(name->begin(), name->end());
    state.priority = *priority;
    state.role = static_cast<WireRole>(*role);
    state.in_sync = (*flags & 1) != 0;
    state.eligible = (*flags & 2) != 0;
    state.applied_sequence = static_cast<std::uint64_t>(*applied);
    state.applied_incarnation = static_cast<std::uint64_t>(*incarnation);
    state.cache_entries = *entries;
    payload = std::move(state);
    break;
  }
  case MessageType::Sessions: {
    auto count = itemCount(in);
    if (!count) {
      return std::unexpected(count.error());
    }
    SessionsMessage sessions;
    auto rest = data.subspan(in.consumed());
    for (std::uint32_t i = 0; i < *count; ++i) {
      auto decoded = tls::decodeSessionRecord(rest);
      if (!decoded) {
        return std::unexpected(decoded.error());
      }
      sessions.records.push_back(std::move(decoded->record));
      rest = rest.subspan(decoded->consumed);
    }
    if (!rest.empty()) {
      return in.malformed(std::to_string(rest.size()) + " trailing bytes after the records");
    }
    return Payload(std::move(sessions));
  }
  case MessageType::Removals: {
    auto count = itemCount(in);
    if (!count) {
      return std::unexpected(count.error());
    }
    RemovalsMessage removals;
    for (std::uint32_t i = 0; i < *count; ++i) {
      auto length = in.u8();
      if (length && (*length == 0 || *length > tls::SessionCache::MAX_ID)) {
        return in.malformed("session ID length " + std::to_string(*length));
      }
      auto id = length ? in.bytes(*length) : std::unexpected(length.error());
      if (!id) {
        return std::unexpected(id.error());
      }
      removals.ids.emplace_back(id->begin(), id->end());
    }
    payload = std::move(removals);
    break;
  }
  case MessageType::Keyring:
    // The keyring's own decoder (TicketKeyring::importKeys) checks it when it is applied.
    return Payload(KeyringMessage{tls::SecretBytes(data)});
  case MessageType::SnapshotDone: {
    auto member = in.u32();
    auto sessions = member ? in.u32() : std::unexpected(member.error());
    if (!sessions) {
      return std::unexpected(sessions.error());
    }
    payload = SnapshotDoneMessage{*member, *sessions};
    break;
  }
  case MessageType::Handover: {
    auto phase = in.u8();
    auto from = phase ? in.u32() : std::unexpected(phase.error());
    auto to = from ? in.u32() : std::unexpected(from.error());
    auto mac = to ? in.bytes(6) : std::unexpected(to.error());
    if (!mac) {
      return std::unexpected(mac.error());
    }
    if (*phase < 1 || *phase > 4) {
      return in.malformed("unknown handover phase " + std::to_string(*phase));
    }
    HandoverMessage handover{static_cast<HandoverMessage::Phase>(*phase), *from, *to, {}};
    std::copy(mac->begin(), mac->end(), handover.mac.begin());
    payload = handover;
    break;
  }
  case MessageType::LeaseRequest: {
    auto round = in.i64();
    auto successor = round ? in.u32() : std::unexpected(round.error());
    if (!successor) {
      return std::unexpected(successor.error());
    }
    payload = LeaseRequestMessage{static_cast<std::uint64_t>(*round), *successor};
    break;
  }
  case MessageType::LeaseGrant: {
    auto requester = in.u32();
    auto round = requester ? in.i64() : std::unexpected(requester.error());
    if (!round) {
      return std::unexpected(round.error());
    }
    payload = LeaseGrantMessage{*requester, static_cast<std::uint64_t>(*round)};
    break;
  }
  case MessageType::LeaseRelease:
    payload = LeaseReleaseMessage{};
    break;
  default:
    return in.malformed("unknown message type " + std::to_string(static_cast<int>(type)));
  }
  if (in.remaining() != 0) {
    return in.malformed(std::to_string(in.remaining()) + " trailing bytes");
  }
  return payload;
}

MessageType typeOf(const Payload& payload) {
  return static_cast<MessageType>(payload.index() + 1);
}

std::string_view toString(RejectReason reason) {
  switch (reason) {
  case RejectReason::Malformed:
    return "malformed";
  case RejectReason::Version:
    return "version";
  case RejectReason::Unauthenticated:
    return "unauthenticated";
  case RejectReason::WrongSender:
    return "wrong_sender";
  case RejectReason::Replayed:
    return "replayed";
  case RejectReason::Stale:
    return "stale";
  }
  return "malformed";
}

sys::Result<Sealer> Sealer::create(std::span<const std::uint8_t> cluster_key) {
  std::unique_ptr<EVP_KDF, tls::OpenSslDeleter<EVP_KDF_free>> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  std::unique_ptr<EVP_KDF_CTX, tls::OpenSslDeleter<EVP_KDF_CTX_free>> ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  if (!ctx) {
    return sys::fail(sys::Errc::Crypto, "HKDF is not available in this OpenSSL");
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(cluster_key.data()),
                                        cluster_key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(KDF_SALT), sizeof KDF_SALT - 1),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(KDF_INFO), sizeof KDF_INFO - 1),
      OSSL_PARAM_construct_end()};
  tls::SecretBytes key(KEY_SIZE);
  if (EVP_KDF_derive(ctx.get(), key.mutableView().data(), KEY_SIZE, params) != 1) {
    return sys::fail(sys::Errc::Crypto, "cannot derive the replication key from the cluster key");
  }
  return Sealer(std::move(key));
}

std::vector<std::uint8_t> Sealer::seal(const Header& header, std::span<const std::uint8_t> plaintext) const {
  sys::WireWriter out;
  writeHeader(out, header);
  // Ciphertext is no secret: a plain buffer, starting with the (small) header.
  std::vector<std::uint8_t> wire(out.data().begin(), out.data().end());
  const std::size_t nonce_at = wire.size();
  wire.resize(nonce_at + NONCE_SIZE + plaintext.size() + TAG_SIZE);
  std::uint8_t* nonce = wire.data() + nonce_at;
  std::uint8_t* ciphertext = nonce + NONCE_SIZE;
  tls::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int length = 0;
  // Random nonces: safe far beyond any realistic number of messages under one key.
  if (!ctx || RAND_bytes(nonce, NONCE_SIZE) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.view().data(), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &length, wire.data(), static_cast<int>(HEADER_SIZE)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), ciphertext, &length, plaintext.data(), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ciphertext + length, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, TAG_SIZE, ciphertext + plaintext.size()) != 1) {
    return {}; // an empty message is never sent (the caller checks)
  }
  return wire;
}

namespace {

// The clear header, up to the nonce.
sys::Result<Header> readHeader(sys::WireReader& in, WireVersions accepted) {
  auto magic = in.bytes(4);
  if (!magic) {
    return std::unexpected(magic.error());
  }
  if (std::memcmp(magic->data(), MAGIC, 4) != 0) {
    return in.malformed("bad magic: not a failoverd message");
  }
  auto version = in.u8();
  if (!version) {
    return std::unexpected(version.error());
  }
  if (!accepted.contains(*version)) {
    // A later layout may differ from here on: nothing after the version is read.
    return sys::fail(sys::Errc::InvalidArgument,
                     "protocol version " + std::to_string(*version) + ", but this node speaks " + accepted.describe() +
                         (*version < accepted.min ? ": the sender is too old for this node; upgrade it"
                                                  : ": the sender is too new for this node; upgrade this node"));
  }
  auto type = in.u8();
  auto reserved = type ? in.bytes(2) : std::unexpected(type.error());
  auto sender = reserved ? in.u32() : std::unexpected(reserved.error());
  auto incarnation = sender ? in.i64() : std::unexpected(sender.error());
  auto sequence = incarnation ? in.i64() : std::unexpected(incarnation.error());
  auto sent = sequence ? in.i64() : std::unexpected(sequence.error());
  if (!sent) {
    return std::unexpected(sent.error());
  }
  Header header;
  header.version = *version;
  header.type = static_cast<MessageType>(*type);
  header.sender = *sender;
  header.incarnation = static_cast<std::uint64_t>(*incarnation);
  header.sequence = static_cast<std::uint64_t>(*sequence);
  header.sent_ms = *sent;
  return header;
}

} // namespace

std::string WireVersions::describe() const {
  return min == max ? "protocol version " + std::to_string(min)
                    : "protocol versions " + std::to_string(min) + " to " + std::to_string(max);
}

sys::Result<Header> peekHeader(std::span<const std::uint8_t> wire, WireVersions accepted) {
  sys::WireReader in(wire, "replication message");
  return readHeader(in, accepted);
}

sys::Result<std::pair<Header, tls::SecretBytes>> Sealer::open(std::span<const std::uint8_t> wire,
                                                              WireVersions accepted) const {
  sys::WireReader in(wire, "replication message");
  auto header = readHeader(in, accepted);
  if (!header) {
    return std::unexpected(header.error());
  }
  auto nonce = in.bytes(NONCE_SIZE);
  if (!nonce) {
    return std::unexpected(nonce.error());
  }
  if (wire.size() > MAX_MESSAGE || in.remaining() < TAG_SIZE) {
    return in.malformed("bad length " + std::to_string(wire.size()));
  }
  const std::size_t sealed = in.remaining() - TAG_SIZE;
  const std::uint8_t* ciphertext = wire.data() + in.consumed();
  tls::SecretBytes plaintext(sealed);
  tls::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int length = 0;
  std::uint8_t tag[TAG_SIZE];
  std::memcpy(tag, ciphertext + sealed, TAG_SIZE);
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.view().data(), nonce->data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &length, wire.data(), static_cast<int>(HEADER_SIZE)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), plaintext.mutableView().data(), &length, ciphertext, static_cast<int>(sealed)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, TAG_SIZE, tag) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), plaintext.mutableView().data() + length, &length) != 1) {
    return sys::fail(sys::Errc::PermissionDenied, "authentication failed (wrong cluster key, or altered)");
  }
  return std::pair{*header, std::move(plaintext)};
}

std::vector<std::uint8_t> encodeMessage(const Message& message, const Sealer& sealer) {
  auto header = message.header;
  header.type = typeOf(message.payload);
  auto plaintext = encodePayload(message.payload);
  return sealer.seal(header, plaintext);
}

std::expected<Message, Rejection> decodeMessage(std::span<const std::uint8_t> wire, const Sealer& sealer,
                                                WireVersions accepted) {
  auto opened = sealer.open(wire, accepted);
  if (!opened) {
    const auto& error = opened.error();
    const auto reason = error.code == sys::Errc::PermissionDenied ? RejectReason::Unauthenticated
                        : error.code == sys::Errc::InvalidArgument ? RejectReason::Version
                                                                    : RejectReason::Malformed;
    return reject(reason, error.message);
  }
  auto& [header, plaintext] = *opened;
  auto payload = decodePayload(header.type, plaintext.view());
  if (!payload) {
    return reject(RejectReason::Malformed, payload.error().message);
  }
  if (typeOf(*payload) != header.type) {
    return reject(RejectReason::Malformed, "payload does not match the message type");
  }
  return Message{header, std::move(*payload)};
}

} // namespace failover::daemon::cluster
