#pragma once

#include "sys/c_deleter.h"
#include "sys/error.h"
#include "tls/counters.h"
#include "tls/http.h"

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace failover::tls {

using Nghttp2SessionPtr = std::unique_ptr<nghttp2_session, sys::CDeleter<nghttp2_session_del>>;

// The server side of one HTTP/2 connection, on libnghttp2: the connection hands it the
// plaintext it read and sends what it produces; it never sees the socket or TLS. It answers
// GET and HEAD from the static files (with the HTTP/1.1 responder's security headers), or,
// without files, every request with one fixed status (the relay's 502 when its backend is
// down). Framing, HPACK, flow control and stream state are the library's; the limits are its
// defaults plus at most MAX_STREAMS concurrent streams, so memory per connection is bounded.
class Http2Server {
public:
  static constexpr std::uint32_t MAX_STREAMS = 100;

  // files may be null: then every request, whatever its method, gets `fixed_status`, and the
  // connection is shut (GOAWAY) once the input holding the first request is answered, so the
  // client's next request opens a new one. Fails only when out of memory.
  static sys::Result<std::unique_ptr<Http2Server>> create(const StaticFiles* files,
                                                          int fixed_status, TlsCounters& counters);
  Http2Server(const Http2Server&) = delete;
  Http2Server& operator=(const Http2Server&) = delete;

  // Takes all of input; false when it is not HTTP/2 at all (close now). Other protocol errors
  // queue a GOAWAY that names them (counted when sent), after which finished() is true.
  bool receive(std::string_view input);
  // Appends frames to out while out holds less than `limit` bytes and something is pending;
  // false on an internal error (close the connection).
  bool send(std::string& out, std::size_t limit);
  // Graceful shutdown: GOAWAY naming the last stream taken; open streams run to their end.
  void goAway();
  // Frames are waiting for send() (and the flow-control windows let them go).
  bool wantsWrite() const { return nghttp2_session_want_write(session_.get()) != 0; }
  // Nothing more to read or write: the connection may close.
  bool finished() const;
  // A stream is open (a request read but its answer not fully sent).
  bool busy() const { return !streams_.empty(); }

private:
  struct Stream {
    std::string method;
    std::string path;
    std::string_view body; // into files_ or into error_body_, sent from `sent` on
    std::size_t sent = 0;
  };

  Http2Server(const StaticFiles* files, int fixed_status, TlsCounters& counters);
  static int onFrameSent(nghttp2_session*, const nghttp2_frame* frame, void* self) noexcept;
  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self) noexcept;
  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                      std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                      std::uint8_t flags, void* self) noexcept;
  static int onFrameReceived(nghttp2_session*, const nghttp2_frame* frame, void* self) noexcept;
  static int onStreamClosed(nghttp2_session*, std::int32_t stream_id, std::uint32_t error, void* self) noexcept;
  static ssize_t readBody(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buffer, std::size_t length,
                          std::uint32_t* flags, nghttp2_data_source* source, void* self) noexcept;
  int answer(std::int32_t stream_id, Stream& stream);

  const StaticFiles* files_;
  int fixed_status_;
  std::string error_body_;
  TlsCounters& counters_;
  Nghttp2SessionPtr session_;
  std::map<std::int32_t, Stream> streams_;
  bool going_away_ = false;
  bool answered_ = false;
};

} // namespace failover::tls
