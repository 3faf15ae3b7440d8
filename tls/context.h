#pragma once

#include "sys/error.h"
#include "sys/secret_buffer.h"
#include "tls/counters.h"
#include "tls/openssl_ptr.h"
#include "tls/session_cache.h"
#include "tls/session_hooks.h"
#include "tls/ticket_keys.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace failover::tls {

struct CertificateFiles {
  std::filesystem::path chain; // PEM: the certificate, then its intermediates
  std::filesystem::path key;   // PEM private key (RSA or ECDSA)
};

struct TlsSettings {
  // Must be identical on every node (OpenSSL refuses to resume a session from another context).
  std::string session_id_context = "failoverd";
  // On: TLS 1.2 tickets and TLS 1.3 stateless tickets (the keyring). Off: TLS 1.2 session IDs
  // and TLS 1.3 stateful tickets (the session cache). Either way both are replicated.
  bool session_tickets = true;
  std::chrono::seconds session_timeout{300};
  // Server names come from each certificate's subjectAltName DNS entries (wildcards match one
  // label). Several certificates may serve one name (RSA and ECDSA): OpenSSL picks the one
  // the client's signature algorithms allow. The first certificate's names are the default.
  std::vector<CertificateFiles> certificates;
  // Every NAME.crt with a NAME.key beside it in this directory is added as well.
  std::filesystem::path certificate_directory;
  // An SNI name no certificate covers: false = serve the default, true = unrecognized_name alert.
  bool reject_unknown_names = false;
  // Accept TLS 1.3 0-RTT data (up to 16 KiB) on resumption. 0-RTT can be replayed, so every
  // TLS 1.3 ticket becomes stateful and single-use: the first resumption takes the session
  // out of the cache, and the removal reaches SessionHooks so that the cluster forgets it too.
  // (OpenSSL's own anti-replay check needs its internal cache, which ours replaces.)
  bool early_data = false;
  // The application protocols offered in ALPN, in this server's order of preference: "h2"
  // and/or "http/1.1". A client that offers none of them is refused (no_application_protocol);
  // one that sends no ALPN at all gets HTTP/1.1.
  std::vector<std::string> alpn{"http/1.1"};
};

// A certificate chain and its private key as read from their files: what a context is built
// from. The unprivileged TLS service process cannot read the files; the agent sends it these.
struct CertificatePem {
  std::filesystem::path chain_path; // where they came from: for messages and the status
  std::filesystem::path key_path;
  std::string chain;     // PEM: the certificate, then its intermediates
  sys::SecretBuffer key; // PEM private key
  friend bool operator==(const CertificatePem&, const CertificatePem&) = default;
};

// Reads every certificate the settings name: the listed pairs, then the directory's.
sys::Result<std::vector<CertificatePem>> readCertificates(const TlsSettings& settings);

inline constexpr std::string_view ALPN_HTTP2 = "h2";
inline constexpr std::string_view ALPN_HTTP11 = "http/1.1";

// The SSL_CTXs of one listener: one per server name, all sharing one session-ID context,
// one session cache and one ticket keyring, so a session resumes whatever name it is for.
class TlsContext {
public:
  // Built from the certificates given (the settings' files are not read).
  static sys::Result<std::unique_ptr<TlsContext>> create(const TlsSettings& settings,
                                                         const std::vector<CertificatePem>& certificates,
                                                         SessionCache& cache, TicketKeyring& keyring,
                                                         TlsCounters& counters, SessionHooks* hooks);
  // Reads the settings' certificate files first (readCertificates).
  static sys::Result<std::unique_ptr<TlsContext>> create(const TlsSettings& settings,
                                                         SessionCache& cache,
                                                         TicketKeyring& keyring,
                                                         TlsCounters& counters,
                                                         SessionHooks* hooks);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // The context new connections start on (the default certificate).
  SSL_CTX* initial() const noexcept { return default_; }
  std::vector<std::string> serverNames() const;

  // Puts a record exported by another node into the cache after checking that its DER is an
  // SSL_SESSION for the same ID and this session-ID context. Counts rejections.
  sys::Status importSession(const SessionRecord& record, std::int64_t now);

  // The per-connection facts the callbacks record, kept in the SSL's ex_data.
  struct HandshakeFacts {
    bool resumed_from_cache = false;  // get-session callback found it
    bool resumed_from_ticket = false; // the ticket callback decrypted it
    bool session_created = false;     // a session went to SessionHooks (to be replicated)
    std::uint64_t session_number = 0; // the highest number SessionHooks gave it (0: none)
  };
  static HandshakeFacts* factsOf(SSL* ssl) noexcept;
  static void attachFacts(SSL* ssl, HandshakeFacts* facts) noexcept;

  struct LoadedCertificate {
    std::filesystem::path chain;
    std::int64_t not_after; // Unix time: the leaf's notAfter
  };
  // Every certificate served, once each, in the order they were loaded.
  const std::vector<LoadedCertificate>& certificates() const noexcept { return certificates_; }

  const TlsSettings& settings() const noexcept { return settings_; }
  // settings().alpn in ALPN's wire format (each name after its length byte).
  std::string_view alpnWire() const noexcept { return alpn_wire_; }
  SessionCache& cache() noexcept { return cache_; }
  TicketKeyring& keyring() noexcept { return keyring_; }
  TlsCounters& counters() noexcept { return counters_; }
  SessionHooks* hooks() noexcept { return hooks_; }

  // Finds the context for an SNI name (exact, then one-label wildcard); null if none.
  SSL_CTX* contextFor(std::string_view server_name) const;

private:
  TlsContext(TlsSettings settings, SessionCache& cache, TicketKeyring& keyring,
             TlsCounters& counters, SessionHooks* hooks)
      : settings_(std::move(settings)), cache_(cache), keyring_(keyring), counters_(counters),
        hooks_(hooks) {}

  TlsSettings settings_;
  SessionCache& cache_;
  TicketKeyring& keyring_;
  TlsCounters& counters_;
  SessionHooks* hooks_;
  std::map<std::string, SslCtxPtr, std::less<>> by_name_;
  std::vector<LoadedCertificate> certificates_;
  std::string alpn_wire_;
  SSL_CTX* default_ = nullptr;
};

// OpenSSL's error queue, drained into one line ("what: reason; reason").
std::string openSslErrors(std::string_view what);

} // namespace failover::tls
