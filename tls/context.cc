#include "tls/context.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <fstream>
#include <ctime>

namespace failover::tls {

using sys::Errc;
using sys::fail;

namespace {

// TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3 suites are all AEAD already.
constexpr const char* TLS12_CIPHERS =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* GROUPS = "X25519:P-256";
constexpr std::uint32_t MAX_EARLY_DATA = 16384;

int contextIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int factsIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

TlsContext* ownerOf(SSL_CTX* ctx) {
  return static_cast<TlsContext*>(SSL_CTX_get_ex_data(ctx, contextIndex()));
}

// Every context of a listener points to the same owner, so whichever context OpenSSL uses
// for a callback (the initial one for caching and tickets, the SNI one otherwise) finds it.
TlsContext* ownerOf(SSL* ssl) { return ownerOf(SSL_get_SSL_CTX(ssl)); }

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

int onServerName(SSL* ssl, int* alert, void*) noexcept {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  auto* owner = ownerOf(ssl);
  if (name == nullptr || owner == nullptr) {
    return SSL_TLSEXT_ERR_OK;
  }
  SSL_CTX* ctx = owner->contextFor(name);
  if (ctx == nullptr) {
    TlsCounters::add(owner->counters().unknown_server_names);
    if (owner->settings().reject_unknown_names) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
  }
  if (ctx != SSL_get_SSL_CTX(ssl)) {
    SSL_set_SSL_CTX(ssl, ctx);
  }
  return SSL_TLSEXT_ERR_OK;
}

// The first of our protocols (in our order of preference) that the client offers.
int onAlpn(SSL* ssl, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
           unsigned int in_length, void*) noexcept {
  const auto* owner = ownerOf(ssl);
  const std::string_view ours = owner->alpnWire();
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, reinterpret_cast<const unsigned char*>(ours.data()),
                            static_cast<unsigned int>(ours.size()), in, in_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL; // RFC 7301 3.2: no_application_protocol
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

bool setTicketMac(EVP_MAC_CTX* mac, const TicketKey& key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                        const_cast<std::uint8_t*>(key.hmac.view().data()),
                                        key.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(mac, params) == 1;
}

// RFC 5077 tickets under the shared keyring: encrypt with the current key; decrypt with any
// known key, asking OpenSSL to renew (return 2) a ticket under a key that is not current.
int onTicketKey(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                EVP_MAC_CTX* mac, int encrypt) noexcept {
  auto* owner = ownerOf(ssl);
  if (owner == nullptr) {
    return -1;
  }
  if (encrypt != 0) {
    bool ok = false;
    owner->keyring().withCurrent([&](const TicketKey& key) {
      std::memcpy(key_name, key.name.data(), key.name.size());
      ok = RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) == 1 &&
           EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.view().data(), iv) == 1 &&
           setTicketMac(mac, key);
    });
    // 0: issue no ticket (the handshake goes on); the keyring is empty or crypto failed.
    return ok ? 1 : 0;
  }
  int result = 0;
  const bool known = owner->keyring().withKey(std::span(key_name, 16), [&](const TicketKey& key,
                                                                            bool current) {
    if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.view().data(), iv) == 1 &&
        setTicketMac(mac, key)) {
      result = current ? 1 : 2;
    }
  });
  if (!known || result == 0) {
    TlsCounters::add(owner->counters().ticket_decrypt_failures);
    return 0; // a full handshake follows
  }
  if (result == 2) {
    TlsCounters::add(owner->counters().ticket_renewals);
  }
  if (auto* facts = TlsContext::factsOf(ssl)) {
    facts->resumed_from_ticket = true;
  }
  return result;
}

int onNewSession(SSL* ssl, SSL_SESSION* session) noexcept {
  auto* owner = ownerOf(ssl);
  if (owner == nullptr) {
    return 0;
  }
  // A TLS 1.3 stateless ticket carries the whole session: there is nothing to store, and its
  // "session ID" names nothing another node could look up.
  const auto& settings = owner->settings();
  if (SSL_version(ssl) == TLS1_3_VERSION && settings.session_tickets && !settings.early_data) {
    return 0;
  }
  try {
    unsigned int id_length = 0;
    const unsigned char* id = SSL_SESSION_get_id(session, &id_length);
    const int der_length = i2d_SSL_SESSION(session, nullptr);
    if (id_length == 0 || der_length <= 0) {
      return 0;
    }
    SessionRecord record;
    record.id.assign(id, id + id_length);
    record.der.resize(static_cast<std::size_t>(der_length));
    unsigned char* out = record.der.data();
    i2d_SSL_SESSION(session, &out);
    record.expires_at = static_cast<std::int64_t>(SSL_SESSION_get_time(session)) +
                        static_cast<std::int64_t>(SSL_SESSION_get_timeout(session));
    if (owner->cache().insert(record, now()) && owner->hooks() != nullptr) {
      const auto number = owner->hooks()->sessionCreated(record);
      if (auto* facts = TlsContext::factsOf(ssl)) {
        facts->session_created = true;
        facts->session_number = std::max(facts->session_number, number);
      }
    }
  } catch (...) {
    // Out of memory: the session is simply not cached (and so cannot resume anywhere).
  }
  return 0; // we keep no reference to `session`
}

