#pragma once

#include "sys/error.h"
#include "sys/secret_buffer.h"
#include "tls/context.h"
#include "tls/session_cache.h"

#include <cstdint>
#include <variant>
#include <vector>

namespace failover::tls::channel {

// The channel between the privileged agent and the unprivileged TLS service process: one
// AF_UNIX SOCK_SEQPACKET socketpair, one message per datagram (the kernel keeps the
// boundaries, so a message is never split or merged). Every message is
//   u8 version=1 | u8 type | body
// and every body field is length-checked by decode(), the only decoder. Whatever is left
// over after a body is an error too: the agent cuts off a TLS process that sends anything
// decode() refuses, or a message of the wrong direction, and restarts it.
inline constexpr std::uint8_t VERSION = 1;
// The largest datagram either side sends or accepts: a session record is at most ~16.5 KiB,
// a keyring export a few hundred bytes, the certificates of a reload (a directory of them,
// chains and keys in PEM) the most.
inline constexpr std::size_t MAX_MESSAGE = 4 * 1024 * 1024;
inline constexpr std::size_t MAX_CERTIFICATES = 4096;
inline constexpr std::size_t MAX_PATH = 4096;
inline constexpr std::size_t MAX_PEM = 1024 * 1024;
inline constexpr std::size_t MAX_ERROR = 4096;

// TLS process -> agent. A session a handshake created, numbered 1, 2, 3, ... in the order
// sent (sync mode confirms by number).
struct SessionCreated {
  std::uint64_t number = 0;
  SessionRecord record;
  friend bool operator==(const SessionCreated&, const SessionCreated&) = default;
};
// TLS process -> agent (a single-use 0-RTT session was taken), and agent -> TLS process
// (the cluster forgot it).
struct SessionRemoved {
  std::vector<std::uint8_t> id;
  friend bool operator==(const SessionRemoved&, const SessionRemoved&) = default;
};
// TLS process -> agent: the workers run; the cache and keyring were seeded first.
struct Started {
  friend bool operator==(const Started&, const Started&) = default;
};

// Agent -> TLS process: a session from another member, or the seed after a start. The process
// checks its DER (the agent does not parse it) and drops what does not import.
struct ImportSession {
  SessionRecord record;
  friend bool operator==(const ImportSession&, const ImportSession&) = default;
};
// Agent -> TLS process: the whole ticket keyring (TicketKeyring::exportKeys), after every
// rotation, import or expiry.
struct Keyring {
  sys::SecretBuffer keys;
  friend bool operator==(const Keyring&, const Keyring&) = default;
};
// Agent -> TLS process: the seed (keyring, then every session) is complete: start serving.
struct Seeded {
  friend bool operator==(const Seeded&, const Seeded&) = default;
};
// Agent -> TLS process, sync mode: sessions through `number` (the TLS process's numbers) are
// on every member, or never will be.
struct Confirmed {
  std::uint64_t through = 0;
  friend bool operator==(const Confirmed&, const Confirmed&) = default;
};
struct Abandoned {
  std::uint64_t through = 0;
  friend bool operator==(const Abandoned&, const Abandoned&) = default;
};
// Agent -> TLS process: close idle connections, busy ones after their response; keep serving.
struct CloseConnections {
  friend bool operator==(const CloseConnections&, const CloseConnections&) = default;
};
// Agent -> TLS process: stop accepting, let connections finish for at most bound_ms, exit.
struct Drain {
  std::uint32_t bound_ms = 0;
  friend bool operator==(const Drain&, const Drain&) = default;
};

// Agent -> TLS process: a reload's certificates, read by the agent (the process cannot read
// the files): new connections use them, open ones keep theirs.
struct Certificates {
  std::vector<CertificatePem> certificates;
  friend bool operator==(const Certificates&, const Certificates&) = default;
};
// TLS process -> agent: the answer to Certificates; empty when they are in use.
struct CertificatesLoaded {
  std::string error;
  friend bool operator==(const CertificatesLoaded&, const CertificatesLoaded&) = default;
};

using Message = std::variant<SessionCreated, SessionRemoved, Started, ImportSession, Keyring, Seeded, Confirmed,
                             Abandoned, CloseConnections, Drain, Certificates, CertificatesLoaded>;

// Whether the TLS process may send it (the agent refuses the others from it).
bool fromService(const Message& message) noexcept;

sys::SecretBuffer encode(const Message& message);
sys::Result<Message> decode(std::span<const std::uint8_t> datagram);

// One datagram, without blocking (MSG_DONTWAIT): an error with sys_errno EAGAIN when the
// socket's buffer is full.
sys::Status sendDatagram(int fd, std::span<const std::uint8_t> datagram);
// Datagrams in order, in one system call where the socket takes them all: how many were sent
// (the rest did not fit: EAGAIN), or the error that stopped the first.
sys::Result<std::size_t> sendDatagrams(int fd, std::span<const sys::SecretBuffer> datagrams);
// The next message into `message`: true, or false when none is waiting. The peer having
// closed its end is an Unavailable error; a datagram decode() refuses is a Protocol error
// saying why. `buffer` is the caller's, reused from call to call (it holds secrets, and wipes
// them when freed).
sys::Result<bool> receive(int fd, sys::SecretBuffer& buffer, Message& message);

} // namespace failover::tls::channel
