#include "tls/service_channel.h"

#include "sys/wire.h"
#include "tls/session_record.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>

namespace failover::tls::channel {

namespace {

// The type byte of each alternative is its index in Message, so that adding a type at the
// end never renumbers the others.
template <typename T, std::size_t I = 0>
constexpr std::uint8_t typeOf() {
  if constexpr (std::is_same_v<T, std::variant_alternative_t<I, Message>>) {
    return I;
  } else {
    return typeOf<T, I + 1>();
  }
}

constexpr std::size_t MAX_ID = SessionCache::MAX_ID;

void writeId(sys::WireWriter& out, std::span<const std::uint8_t> id) {
  out.u8(static_cast<std::uint8_t>(id.size()));
  out.bytes(id);
}

void writeU64(sys::WireWriter& out, std::uint64_t value) { out.i64(static_cast<std::int64_t>(value)); }

sys::Result<std::vector<std::uint8_t>> readId(sys::WireReader& in) {
  auto length = in.u8();
  if (!length) {
    return std::unexpected(length.error());
  }
  if (*length == 0 || *length > MAX_ID) {
    return in.malformed("session ID of " + std::to_string(*length) + " bytes (1 to " + std::to_string(MAX_ID) +
                        " allowed)");
  }
  auto bytes = in.bytes(*length);
  if (!bytes) {
    return std::unexpected(bytes.error());
  }
  return std::vector<std::uint8_t>(bytes->begin(), bytes->end());
}

void writeBlob(sys::WireWriter& out, std::span<const std::uint8_t> bytes) {
  out.u32(static_cast<std::uint32_t>(bytes.size()));
  out.bytes(bytes);
}

void writeBlob(sys::WireWriter& out, std::string_view text) {
  writeBlob(out, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

// A u32 length, at most `max`, then that many bytes.
sys::Result<std::span<const std::uint8_t>> readBlob(sys::WireReader& in, std::size_t max, const char* what) {
  auto length = in.u32();
  if (!length) {
    return std::unexpected(length.error());
  }
  if (*length > max) {
    return in.malformed(std::string(what) + " of " + std::to_string(*length) + " bytes (at most " +
                        std::to_string(max) + ")");
  }
  return in.bytes(*length);
}

sys::Result<std::string> readText(sys::WireReader& in, std::size_t max, const char* what) {
  auto bytes = readBlob(in, max, what);
  if (!bytes) {
    return std::unexpected(bytes.error());
  }
  return std::string(bytes->begin(), bytes->end());
}

sys::Result<Certificates> readCertificates(sys::WireReader& in) {
  auto count = in.u32();
  if (!count) {
    return std::unexpected(count.error());
  }
  if (*count == 0 || *count > MAX_CERTIFICATES) {
    return in.malformed(std::to_string(*count) + " certificates (1 to " + std::to_string(MAX_CERTIFICATES) + ")");
  }
  Certificates message;
  for (std::uint32_t i = 0; i < *count; ++i) {
    auto chain_path = readText(in, MAX_PATH, "a certificate's path");
    auto key_path = chain_path ? readText(in, MAX_PATH, "a key's path") : std::unexpected(chain_path.error());
    auto chain = key_path ? readText(in, MAX_PEM, "a certificate chain") : std::unexpected(key_path.error());
    auto key = chain ? readBlob(in, MAX_PEM, "a private key") : std::unexpected(chain.error());
    if (!key) {
      return std::unexpected(key.error());
    }
    message.certificates.push_back(
        {std::move(*chain_path), std::move(*key_path), std::move(*chain), sys::SecretBuffer(key->begin(), key->end())});
  }
  return message;
}

sys::Result<SessionRecord> readRecord(std::span<const std::uint8_t> datagram, sys::WireReader& in) {
  auto decoded = decodeSessionRecord(datagram.subspan(in.consumed()));
  if (!decoded) {
    return std::unexpected(decoded.error());
  }
  (void)in.bytes(decoded->consumed); // step over it: decodeSessionRecord checked the length
  return std::move(decoded->record);
}

sys::Result<Message> readBody(std::uint8_t type, std::span<const std::uint8_t> datagram, sys::WireReader& in) {
  switch (type) {
  case typeOf<SessionCreated>(): {
    auto number = in.i64();
    if (!number) {
      return std::unexpected(number.error());
    }
    if (*number <= 0) {
      return in.malformed("session number " + std::to_string(*number) + " (numbers start at 1)");
    }
    auto record = readRecord(datagram, in);
    if (!record) {
      return std::unexpected(record.error());
    }
    return SessionCreated{static_cast<std::uint64_t>(*number), std::move(*record)};
  }
  case typeOf<SessionRemoved>(): {
    auto id = readId(in);
    if (!id) {
      return std::unexpected(id.error());
    }
    return SessionRemoved{std::move(*id)};
  }
  case typeOf<Started>():
    return Started{};
  case typeOf<ImportSession>(): {
    auto record = readRecord(datagram, in);
    if (!record) {
      return std::unexpected(record.error());
    }
    return ImportSession{std::move(*record)};
  }
  case typeOf<Keyring>(): {
    auto keys = readBlob(in, MAX_MESSAGE, "a keyring");
    if (!keys) {
      return std::unexpected(keys.error());
    }
    return Keyring{sys::SecretBuffer(keys->begin(), keys->end())};
  }
  case typeOf<Seeded>():
    return Seeded{};
  case typeOf<Confirmed>():
  case typeOf<Abandoned>(): {
    auto through = in.i64();
    if (!through) {
      return std::unexpected(through.error());
    }
    if (*through < 0) {
      return in.malformed("session number " + std::to_string(*through));
    }
    const auto value = static_cast<std::uint64_t>(*through);
    return type == typeOf<Confirmed>() ? Message{Confirmed{value}} : Message{Abandoned{value}};
  }
  case typeOf<CloseConnections>():
    return CloseConnections{};
  case typeOf<Drain>(): {
    auto bound = in.u32();
    if (!bound) {
      return std::unexpected(bound.error());
    }
    return Drain{*bound};
  }
  case typeOf<Certificates>(): {
    auto certificates = readCertificates(in);
    if (!certificates) {
      return std::unexpected(certificates.error());
    }
    return std::move(*certificates);
  }
  case typeOf<CertificatesLoaded>(): {
    auto error = readText(in, MAX_ERROR, "an error message");
    if (!error) {
      return std::unexpected(error.error());
    }
    return CertificatesLoaded{std::move(*error)};
  }
  default:
    return in.malformed("unknown message type " + std::to_string(type));
  }
}

} // namespace

bool fromService(const Message& message) noexcept {
  return std::holds_alternative<SessionCreated>(message) || std::holds_alternative<SessionRemoved>(message) ||
         std::holds_alternative<Started>(message) || std::holds_alternative<CertificatesLoaded>(message);
}

sys::SecretBuffer encode(const Message& message) {
  sys::WireWriter out;
  // The header and any fixed-size body in one allocation; a record's or keyring's bytes
  // grow it once more.
  out.reserve(64);
  out.u8(VERSION);
  out.u8(static_cast<std::uint8_t>(message.index()));
  std::visit(
      [&out](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, SessionCreated>) {
          writeU64(out, body.number);
          writeSessionRecord(out, body.record);
        } else if constexpr (std::is_same_v<T, SessionRemoved>) {
          writeId(out, body.id);
        } else if constexpr (std::is_same_v<T, ImportSession>) {
          writeSessionRecord(out, body.record);
        } else if constexpr (std::is_same_v<T, Keyring>) {
          writeBlob(out, body.keys);
        } else if constexpr (std::is_same_v<T, Certificates>) {
          out.u32(static_cast<std::uint32_t>(body.certificates.size()));
          for (const auto& pem : body.certificates) {
            writeBlob(out, pem.chain_path.string());
            writeBlob(out, pem.key_path.string());
            writeBlob(out, pem.chain);
            writeBlob(out, pem.key);
          }
        } else if constexpr (std::is_same_v<T, CertificatesLoaded>) {
          writeBlob(out, body.error);
        } else if constexpr (std::is_same_v<T, Confirmed> || std::is_same_v<T, Abandoned>) {
          writeU64(out, body.through);
        } else if constexpr (std::is_same_v<T, Drain>) {
          out.u32(body.bound_ms);
        }
      },
      message);
  return std::move(out.data());
}

sys::Result<Message> decode(std::span<const std::uint8_t> datagram) {
  sys::WireReader in(datagram, "TLS service channel message");
  if (datagram.size() > MAX_MESSAGE) {
    return in.malformed("longer than " + std::to_string(MAX_MESSAGE) + " bytes");
  }
  auto version = in.u8();
  if (!version) {
    return std::unexpected(version.error());
  }
  if (*version != VERSION) {
    return in.malformed("version " + std::to_string(*version) + " (this build speaks " + std::to_string(VERSION) +
                        ")");
  }
  auto type = in.u8();
  if (!type) {
    return std::unexpected(type.error());
  }
  auto message = readBody(*type, datagram, in);
  if (message && in.remaining() != 0) {
    return in.malformed(std::to_string(in.remaining()) + " bytes after the message");
  }
  return message;
}

sys::Status sendDatagram(int fd, std::span<const std::uint8_t> datagram) {
  if (::send(fd, datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    return std::unexpected(sys::systemError("sending on the TLS service channel"));
  }
  return {};
}

sys::Result<std::size_t> sendDatagrams(int fd, std::span<const sys::SecretBuffer> datagrams) {
  constexpr std::size_t MAX_PER_CALL = 64;
  std::size_t sent = 0;
  while (sent < datagrams.size()) {
    std::array<iovec, MAX_PER_CALL> pieces{};
    std::array<mmsghdr, MAX_PER_CALL> headers{};
    const auto count = std::min(MAX_PER_CALL, datagrams.size() - sent);
    for (std::size_t i = 0; i < count; ++i) {
      auto& datagram = datagrams[sent + i];
      pieces[i] = {const_cast<std::uint8_t*>(datagram.data()), datagram.size()};
      headers[i].msg_hdr.msg_iov = &pieces[i];
      headers[i].msg_hdr.msg_iovlen = 1;
    }
    const int done = ::sendmmsg(fd, headers.data(), static_cast<unsigned>(count), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (done < 0) {
      if (sent > 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return sent;
      }
      return std::unexpected(sys::systemError("sending on the TLS service channel"));
    }
    sent += static_cast<std::size_t>(done);
    if (static_cast<std::size_t>(done) < count) {
      break; // the socket's buffer is full
    }
  }
  return sent;
}

sys::Result<bool> receive(int fd, sys::SecretBuffer& buffer, Message& message) {
  // One byte more than the largest message, so that an oversized one shows as such (MSG_TRUNC
  // gives its real length).
  buffer.resize(MAX_MESSAGE + 1);
  const auto length = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT | MSG_TRUNC);
  if (length < 0) {
    if (errno == EAGAIN || errno == EINTR) {
      return false;
    }
    return std::unexpected(sys::systemError("receiving on the TLS service channel"));
  }
  if (length == 0) {
    return sys::fail(sys::Errc::Unavailable, "the TLS service channel was closed by the other side");
  }
  if (static_cast<std::size_t>(length) > MAX_MESSAGE) {
    return sys::fail(sys::Errc::Protocol, "TLS service channel message of " + std::to_string(length) +
                                              " bytes (at most " + std::to_string(MAX_MESSAGE) + ")");
  }
  auto decoded = decode(std::span(buffer.data(), static_cast<std::size_t>(length)));
  if (!decoded) {
    return std::unexpected(decoded.error());
  }
  message = std::move(*decoded);
  return true;
}

} // namespace failover::tls::channel
