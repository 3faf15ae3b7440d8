#pragma once

#include "sys/error.h"
#include "sys/wire.h"
#include "tls/session_cache.h"

#include <span>
#include <vector>

namespace failover::tls {

// The session record wire format (version 1), used for export/import and replication:
//   u8 version=1 | u8 id_len (1-32) | id | i64 expires_at (Unix s, BE) | u32 der_len
//   (1-16384) | der
inline constexpr std::uint8_t SESSION_RECORD_VERSION = 1;
inline constexpr std::size_t MAX_SESSION_DER = 16384;

// Writes one record straight into `out` (no intermediate copy of the DER).
void writeSessionRecord(sys::WireWriter& out, const SessionRecord& record);

struct DecodedSessionRecord {
  SessionRecord record;
  std::size_t consumed = 0;
};
// Decodes one record from the front of data. Checks the version and every length; does not
// parse the DER (importSession does, with OpenSSL).
sys::Result<DecodedSessionRecord> decodeSessionRecord(std::span<const std::uint8_t> data);

// A sequence of records (an export file).
sys::SecretBuffer encodeSessionRecords(const std::vector<SessionRecord>& records);
sys::Result<std::vector<SessionRecord>> decodeSessionRecords(std::span<const std::uint8_t> data);

} // namespace failover::tls
