#pragma once

#include "sys/error.h"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace failover::netctl {

// Reads and writes integer sysctls by their /proc/sys relative path ("net/ipv4/conf/eth0/
// arp_ignore"). The root is injectable so the logic is tested on a plain directory.
class Sysctl {
public:
  explicit Sysctl(std::filesystem::path root = "/proc/sys") : root_(std::move(root)) {}
  sys::Result<int> get(const std::string& key) const;
  sys::Status set(const std::string& key, int value) const;

private:
  std::filesystem::path root_;
};

std::string interfaceSysctl(const std::string& interface, const std::string& name);

// Changes sysctls and puts the original values back. The originals are also written to a
// state file before the first change, so that a start after a crash (which skipped the
// restore) finds them and reconciles, as keepalived's save/restore cannot.
class SysctlKeeper {
public:
  SysctlKeeper(Sysctl sysctl, std::filesystem::path state_file)
      : sysctl_(std::move(sysctl)), state_file_(std::move(state_file)) {}
  SysctlKeeper(SysctlKeeper&&) = default;
  SysctlKeeper& operator=(SysctlKeeper&&) = default;

  // Restores the values a run that did not exit cleanly left in the state file and removes
  // the file. Returns "key: now -> original" lines, for the log.
  sys::Result<std::vector<std::string>> reconcile();
  // Sets key, recording its original value first (once per key).
  sys::Status set(const std::string& key, int value);
  // Puts every original back and removes the state file.
  sys::Status restoreAll();

  bool changed() const noexcept { return !originals_.empty(); }
  // The value key had before this keeper first changed it.
  std::optional<int> original(const std::string& key) const;

private:
  sys::Status persist() const;

  Sysctl sysctl_;
  std::filesystem::path state_file_;
  std::map<std::string, int> originals_;
};

} // namespace failover::netctl