SSL_SESSION* onGetSession(SSL* ssl, const unsigned char* id, int id_length, int* copy) noexcept {
  *copy = 0; // OpenSSL owns the session we return; with 1 it would leak a reference
  auto* owner = ownerOf(ssl);
  if (owner == nullptr || id_length <= 0) {
    return nullptr;
  }
  try {
    const std::span<const std::uint8_t> key(id, static_cast<std::size_t>(id_length));
    const bool single_use = owner->settings().early_data && SSL_version(ssl) == TLS1_3_VERSION;
    auto der = single_use ? owner->cache().take(key, now()) : owner->cache().lookup(key, now());
    if (!der) {
      return nullptr;
    }
    if (single_use && owner->hooks() != nullptr) {
      owner->hooks()->sessionRemoved(key);
    }
    const unsigned char* in = der->data();
    SSL_SESSION* session = d2i_SSL_SESSION(nullptr, &in, static_cast<long>(der->size()));
    if (session != nullptr) {
      if (auto* facts = TlsContext::factsOf(ssl)) {
        facts->resumed_from_cache = true;
      }
    }
    return session;
  } catch (...) {
    return nullptr;
  }
}

void onRemoveSession(SSL_CTX* ctx, SSL_SESSION* session) noexcept {
  auto* owner = ownerOf(ctx);
  if (owner == nullptr) {
    return;
  }
  unsigned int id_length = 0;
  const unsigned char* id = SSL_SESSION_get_id(session, &id_length);
  const std::span<const std::uint8_t> key(id, id_length);
  if (owner->cache().remove(key) && owner->hooks() != nullptr) {
    owner->hooks()->sessionRemoved(key);
  }
}

