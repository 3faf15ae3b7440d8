#pragma once

#include "sys/error.h"

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace failover::tls {

// The built-in HTTP/1.1 responder: GET and HEAD of files loaded into memory at start, with
// keep-alive and Content-Length. Enough for the demo and the benchmarks (the reference
// evaluation served one 50 KB file); not a general web server.
struct HttpRequest {
  std::string method;
  std::string target;
  bool keep_alive = true;
};

struct HttpParse {
  enum class Status { Incomplete, Complete, Bad };
  Status status = Status::Incomplete;
  HttpRequest request;
  std::size_t consumed = 0;  // bytes of the request head, when Complete
  int error_status = 0;      // 400, 413, 431, 501 or 505 when Bad
};

inline constexpr std::size_t MAX_REQUEST_HEAD = 8192;

// Parses one request head from the front of input. Requests with a body are refused (501):
// only GET and HEAD are served.
HttpParse parseHttpRequest(std::string_view input);

class StaticFiles {
public:
  struct File {
    std::string content_type;
    std::string body;
  };
  // Loads every regular file under root (at most max_total bytes in all).
  static sys::Result<std::shared_ptr<const StaticFiles>> load(const std::filesystem::path& root,
                                                              std::size_t max_total);
  const File* find(std::string_view target) const;
  std::size_t size() const noexcept { return files_.size(); }

private:
  std::map<std::string, File, std::less<>> files_;
};

// Sent with every file (over HTTP/1.1 and HTTP/2): served over HTTPS only, browsers are told
// to stay on it, and not to sniff or frame the files.
inline constexpr std::pair<std::string_view, std::string_view> SECURITY_HEADERS[] = {
    {"strict-transport-security", "max-age=31536000"},
    {"x-content-type-options", "nosniff"},
    {"x-frame-options", "DENY"}};

// The reason phrase of a status this server sends ("Bad Gateway"), and its plain-text body
// ("502 Bad Gateway\n").
const char* reason(int status);
std::string errorBody(int status);

// Appends the response to `request` to out; returns the HTTP status.
int respond(const StaticFiles& files, const HttpRequest& request, bool close, std::string& out);
// Appends an error response (always with Connection: close).
void respondError(int status, std::string& out);
// Appends 405 (with Allow:) and returns true unless the method is GET or HEAD.
bool respondUnlessGetOrHead(const HttpRequest& request, std::string& out);

} // namespace failover::tls
