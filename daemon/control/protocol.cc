#include "daemon/control/protocol.h"

#include <algorithm>
#include <charconv>

namespace failover::daemon {

std::string remoteCommandNames() {
  std::string names;
  for (const auto& command : CONTROL_COMMANDS) {
    if (command.remote) {
      names += (names.empty() ? "" : ", ") + std::string(command.name);
    }
  }
  return names;
}

sys::Result<ControlRequest> parseControlRequest(std::string_view line) {
  if (line.size() > MAX_CONTROL_REQUEST) {
    return sys::fail(sys::Errc::InvalidArgument, "request longer than 1024 bytes");
  }
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  const bool printable = std::all_of(line.begin(), line.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (!printable) {
    return sys::fail(sys::Errc::InvalidArgument, "request has control or non-ASCII characters");
  }
  std::vector<std::string> words;
  for (std::size_t at = 0; at < line.size();) {
    const auto next = line.find(' ', at);
    const auto word = line.substr(at, next - at);
    if (!word.empty()) {
      words.emplace_back(word);
    }
    at = next == std::string_view::npos ? line.size() : next + 1;
  }
  if (words.size() < 2) {
    return sys::fail(sys::Errc::InvalidArgument, "expected 'VERSION COMMAND [ARGUMENT...]'");
  }
  ControlRequest request;
  const auto& version = words.front();
  const auto [end, ec] = std::from_chars(version.data(), version.data() + version.size(), request.version);
  if (ec != std::errc{} || end != version.data() + version.size()) {
    return sys::fail(sys::Errc::InvalidArgument, "'" + version + "' is not a protocol version");
  }
  if (request.version != CONTROL_VERSION) {
    return sys::fail(sys::Errc::InvalidArgument, "protocol version " + version + " is not supported (expected 1)");
  }
  request.command = words[1];
  request.arguments.assign(words.begin() + 2, words.end());
  return request;
}

std::string formatControlRequest(const ControlRequest& request) {
  std::string line = std::to_string(request.version) + " " + request.command;
  for (const auto& argument : request.arguments) {
    line += " " + argument;
  }
  return line + "\n";
}

} // namespace failover::daemon
