// The HTTP/2 glue against libnghttp2's own client session: whatever one writes the other
// reads, in memory, so every frame the server produces is checked by a real HTTP/2 peer.
#include "tls/http2.h"
#include "tls/http2_frames.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <vector>

using namespace failover::tls;

namespace {

using CallbacksPtr = std::unique_ptr<nghttp2_session_callbacks, failover::sys::CDeleter<nghttp2_session_callbacks_del>>;

struct Response {
  std::map<std::string, std::string> headers;
  std::string body;
  bool closed = false;
  std::uint32_t error = 0;
};

// An nghttp2 client and the server under test, joined back to back.
struct Pair {
  TlsCounters counters;
  std::unique_ptr<Http2Server> server;
  Nghttp2SessionPtr client;
  std::map<std::int32_t, Response> responses;
  bool client_got_goaway = false;
  std::int32_t goaway_last_stream = -1;

  explicit Pair(const StaticFiles* files, int fixed_status = 200) {
    auto created = Http2Server::create(files, fixed_status, counters);
    REQUIRE(created);
    server = std::move(*created);
    nghttp2_session_callbacks* raw = nullptr;
    REQUIRE(nghttp2_session_callbacks_new(&raw) == 0);
    const CallbacksPtr callbacks(raw);
    nghttp2_session_callbacks_set_on_header_callback(
        raw, [](nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t name_length,
                const std::uint8_t* value, std::size_t value_length, std::uint8_t, void* self) {
          static_cast<Pair*>(self)->responses[frame->hd.stream_id].headers[std::string(
              reinterpret_cast<const char*>(name), name_length)] =
              std::string(reinterpret_cast<const char*>(value), value_length);
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        raw, [](nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data, std::size_t length,
                void* self) {
          static_cast<Pair*>(self)->responses[stream_id].body.append(reinterpret_cast<const char*>(data), length);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        raw, [](nghttp2_session*, std::int32_t stream_id, std::uint32_t error, void* self) {
          auto& response = static_cast<Pair*>(self)->responses[stream_id];
          response.closed = true;
          response.error = error;
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(raw, [](nghttp2_session*, const nghttp2_frame* frame, void* self) {
      if (frame->hd.type == NGHTTP2_GOAWAY) {
        static_cast<Pair*>(self)->client_got_goaway = true;
        static_cast<Pair*>(self)->goaway_last_stream = frame->goaway.last_stream_id;
      }
      return 0;
    });
    nghttp2_session* session = nullptr;
    REQUIRE(nghttp2_session_client_new(&session, raw, this) == 0);
    client.reset(session);
    REQUIRE(nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0) == 0);
  }

  std::int32_t request(const std::string& method, const std::string& path) {
    const auto nv = [](const std::string& name, const std::string& value) {
      return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                        reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                        NGHTTP2_NV_FLAG_NONE};
    };
    const std::string m = ":method", s = ":scheme", a = ":authority", p = ":path", https = "https", host = "a.example";
    const nghttp2_nv headers[] = {nv(m, method), nv(s, https), nv(a, host), nv(p, path)};
    return nghttp2_submit_request(client.get(), nullptr, headers, 4, nullptr, nullptr);
  }

  // Moves bytes both ways until neither side has more to say (bounded: 1,000 rounds).
  void exchange() {
    for (int round = 0; round < 1000; ++round) {
      std::string to_server;
      const std::uint8_t* data = nullptr;
      for (ssize_t n; (n = nghttp2_session_mem_send(client.get(), &data)) > 0;) {
        to_server.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      }
      if (!to_server.empty()) {
        server->receive(to_server);
      }
      std::string to_client;
      REQUIRE(server->send(to_client, 1 << 20));
      if (!to_client.empty()) {
        REQUIRE(nghttp2_session_mem_recv(client.get(), reinterpret_cast<const std::uint8_t*>(to_client.data()),
                                         to_client.size()) == static_cast<ssize_t>(to_client.size()));
      }
      if (to_server.empty() && to_client.empty()) {
        return;
      }
    }
    FAIL("the two sessions never went quiet");
  }
};

std::shared_ptr<const StaticFiles> someFiles() {
  std::string pattern = (std::filesystem::temp_directory_path() / "failoverd-h2-XXXXXX").string();
  const std::filesystem::path root = ::mkdtemp(pattern.data());
  std::ofstream(root / "index.html") << "<h1>hi</h1>";
  std::ofstream(root / "big.bin") << std::string(1 << 20, 'x');
  auto files = StaticFiles::load(root, 4 << 20);
  std::filesystem::remove_all(root);
  REQUIRE(files);
  return *files;
}

} // namespace

TEST_CASE("HTTP/2: GET, HEAD, 404 and 405, with the security headers on what is served") {
  const auto files = someFiles();
  Pair pair(files.get());
  const auto get = pair.request("GET", "/");
  const auto head = pair.request("HEAD", "/index.html");
  const auto missing = pair.request("GET", "/../etc/passwd");
  const auto post = pair.request("POST", "/");
  pair.exchange();
  auto& ok = pair.responses[get];
  CHECK(ok.closed);
  CHECK(ok.headers[":status"] == "200");
  CHECK(ok.headers["content-type"] == "text/html; charset=utf-8");
  CHECK(ok.headers["content-length"] == "11");
  CHECK(ok.headers["strict-transport-security"] == "max-age=31536000");
  CHECK(ok.headers["x-frame-options"] == "DENY");
  CHECK(ok.body == "<h1>hi</h1>");
  CHECK(pair.responses[head].headers["content-length"] == "11");
  CHECK(pair.responses[head].body.empty());
  CHECK(pair.responses[missing].headers[":status"] == "404");
  CHECK(pair.responses[post].headers[":status"] == "405");
  CHECK(pair.responses[post].headers["allow"] == "GET, HEAD");
  CHECK(pair.counters.http_requests == 4);
  CHECK(pair.counters.http_errors == 2);
  CHECK_FALSE(pair.server->busy());
  CHECK_FALSE(pair.server->finished()); // an idle connection stays open for more requests
}

TEST_CASE("HTTP/2: a megabyte goes through flow control intact, many streams at once") {
  const auto files = someFiles();
  Pair pair(files.get());
  std::vector<std::int32_t> streams;
  for (int i = 0; i < 20; ++i) {
    streams.push_back(pair.request("GET", "/big.bin"));
  }
  pair.exchange();
  for (const auto stream : streams) {
    CHECK(pair.responses[stream].body == std::string(1 << 20, 'x'));
  }
}

TEST_CASE("HTTP/2: GOAWAY lets a download in flight finish, refuses later streams, then the session ends") {
  const auto files = someFiles();
  Pair pair(files.get());
  const auto download = pair.request("GET", "/big.bin");
  // Only the request and the first frames pass before the drain begins.
  const std::uint8_t* data = nullptr;
  std::string to_server;
  for (ssize_t n; (n = nghttp2_session_mem_send(pair.client.get(), &data)) > 0;) {
    to_server.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  REQUIRE(pair.server->receive(to_server));
  std::string first;
  REQUIRE(pair.server->send(first, 16384));
  REQUIRE(nghttp2_session_mem_recv(pair.client.get(), reinterpret_cast<const std::uint8_t*>(first.data()),
                                   first.size()) == static_cast<ssize_t>(first.size()));
  CHECK(pair.server->busy());
  pair.server->goAway();
  pair.exchange();
  CHECK(pair.client_got_goaway);
  CHECK(pair.goaway_last_stream == download);
  CHECK(pair.responses[download].body.size() == std::size_t{1} << 20);
  CHECK(pair.responses[download].error == NGHTTP2_NO_ERROR);
  CHECK(pair.server->finished());
}

TEST_CASE("HTTP/2: without files every request gets the fixed status, and the connection is shut after it") {
  Pair pair(nullptr, 502);
  const auto stream = pair.request("GET", "/");
  const auto post = pair.request("POST", "/form");
  pair.exchange();
  CHECK(pair.responses[stream].headers[":status"] == "502");
  CHECK(pair.responses[post].headers[":status"] == "502");
  CHECK(pair.responses[stream].body == "502 Bad Gateway\n");
  CHECK(pair.client_got_goaway);
  CHECK(pair.server->finished());
}

TEST_CASE("HTTP/2: a client that breaks the protocol gets a GOAWAY, or is dropped, and is counted") {
  const auto files = someFiles();
  TlsCounters counters;
  auto not_http2 = Http2Server::create(files.get(), 200, counters);
  REQUIRE(not_http2);
  CHECK_FALSE((*not_http2)->receive("GET / HTTP/1.1\r\nHost: a\r\n\r\n")); // not the preface
  CHECK(counters.http_errors == 1);

  auto server = Http2Server::create(files.get(), 200, counters);
  REQUIRE(server);
  // The preface, an empty SETTINGS, then DATA on stream 0, which RFC 9113 forbids.
  const std::string input = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string("\0\0\0\x04\0\0\0\0\0", 9) +
                            std::string("\0\0\x01\0\0\0\0\0\0x", 10);
  CHECK((*server)->receive(input));
  std::string out;
  REQUIRE((*server)->send(out, 1 << 16));
  CHECK(counters.http_errors == 2);
  CHECK((*server)->finished());
  std::vector<int> types;
  for (std::size_t at = 0; at + 9 <= out.size();) {
    types.push_back(out[at + 3]);
    at += 9 + ((std::size_t(std::uint8_t(out[at])) << 16) | (std::size_t(std::uint8_t(out[at + 1])) << 8) |
               std::uint8_t(out[at + 2]));
  }
  REQUIRE_FALSE(types.empty());
  CHECK(types.back() == NGHTTP2_GOAWAY);
}

TEST_CASE("the relay's frame cursor: boundaries, header blocks and the highest stream, whatever the split") {
  std::string client = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const auto frame = [](std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::size_t length) {
    std::string f{static_cast<char>(length >> 16), static_cast<char>(length >> 8), static_cast<char>(length),
                  static_cast<char>(type), static_cast<char>(flags), static_cast<char>(stream >> 24),
                  static_cast<char>(stream >> 16), static_cast<char>(stream >> 8), static_cast<char>(stream)};
    return f + std::string(length, 'p');
  };
  client += frame(0x4, 0, 0, 6);        // SETTINGS
  client += frame(0x1, 0x5, 1, 20);     // HEADERS, END_STREAM | END_HEADERS
  client += frame(0x1, 0x0, 3, 20);     // HEADERS without END_HEADERS...
  const auto open_block = client.size();
  client += frame(0x9, 0x4, 3, 10);     // ...ended by a CONTINUATION
  for (const std::size_t step : {std::size_t{1}, std::size_t{7}, client.size()}) {
    Http2FrameCursor cursor(Http2FrameCursor::CLIENT_PREFACE);
    bool boundary_inside_block = false;
    for (std::size_t at = 0; at < client.size(); at += step) {
      const auto end = std::min(client.size(), at + step);
      cursor.follow(std::string_view(client).substr(at, end - at));
      if (end == open_block) {
        boundary_inside_block = cursor.atBoundary();
      }
    }
    CHECK_FALSE(boundary_inside_block);
    CHECK(cursor.atBoundary());
    CHECK(cursor.highestStream() == 3);
  }
  Http2FrameCursor fresh;
  CHECK_FALSE(fresh.atBoundary()); // nothing before the peer's first frame (its SETTINGS)
  Http2FrameCursor partial;
  partial.follow(frame(0x0, 0, 1, 100).substr(0, 50));
  CHECK_FALSE(partial.atBoundary());
  CHECK(http2GoAwayFrame(5) == std::string("\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00", 17));
}