std::vector<std::string> dnsNames(X509* certificate) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type == GEN_DNS) {
        const auto* text = ASN1_STRING_get0_data(name->d.dNSName);
        names.emplace_back(reinterpret_cast<const char*>(text),
                           static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)));
      }
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    // No subjectAltName: fall back to the subject's common name, as older certificates need.
    char common_name[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, common_name,
                                  sizeof common_name) > 0) {
      names.emplace_back(common_name);
    }
  }
  for (auto& name : names) {
    for (auto& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return names;
}

// What the context needs from a chain's leaf: the names it serves and when it expires.
struct Leaf {
  std::vector<std::string> names;
  std::int64_t not_after = 0; // Unix time
};

BioPtr memoryBio(std::span<const std::uint8_t> bytes) {
  return BioPtr(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

BioPtr memoryBio(std::string_view text) {
  return memoryBio(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

sys::Result<Leaf> leafOf(const CertificatePem& pem) {
  const auto bio = memoryBio(pem.chain);
  X509Ptr certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!certificate) {
    return fail(Errc::InvalidArgument, openSslErrors("no PEM certificate in " + pem.chain_path.string()));
  }
  Leaf leaf{dnsNames(certificate.get())};
  if (leaf.names.empty()) {
    return fail(Errc::InvalidArgument, pem.chain_path.string() + " names no host (no DNS subjectAltName or CN)");
  }
  std::tm not_after{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(certificate.get()), &not_after) != 1) {
    return fail(Errc::InvalidArgument, openSslErrors("unreadable notAfter in " + pem.chain_path.string()));
  }
  leaf.not_after = timegm(&not_after);
  return leaf;
}

// The leaf, its intermediates and its key into the context, as SSL_CTX_use_certificate_chain_file
// and SSL_CTX_use_PrivateKey_file would from the files.
sys::Status useCertificate(SSL_CTX* c, const CertificatePem& pem) {
  const auto chain = memoryBio(pem.chain);
  X509Ptr leaf(PEM_read_bio_X509_AUX(chain.get(), nullptr, nullptr, nullptr));
  if (!leaf || SSL_CTX_use_certificate(c, leaf.get()) != 1 || SSL_CTX_clear_chain_certs(c) != 1) {
    return fail(Errc::InvalidArgument, openSslErrors("cannot load certificate chain " + pem.chain_path.string()));
  }
  while (X509Ptr intermediate{PEM_read_bio_X509(chain.get(), nullptr, nullptr, nullptr)}) {
    if (SSL_CTX_add1_chain_cert(c, intermediate.get()) != 1) {
      return fail(Errc::InvalidArgument, openSslErrors("cannot load certificate chain " + pem.chain_path.string()));
    }
  }
  ERR_clear_error(); // the end of the PEM data, which is what ended the loop
  const auto key_bio = memoryBio(std::span<const std::uint8_t>(pem.key));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key || SSL_CTX_use_PrivateKey(c, key.get()) != 1) {
    return fail(Errc::InvalidArgument, openSslErrors("cannot load private key " + pem.key_path.string()));
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    return fail(Errc::InvalidArgument, openSslErrors("private key " + pem.key_path.string() + " does not match " +
                                                     pem.chain_path.string()));
  }
  return {};
}

// A whole file, into a std::string or (a key) a sys::SecretBuffer, which wipes every copy.
template <typename Bytes> sys::Result<Bytes> readWhole(const std::filesystem::path& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(Errc::NotFound, std::string("cannot open ") + what + " " + path.string());
  }
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

} // namespace

std::string openSslErrors(std::string_view what) {
  std::string text(what);
  bool first = true;
  while (const unsigned long code = ERR_get_error()) {
    char reason[256];
    ERR_error_string_n(code, reason, sizeof reason);
    text += first ? ": " : "; ";
    text += reason;
    first = false;
  }
  return text;
}

TlsContext::HandshakeFacts* TlsContext::factsOf(SSL* ssl) noexcept {
  return static_cast<HandshakeFacts*>(SSL_get_ex_data(ssl, factsIndex()));
}

void TlsContext::attachFacts(SSL* ssl, HandshakeFacts* facts) noexcept {
  SSL_set_ex_data(ssl, factsIndex(), facts);
}

sys::Result<std::vector<CertificatePem>> readCertificates(const TlsSettings& settings) {
  auto files = settings.certificates;
  if (!settings.certificate_directory.empty()) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(settings.certificate_directory, ec)) {
      if (entry.path().extension() == ".crt") {
        auto key = entry.path();
        key.replace_extension(".key");
        if (std::filesystem::exists(key)) {
          files.push_back({entry.path(), key});
        }
      }
    }
    if (ec) {
      return fail(Errc::NotFound, "cannot read certificate directory " + settings.certificate_directory.string() +
                                      ": " + ec.message());
    }
  }
  std::vector<CertificatePem> certificates;
  for (const auto& pair : files) {
    auto chain = readWhole<std::string>(pair.chain, "certificate");
    if (!chain) {
      return std::unexpected(chain.error());
    }
    auto key = readWhole<sys::SecretBuffer>(pair.key, "private key");
    if (!key) {
      return std::unexpected(key.error());
    }
    certificates.push_back({pair.chain, pair.key, std::move(*chain), std::move(*key)});
  }
  return certificates;
}

sys::Result<std::unique_ptr<TlsContext>> TlsContext::create(const TlsSettings& settings, SessionCache& cache,
                                                            TicketKeyring& keyring, TlsCounters& counters,
                                                            SessionHooks* hooks) {
  auto certificates = readCertificates(settings);
  if (!certificates) {
    return std::unexpected(certificates.error());
  }
  return create(settings, *certificates, cache, keyring, counters, hooks);
}

