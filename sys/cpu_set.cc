#include "sys/cpu_set.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <fstream>
#include <sstream>

namespace failover::sys {

namespace {

std::optional<std::size_t> cpuNumber(std::string_view text) {
  std::size_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end || value >= CpuSet::CAPACITY) {
    return std::nullopt;
  }
  return value;
}

cpu_set_t toKernel(const CpuSet& set) {
  cpu_set_t kernel;
  CPU_ZERO(&kernel);
  for (std::size_t cpu = 0; cpu < CpuSet::CAPACITY; ++cpu) {
    if (set.contains(cpu)) {
      CPU_SET(cpu, &kernel);
    }
  }
  return kernel;
}

} // namespace

Result<CpuSet> CpuSet::parse(std::string_view list) {
  CpuSet set;
  const auto bad = [](std::string_view item) {
    std::string message = "'";
    message.append(item);
    message += "' is not a CPU number or range (a list such as 0,2-3 of CPUs below " + std::to_string(CAPACITY) + ")";
    return fail(Errc::InvalidArgument, std::move(message));
  };
  if (list.empty()) {
    return bad(list);
  }
  for (std::size_t start = 0; start <= list.size();) {
    const auto comma = std::min(list.find(',', start), list.size());
    const auto item = list.substr(start, comma - start);
    const auto dash = item.find('-');
    const auto first = cpuNumber(item.substr(0, dash));
    const auto last = dash == std::string_view::npos ? first : cpuNumber(item.substr(dash + 1));
    if (!first || !last || *last < *first) {
      return bad(item);
    }
    for (auto cpu = *first; cpu <= *last; ++cpu) {
      set.add(cpu);
    }
    start = comma + 1;
  }
  return set;
}

Result<CpuSet> CpuSet::ofThisThread() {
  cpu_set_t kernel;
  // pid 0: the calling thread.
  if (::sched_getaffinity(0, sizeof kernel, &kernel) != 0) {
    return std::unexpected(systemError("sched_getaffinity"));
  }
  CpuSet set;
  for (std::size_t cpu = 0; cpu < CAPACITY; ++cpu) {
    if (CPU_ISSET(cpu, &kernel)) {
      set.add(cpu);
    }
  }
  return set;
}

Result<CpuSet> CpuSet::online() {
  constexpr const char* path = "/sys/devices/system/cpu/online";
  std::ifstream file(path);
  std::string line;
  if (!std::getline(file, line)) {
    return fail(Errc::NotFound, std::string("cannot read ") + path);
  }
  auto set = parse(line);
  if (!set) {
    return fail(Errc::Protocol, std::string(path) + ": " + set.error().message);
  }
  return set;
}

Status CpuSet::pinThisThread() const {
  const auto kernel = toKernel(*this);
  if (::sched_setaffinity(0, sizeof kernel, &kernel) != 0) {
    return std::unexpected(systemError("sched_setaffinity(CPUs " + toString() + ")"));
  }
  auto granted = ofThisThread();
  if (!granted) {
    return std::unexpected(granted.error());
  }
  if (const auto missing = without(*granted); !missing.empty()) {
    return fail(Errc::InvalidArgument, "CPUs " + missing.toString() +
                                           " are not available to this process (offline, or outside its cgroup's "
                                           "cpuset); it may run on " + granted->toString());
  }
  return {};
}

CpuSet CpuSet::without(const CpuSet& other) const {
  CpuSet rest;
  rest.cpus_ = cpus_ & ~other.cpus_;
  return rest;
}

std::string CpuSet::toString() const {
  std::ostringstream out;
  for (std::size_t cpu = 0; cpu < CAPACITY;) {
    if (!cpus_.test(cpu)) {
      ++cpu;
      continue;
    }
    auto last = cpu;
    while (last + 1 < CAPACITY && cpus_.test(last + 1)) {
      ++last;
    }
    out << (out.tellp() > 0 ? "," : "") << cpu;
    if (last > cpu) {
      out << '-' << last;
    }
    cpu = last + 1;
  }
  return out.str();
}

} // namespace failover::sys
