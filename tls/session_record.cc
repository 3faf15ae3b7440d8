#include "tls/session_record.h"


namespace failover::tls {

void writeSessionRecord(sys::WireWriter& out, const SessionRecord& record) {
  out.u8(SESSION_RECORD_VERSION);
  out.u8(static_cast<std::uint8_t>(record.id.size()));
  out.bytes(record.id);
  out.i64(record.expires_at);
  out.u32(static_cast<std::uint32_t>(record.der.size()));
  out.bytes(record.der);
}

sys::Result<DecodedSessionRecord> decodeSessionRecord(std::span<const std::uint8_t> data) {
  sys::WireReader in(data, "session record");
  auto version = in.u8();
  if (!version) {
    return std::unexpected(version.error());
  }
  if (*version != SESSION_RECORD_VERSION) {
    return in.malformed("version " + std::to_string(*version) + " is not supported (expected " +
                        std::to_string(SESSION_RECORD_VERSION) + ")");
  }
  auto id_length = in.u8();
  if (!id_length) {
    return std::unexpected(id_length.error());
  }
  if (*id_length == 0 || *id_length > SessionCache::MAX_ID) {
    return in.malformed("session ID length " + std::to_string(*id_length) + " is not 1-32");
  }
  auto id = in.bytes(*id_length);
  auto expires_at = id ? in.i64() : std::unexpected(id.error());
  auto der_length = expires_at ? in.u32() : std::unexpected(expires_at.error());
  if (!der_length) {
    return std::unexpected(der_length.error());
  }
  if (*der_length == 0 || *der_length > MAX_SESSION_DER) {
    return in.malformed("DER length " + std::to_string(*der_length) + " is not 1-16384");
  }
  auto der = in.bytes(*der_length);
  if (!der) {
    return std::unexpected(der.error());
  }
  DecodedSessionRecord decoded;
  decoded.record.id.assign(id->begin(), id->end());
  decoded.record.expires_at = *expires_at;
  decoded.record.der.assign(der->begin(), der->end());
  decoded.consumed = in.consumed();
  return decoded;
}

sys::SecretBuffer encodeSessionRecords(const std::vector<SessionRecord>& records) {
  sys::WireWriter out;
  for (const auto& record : records) {
    writeSessionRecord(out, record);
  }
  return std::move(out.data());
}

sys::Result<std::vector<SessionRecord>> decodeSessionRecords(std::span<const std::uint8_t> data) {
  std::vector<SessionRecord> records;
  while (!data.empty()) {
    auto decoded = decodeSessionRecord(data);
    if (!decoded) {
      decoded.error().message += " (record " + std::to_string(records.size() + 1) + ")";
      return std::unexpected(decoded.error());
    }
    records.push_back(std::move(decoded->record));
    data = data.subspan(decoded->consumed);
  }
  return records;
}

} // namespace failover::tls
