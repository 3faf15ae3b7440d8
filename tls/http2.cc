#include "tls/http2.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

namespace failover::tls {

namespace {

using CallbacksPtr = std::unique_ptr<nghttp2_session_callbacks, sys::CDeleter<nghttp2_session_callbacks_del>>;

nghttp2_nv header(std::string_view name, std::string_view value) {
  // nghttp2 copies names and values into its own buffers before submit returns (no NO_COPY flags).
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

Http2Server* owner(void* self) { return static_cast<Http2Server*>(self); }

} // namespace

Http2Server::Http2Server(const StaticFiles* files, int fixed_status, TlsCounters& counters)
    : files_(files), fixed_status_(fixed_status), error_body_(errorBody(fixed_status)),
      counters_(counters) {}

sys::Result<std::unique_ptr<Http2Server>> Http2Server::create(const StaticFiles* files,
                                                              int fixed_status, TlsCounters& counters) {
  std::unique_ptr<Http2Server> server(new Http2Server(files, fixed_status, counters));
  nghttp2_session_callbacks* raw_callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&raw_callbacks) != 0) {
    return sys::fail(sys::Errc::System, "HTTP/2: out of memory for the session callbacks");
  }
  const CallbacksPtr callbacks(raw_callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(raw_callbacks, onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(raw_callbacks, onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(raw_callbacks, onFrameReceived);
  nghttp2_session_callbacks_set_on_stream_close_callback(raw_callbacks, onStreamClosed);
  nghttp2_session_callbacks_set_on_frame_send_callback(raw_callbacks, onFrameSent);
  nghttp2_session* session = nullptr;
  if (nghttp2_session_server_new(&session, raw_callbacks, server.get()) != 0) {
    return sys::fail(sys::Errc::System, "HTTP/2: out of memory for a session");
  }
  server->session_.reset(session);
  // nghttp2 refuses streams beyond the limit it is about to announce, also before the client
  // acknowledged it.
  const std::array<nghttp2_settings_entry, 1> settings{{{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS}}};
  if (nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings.data(), settings.size()) != 0) {
    return sys::fail(sys::Errc::System, "HTTP/2: cannot queue the server's SETTINGS");
  }
  return server;
}

bool Http2Server::receive(std::string_view input) {
  const auto taken = nghttp2_session_mem_recv(session_.get(), reinterpret_cast<const std::uint8_t*>(input.data()),
                                              input.size());
  if (taken < 0) {
    TlsCounters::add(counters_.http_errors);
    return false;
  }
  if (files_ == nullptr && answered_) {
    // After the requests this input held are answered: the client's next request opens a new
    // connection, which tries the backend again.
    goAway();
  }
  return true;
}

bool Http2Server::send(std::string& out, std::size_t limit) {
  while (out.size() < limit) {
    const std::uint8_t* data = nullptr;
    const auto length = nghttp2_session_mem_send(session_.get(), &data);
    if (length < 0) {
      return false;
    }
    if (length == 0) {
      break;
    }
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(length));
  }
  return true;
}

void Http2Server::goAway() {
  if (going_away_) {
    return;
  }
  going_away_ = true;
  nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_.get()), NGHTTP2_NO_ERROR, nullptr, 0);
}

bool Http2Server::finished() const {
  return nghttp2_session_want_read(session_.get()) == 0 && nghttp2_session_want_write(session_.get()) == 0;
}

int Http2Server::onFrameSent(nghttp2_session*, const nghttp2_frame* frame, void* self) noexcept {
  // nghttp2 answers a connection error of the client's with a GOAWAY naming it, and ends the
  // session once it is out.
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
    TlsCounters::add(owner(self)->counters_.http_errors);
  }
  return 0;
}

int Http2Server::onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self) noexcept {
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    owner(self)->streams_[frame->hd.stream_id];
  }
  return 0;
}

int Http2Server::onHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                          std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                          std::uint8_t, void* self) noexcept {
  const auto it = owner(self)->streams_.find(frame->hd.stream_id);
  if (it == owner(self)->streams_.end()) {
    return 0;
  }
  const std::string_view key(reinterpret_cast<const char*>(name), name_length);
  const std::string_view text(reinterpret_cast<const char*>(value), value_length);
  if (key == ":method") {
    it->second.method = text;
  } else if (key == ":path") {
    it->second.path = text;
  }
  return 0;
}

int Http2Server::onFrameReceived(nghttp2_session*, const nghttp2_frame* frame, void* self) noexcept {
  // A request is answered once it is complete: GET and HEAD have no body, so that is the
  // HEADERS frame that ends the stream; a request with a body is answered (405) at its end.
  if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
    return 0;
  }
  const auto it = owner(self)->streams_.find(frame->hd.stream_id);
  if (it == owner(self)->streams_.end()) {
    return 0;
  }
  return owner(self)->answer(frame->hd.stream_id, it->second);
}

int Http2Server::onStreamClosed(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* self) noexcept {
  owner(self)->streams_.erase(stream_id);
  return 0;
}

ssize_t Http2Server::readBody(nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t length,
                              std::uint32_t* flags, nghttp2_data_source* source, void*) noexcept {
  auto& stream = *static_cast<Stream*>(source->ptr);
  const auto n = std::min(length, stream.body.size() - stream.sent);
  std::memcpy(buffer, stream.body.data() + stream.sent, n);
  stream.sent += n;
  if (stream.sent == stream.body.size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return static_cast<ssize_t>(n);
}

int Http2Server::answer(std::int32_t stream_id, Stream& stream) {
  TlsCounters::add(counters_.http_requests);
  const bool head = stream.method == "HEAD";
  int status = fixed_status_;
  std::string_view content_type = "text/plain";
  if (files_ == nullptr) {
    stream.body = error_body_; // whatever the method: the relay's backend is down
  } else if (stream.method != "GET" && !head) {
    status = 405;
    stream.body = {};
  } else if (const auto* file = files_->find(stream.path)) {
    status = 200;
    content_type = file->content_type;
    stream.body = file->body;
  } else {
    static const std::string not_found = errorBody(404);
    status = 404;
    stream.body = not_found;
  }
  if (status >= 400) {
    TlsCounters::add(counters_.http_errors);
  }
  const auto status_text = std::to_string(status);
  const auto length_text = std::to_string(stream.body.size());
  std::vector<nghttp2_nv> headers{header(":status", status_text)};
  if (status == 405) {
    headers.push_back(header("allow", "GET, HEAD"));
  }
  headers.push_back(header("content-type", content_type));
  headers.push_back(header("content-length", length_text));
  if (status == 200) {
    for (const auto& [name, value] : SECURITY_HEADERS) {
      headers.push_back(header(name, value));
    }
  }
  nghttp2_data_provider body{};
  body.source.ptr = &stream;
  body.read_callback = readBody;
  const bool with_body = !head && !stream.body.empty();
  const int submitted = nghttp2_submit_response(session_.get(), stream_id, headers.data(), headers.size(),
                                                with_body ? &body : nullptr);
  answered_ = true;
  return submitted == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

} // namespace failover::tls
