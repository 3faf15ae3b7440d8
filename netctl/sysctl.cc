#include "netctl/sysctl.h"

#include <charconv>
#include <fstream>
#include <sstream>

namespace failover::netctl {

using sys::Errc;
using sys::fail;

namespace {

sys::Result<int> parseInt(const std::string& text, const std::string& where) {
  int value = 0;
  const auto begin = text.data();
  const auto end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc{} || stop == begin) {
    return fail(Errc::Protocol, where + ": '" + text + "' is not a number");
  }
  return value;
}

} // namespace

std::string interfaceSysctl(const std::string& interface, const std::string& name) {
  return "net/ipv4/conf/" + interface + "/" + name;
}

sys::Result<int> Sysctl::get(const std::string& key) const {
  const auto path = root_ / key;
  std::ifstream in(path);
  std::string text;
  if (!in || !(in >> text)) {
    return std::unexpected(sys::systemError("cannot read sysctl " + path.string()));
  }
  return parseInt(text, path.string());
}

sys::Status Sysctl::set(const std::string& key, int value) const {
  const auto path = root_ / key;
  std::ofstream out(path);
  if (!out) {
    auto error = sys::systemError("cannot open sysctl " + path.string());
    if (error.code == Errc::PermissionDenied) {
      error.message += " (writing sysctls needs root or CAP_NET_ADMIN, and /proc/sys writable)";
    }
    return std::unexpected(error);
  }
  out << value << '\n';
  out.flush();
  if (!out) {
    return std::unexpected(sys::systemError("cannot write " + std::to_string(value) + " to sysctl " +
                                            path.string()));
  }
  return {};
}

sys::Result<std::vector<std::string>> SysctlKeeper::reconcile() {
  std::vector<std::string> restored;
  std::ifstream in(state_file_);
  if (!in) {
    return restored;
  }
  std::string line;
  while (std::getline(in, line)) {
    const auto equals = line.find('=');
    if (equals == std::string::npos) {
      continue;
    }
    const auto key = line.substr(0, equals);
    auto original = parseInt(line.substr(equals + 1), state_file_.string());
    if (!original) {
      return std::unexpected(original.error());
    }
    const auto now = sysctl_.get(key);
    if (!now) {
      // The interface may be gone since the crash: nothing left to restore for it.
      continue;
    }
    if (*now != *original) {
      if (auto set = sysctl_.set(key, *original); !set) {
        return std::unexpected(set.error());
      }
      restored.push_back(key + ": " + std::to_string(*now) + " -> " + std::to_string(*original));
    }
  }
  std::error_code ignored;
  std::filesystem::remove(state_file_, ignored);
  return restored;
}

sys::Status SysctlKeeper::set(const std::string& key, int value) {
  if (!originals_.contains(key)) {
    auto original = sysctl_.get(key);
    if (!original) {
      return std::unexpected(original.error());
    }
    originals_[key] = *original;
    if (auto saved = persist(); !saved) {
      originals_.erase(key);
      return saved;
    }
  }
  return sysctl_.set(key, value);
}

std::optional<int> SysctlKeeper::original(const std::string& key) const {
  if (const auto it = originals_.find(key); it != originals_.end()) {
    return it->second;
  }
  return std::nullopt;
}

sys::Status SysctlKeeper::restoreAll() {
  sys::Status result;
  for (const auto& [key, value] : originals_) {
    if (auto set = sysctl_.set(key, value); !set && result) {
      result = std::unexpected(set.error());
    }
  }
  if (result) {
    originals_.clear();
    std::error_code ignored;
    std::filesystem::remove(state_file_, ignored);
  }
  return result;
}

sys::Status SysctlKeeper::persist() const {
  // Written to a temporary file and renamed, so a crash never leaves a half-written record.
  const auto temporary = state_file_.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    for (const auto& [key, value] : originals_) {
      out << key << '=' << value << '\n';
    }
    out.flush();
    if (!out) {
      return std::unexpected(sys::systemError("cannot write state file " + temporary));
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, state_file_, ec);
  if (ec) {
    return fail(Errc::System, "cannot rename " + temporary + " to " + state_file_.string() + ": " +
                                  ec.message());
  }
  return {};
}

} // namespace failover::netctl
