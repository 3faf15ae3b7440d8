#pragma once

#include "sys/error.h"

#include <sched.h>

#include <bitset>
#include <cstddef>
#include <string>
#include <string_view>

namespace failover::sys {

// A set of CPUs by number: what sched_setaffinity(2) takes, written as the kernel writes CPU
// lists (/sys/devices/system/cpu/online, Cpus_allowed_list in /proc): "0-2,5".
class CpuSet {
public:
  static constexpr std::size_t CAPACITY = CPU_SETSIZE;

  CpuSet() = default;

  // "0", "1-3", "0,2-3": decimal numbers and inclusive ranges, comma-separated, each below
  // CAPACITY. The error names the item at fault.
  static Result<CpuSet> parse(std::string_view list);
  // The CPUs the calling thread may run on.
  static Result<CpuSet> ofThisThread();
  // The CPUs the kernel has online (/sys/devices/system/cpu/online).
  static Result<CpuSet> online();

  // Confines the calling thread to these CPUs; the threads and processes it starts afterwards
  // inherit them. Fails, naming them, when the kernel leaves some out (offline, or outside
  // the cgroup's cpuset): it would silently run on fewer.
  Status pinThisThread() const;

  void add(std::size_t cpu) { cpus_.set(cpu); }
  bool contains(std::size_t cpu) const { return cpu < CAPACITY && cpus_.test(cpu); }
  std::size_t count() const { return cpus_.count(); }
  bool empty() const { return cpus_.none(); }
  // The CPUs of this set that `other` lacks.
  CpuSet without(const CpuSet& other) const;
  std::string toString() const;
  bool operator==(const CpuSet&) const = default;

private:
  std::bitset<CAPACITY> cpus_;
};

} // namespace failover::sys
