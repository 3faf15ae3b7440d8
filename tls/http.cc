#include "tls/http.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace failover::tls {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

std::string securityHeaderLines() {
  std::string lines;
  for (const auto& [name, value] : SECURITY_HEADERS) {
    lines.append(name).append(": ").append(value).append("\r\n");
  }
  return lines;
}


std::string contentType(const std::filesystem::path& path) {
  static const std::map<std::string, std::string, std::less<>> types{
      {".html", "text/html; charset=utf-8"}, {".txt", "text/plain; charset=utf-8"},
      {".css", "text/css"}, {".js", "text/javascript"}, {".json", "application/json"},
      {".png", "image/png"}, {".jpg", "image/jpeg"}, {".svg", "image/svg+xml"}};
  const auto it = types.find(path.extension().string());
  return it == types.end() ? "application/octet-stream" : it->second;
}

HttpParse bad(int status) {
  HttpParse result;
  result.status = HttpParse::Status::Bad;
  result.error_status = status;
  return result;
}

} // namespace

const char* reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 413: return "Content Too Large";
  case 431: return "Request Header Fields Too Large";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 505: return "HTTP Version Not Supported";
  default: return "Error";
  }
}

std::string errorBody(int status) { return std::to_string(status) + " " + reason(status) + "\n"; }

HttpParse parseHttpRequest(std::string_view input) {
  const auto end = input.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return input.size() > MAX_REQUEST_HEAD ? bad(431) : HttpParse{};
  }
  if (end + 4 > MAX_REQUEST_HEAD) {
    return bad(431);
  }
  std::string_view head = input.substr(0, end);
  const auto line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  const auto first_space = request_line.find(' ');
  const auto last_space = request_line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space) {
    return bad(400);
  }
  HttpParse result;
  result.request.method = std::string(request_line.substr(0, first_space));
  result.request.target = std::string(request_line.substr(first_space + 1, last_space - first_space - 1));
  const std::string_view version = request_line.substr(last_space + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return bad(version.starts_with("HTTP/") ? 505 : 400);
  }
  if (result.request.target.empty() || result.request.target.front() != '/') {
    return bad(400);
  }
  result.request.keep_alive = version == "HTTP/1.1";
  std::string_view headers = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
  while (!headers.empty()) {
    const auto next = headers.find("\r\n");
    const std::string_view line = headers.substr(0, next);
    headers = next == std::string_view::npos ? std::string_view{} : headers.substr(next + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return bad(400);
    }
    const auto name = lower(line.substr(0, colon));
    const auto value = lower(trim(line.substr(colon + 1)));
    if (name == "connection") {
      if (value.find("close") != std::string::npos) {
        result.request.keep_alive = false;
      } else if (value.find("keep-alive") != std::string::npos) {
        result.request.keep_alive = true;
      }
    } else if (name == "transfer-encoding" || (name == "content-length" && value != "0")) {
      return bad(501);
    }
  }
  result.status = HttpParse::Status::Complete;
  result.consumed = end + 4;
  return result;
}

sys::Result<std::shared_ptr<const StaticFiles>> StaticFiles::load(const std::filesystem::path& root,
                                                                  std::size_t max_total) {
  auto files = std::make_shared<StaticFiles>();
  std::error_code ec;
  std::size_t total = 0;
  auto it = std::filesystem::recursive_directory_iterator(root, ec);
  if (ec) {
    return sys::fail(sys::Errc::NotFound, "cannot read document root " + root.string() + ": " + ec.message());
  }
  for (const auto& entry : it) {
    if (!entry.is_regular_file()) {
      continue;
    }
    total += static_cast<std::size_t>(entry.file_size());
    if (total > max_total) {
      return sys::fail(sys::Errc::InvalidArgument, "document root " + root.string() + " holds more than " +
                                                       std::to_string(max_total) + " bytes");
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    std::string relative = "/"; // appended, not "/" + ...: GCC 12 warns falsely on that (PR 105329)
    relative += std::filesystem::relative(entry.path(), root).generic_string();
    files->files_[relative] = File{contentType(entry.path()), body.str()};
  }
  return std::shared_ptr<const StaticFiles>(std::move(files));
}

const StaticFiles::File* StaticFiles::find(std::string_view target) const {
  target = target.substr(0, target.find('?'));
  std::string path(target);
  if (path.ends_with("/")) {
    path += "index.html";
  }
  const auto it = files_.find(path);
  return it == files_.end() ? nullptr : &it->second;
}

void respondError(int status, std::string& out) {
  const std::string body = errorBody(status);
  out += "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

bool respondUnlessGetOrHead(const HttpRequest& request, std::string& out) {
  if (request.method == "GET" || request.method == "HEAD") {
    return false;
  }
  out += "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n"
         "Connection: close\r\n\r\n";
  return true;
}

int respond(const StaticFiles& files, const HttpRequest& request, bool close, std::string& out) {
  if (respondUnlessGetOrHead(request, out)) {
    return 405;
  }
  const bool head = request.method == "HEAD";
  const auto* file = files.find(request.target);
  const int status = file ? 200 : 404;
  const std::string not_found = errorBody(404);
  const std::string_view body = file ? std::string_view(file->body) : std::string_view(not_found);
  out += "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\nContent-Type: " +
         (file ? file->content_type : "text/plain") + "\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: " + (close ? "close" : "keep-alive") +
         "\r\n" + securityHeaderLines() + "\r\n";
  if (!head) {
    out += body;
  }
  return status;
}

} // namespace failover::tls
