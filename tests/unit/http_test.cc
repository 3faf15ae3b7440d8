#include "tls/http.h"
#include "tls/proxy_protocol.h"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdlib>
#include <fstream>

using namespace failover::tls;

TEST_CASE("a request head is parsed when complete, and only then") {
  CHECK(parseHttpRequest("GET / HTTP/1.1\r\nHost: a\r\n").status == HttpParse::Status::Incomplete);
  const auto parsed = parseHttpRequest("GET /file50k.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /next");
  REQUIRE(parsed.status == HttpParse::Status::Complete);
  CHECK(parsed.request.method == "GET");
  CHECK(parsed.request.target == "/file50k.bin");
  CHECK(parsed.request.keep_alive);
  CHECK(parsed.consumed == 38); // 27 + 9 + 2: the request line, one header, the blank line
}

TEST_CASE("keep-alive follows the version and the Connection header") {
  CHECK_FALSE(parseHttpRequest("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").request.keep_alive);
  CHECK_FALSE(parseHttpRequest("GET / HTTP/1.0\r\n\r\n").request.keep_alive);
  CHECK(parseHttpRequest("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").request.keep_alive);
}

TEST_CASE("malformed, oversized and body-carrying requests are refused with the right status") {
  CHECK(parseHttpRequest("GARBAGE\r\n\r\n").error_status == 400);
  CHECK(parseHttpRequest("GET relative HTTP/1.1\r\n\r\n").error_status == 400);
  CHECK(parseHttpRequest("GET / HTTP/2.0\r\n\r\n").error_status == 505);
  CHECK(parseHttpRequest("GET / HTTP/1.1\r\nno colon here\r\n\r\n").error_status == 400);
  CHECK(parseHttpRequest("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").error_status == 501);
  CHECK(parseHttpRequest("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").error_status == 501);
  CHECK(parseHttpRequest(std::string(MAX_REQUEST_HEAD + 1, 'a')).error_status == 431);
}

TEST_CASE("the responder serves files with Content-Length, HEAD without a body, 404 and 405") {
  std::string pattern = (std::filesystem::temp_directory_path() / "failoverd-www-XXXXXX").string();
  const std::filesystem::path root = ::mkdtemp(pattern.data());
  std::ofstream(root / "index.html") << "<h1>hi</h1>";
  const auto files = StaticFiles::load(root, 1 << 20);
  std::filesystem::remove_all(root);
  REQUIRE(files);
  std::string out;
  CHECK(respond(**files, {"GET", "/", true}, false, out) == 200);
  CHECK(out.find("Content-Length: 11\r\n") != std::string::npos);
  CHECK(out.find("Connection: keep-alive") != std::string::npos);
  CHECK(out.ends_with("\r\n\r\n<h1>hi</h1>"));
  out.clear();
  CHECK(respond(**files, {"HEAD", "/index.html", true}, true, out) == 200);
  CHECK(out.ends_with("\r\n\r\n"));
  CHECK(out.find("Connection: close") != std::string::npos);
  out.clear();
  CHECK(respond(**files, {"GET", "/../etc/passwd", true}, false, out) == 404);
  out.clear();
  CHECK(respond(**files, {"DELETE", "/", true}, false, out) == 405);
}

TEST_CASE("PROXY v2 headers, byte for byte") {
  sockaddr_storage client{}, local{};
  auto& c4 = reinterpret_cast<sockaddr_in&>(client);
  auto& l4 = reinterpret_cast<sockaddr_in&>(local);
  c4.sin_family = l4.sin_family = AF_INET;
  inet_pton(AF_INET, "198.18.1.101", &c4.sin_addr);
  inet_pton(AF_INET, "198.18.1.10", &l4.sin_addr);
  c4.sin_port = htons(51000);
  l4.sin_port = htons(443);
  const std::vector<std::uint8_t> v4{0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
                                     0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 198, 18, 1, 101,
                                     198, 18, 1, 10, 0xc7, 0x38, 0x01, 0xbb};
  CHECK(proxyV2Header(client, local) == v4);

  sockaddr_storage client6{}, local6{};
  auto& c6 = reinterpret_cast<sockaddr_in6&>(client6);
  auto& l6 = reinterpret_cast<sockaddr_in6&>(local6);
  c6.sin6_family = l6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "fd00:198:18::101", &c6.sin6_addr);
  inet_pton(AF_INET6, "fd00:198:18::10", &l6.sin6_addr);
  c6.sin6_port = htons(51000);
  l6.sin6_port = htons(443);
  const auto header = proxyV2Header(client6, local6);
  REQUIRE(header.size() == 16 + 36);
  CHECK(header[13] == 0x21);
  CHECK(header[15] == 36);
  CHECK(header[16] == 0xfd);
  CHECK(header[16 + 15] == 0x01);

  // A v4-mapped IPv6 socket (a dual-stack listener) is described as IPv4.
  inet_pton(AF_INET6, "::ffff:198.18.1.101", &c6.sin6_addr);
  inet_pton(AF_INET6, "::ffff:198.18.1.10", &l6.sin6_addr);
  CHECK(proxyV2Header(client6, local6) == v4);
}