sys::Result<std::unique_ptr<TlsContext>> TlsContext::create(const TlsSettings& settings,
                                                            const std::vector<CertificatePem>& certificates,
                                                            SessionCache& cache, TicketKeyring& keyring,
                                                            TlsCounters& counters, SessionHooks* hooks) {
  std::unique_ptr<TlsContext> self(new TlsContext(settings, cache, keyring, counters, hooks));
  if (settings.alpn.empty()) {
    return fail(Errc::InvalidArgument, "no ALPN protocol to offer: give h2, http/1.1 or both");
  }
  for (const auto& protocol : settings.alpn) {
    if (protocol != ALPN_HTTP2 && protocol != ALPN_HTTP11) {
      return fail(Errc::InvalidArgument, "ALPN protocol '" + protocol + "' is not served: give h2 or http/1.1");
    }
    self->alpn_wire_ += static_cast<char>(protocol.size());
    self->alpn_wire_ += protocol;
  }
  if (certificates.empty()) {
    return fail(Errc::InvalidArgument, "no certificate configured");
  }

  std::map<std::string, std::vector<const CertificatePem*>> by_name;
  std::string default_name;
  for (const auto& files : certificates) {
    auto leaf = leafOf(files);
    if (!leaf) {
      return std::unexpected(leaf.error());
    }
    if (default_name.empty()) {
      default_name = leaf->names.front();
    }
    for (const auto& name : leaf->names) {
      by_name[name].push_back(&files);
    }
    self->certificates_.push_back({files.chain_path, leaf->not_after});
  }

  for (const auto& [name, files_list] : by_name) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
      return fail(Errc::Crypto, openSslErrors("SSL_CTX_new"));
    }
    SSL_CTX* c = ctx.get();
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
    const bool stateful = !settings.session_tickets || settings.early_data;
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | (stateful ? SSL_OP_NO_TICKET : 0) |
                               (settings.early_data ? SSL_OP_NO_ANTI_REPLAY : 0));
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) != 1 || SSL_CTX_set1_groups_list(c, GROUPS) != 1) {
      return fail(Errc::Crypto, openSslErrors("cannot set the TLS cipher suites or groups"));
    }
    for (const auto* pem : files_list) {
      if (auto used = useCertificate(c, *pem); !used) {
        return std::unexpected(used.error());
      }
    }
    const auto& sid = settings.session_id_context;
    if (SSL_CTX_set_session_id_context(c, reinterpret_cast<const unsigned char*>(sid.data()),
                                       static_cast<unsigned int>(sid.size())) != 1) {
      return fail(Errc::InvalidArgument, "session ID context longer than 32 bytes");
    }
    // OpenSSL's own cache is off: every session lives in (and leaves through) ours.
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_set_timeout(c, static_cast<long>(settings.session_timeout.count()));
    if (settings.early_data) {
      SSL_CTX_set_max_early_data(c, MAX_EARLY_DATA);
      SSL_CTX_set_recv_max_early_data(c, MAX_EARLY_DATA);
    }
    SSL_CTX_sess_set_new_cb(c, onNewSession);
    SSL_CTX_sess_set_get_cb(c, onGetSession);
    SSL_CTX_sess_set_remove_cb(c, onRemoveSession);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(c, onTicketKey);
    // The SSL_CTX_set_tlsext_servername_callback macro hides this cast (an old-style one).
    SSL_CTX_callback_ctrl(c, SSL_CTRL_SET_TLSEXT_SERVERNAME_CB,
                          reinterpret_cast<void (*)()>(onServerName));
    SSL_CTX_set_alpn_select_cb(c, onAlpn, nullptr);
    SSL_CTX_set_ex_data(c, contextIndex(), self.get());
    if (name == default_name) {
      self->default_ = c;
    }
    self->by_name_.emplace(name, std::move(ctx));
  }
  return self;
}

TlsContext::~TlsContext() = default;

std::vector<std::string> TlsContext::serverNames() const {
  std::vector<std::string> names;
  for (const auto& [name, ctx] : by_name_) {
    names.push_back(name);
  }
  return names;
}

SSL_CTX* TlsContext::contextFor(std::string_view server_name) const {
  std::string name(server_name);
  for (auto& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    return it->second.get();
  }
  if (const auto dot = name.find('.'); dot != std::string::npos) {
    if (auto it = by_name_.find("*" + name.substr(dot)); it != by_name_.end()) {
      return it->second.get();
    }
  }
  return nullptr;
}

sys::Status TlsContext::importSession(const SessionRecord& record, std::int64_t at) {
  const auto reject = [&](const std::string& why) -> sys::Status {
    TlsCounters::add(counters_.sessions_rejected);
    return fail(Errc::Protocol, "session record rejected: " + why);
  };
  const unsigned char* in = record.der.data();
  SslSessionPtr session(d2i_SSL_SESSION(nullptr, &in, static_cast<long>(record.der.size())));
  if (!session || in != record.der.data() + record.der.size()) {
    ERR_clear_error();
    return reject("its DER is not an SSL_SESSION");
  }
  unsigned int id_length = 0;
  const unsigned char* id = SSL_SESSION_get_id(session.get(), &id_length);
  if (id_length != record.id.size() || std::memcmp(id, record.id.data(), id_length) != 0) {
    return reject("its ID does not match the session it carries");
  }
  unsigned int context_length = 0;
  const unsigned char* context = SSL_SESSION_get0_id_context(session.get(), &context_length);
  const auto& ours = settings_.session_id_context;
  if (context_length != ours.size() || std::memcmp(context, ours.data(), context_length) != 0) {
    return reject("it belongs to another session-ID context");
  }
  if (!cache_.insert(record, at)) {
    return reject("it has expired or does not fit the cache");
  }
  TlsCounters::add(counters_.sessions_imported);
  return {};
}

} // namespace failover::tls
