#include "netctl/vip_guard.h"

#include "netctl/bpf/vip_guard_abi.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <sys/statfs.h>

#include <cstdarg>
#include <cstring>
#include <ctime>

// The compiled eBPF object, embedded by netctl/bpf/vip_guard_object.S.
extern "C" const unsigned char failover_vip_guard_object[];
extern "C" const unsigned long failover_vip_guard_object_size;

namespace failover::netctl {

using sys::Errc;

namespace {

// The filters' place on each hook. Priority 1 runs them before any filter of the operator's
// (they return TC_ACT_UNSPEC for what they let pass, so those still run); the handle is ours.
constexpr std::uint32_t FILTER_HANDLE = 0xfa11;
constexpr std::uint32_t FILTER_PRIORITY = 1;
constexpr const char* MAPS[] = {"vip_guard_gate", "vip_guard_v4", "vip_guard_v6", "vip_guard_drops"};

// libbpf reports through a print callback; while the guard is attached (start-up only) its
// warnings are kept so that a failure can say what the verifier or the kernel answered.
std::string& libbpfLog() {
  static std::string log;
  return log;
}

int keepLibbpfMessage(libbpf_print_level level, const char* format, va_list arguments) noexcept {
  if (level == LIBBPF_DEBUG) {
    return 0;
  }
  char line[512];
  const int n = std::vsnprintf(line, sizeof line, format, arguments);
  try {
    auto& log = libbpfLog();
    log.append(line, n > 0 ? std::min(static_cast<std::size_t>(n), sizeof line - 1) : 0);
    constexpr std::size_t KEEP = 2000;
    if (log.size() > KEEP) {
      log.erase(0, log.size() - KEEP);
    }
  } catch (...) {
  }
  return 0;
}

sys::Error bpfError(const std::string& what, int negative_errno) {
  auto error = sys::systemError(what, -negative_errno);
  auto& log = libbpfLog();
  if (!log.empty()) {
    error.message += " (libbpf: " + log + ")";
    log.clear();
  }
  return error;
}

bpf_tc_hook hookOf(unsigned ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook{};
  hook.sz = sizeof hook;
  hook.ifindex = static_cast<int>(ifindex);
  hook.attach_point = point;
  return hook;
}

bpf_tc_opts filterOf(int program_fd) {
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.handle = FILTER_HANDLE;
  opts.priority = FILTER_PRIORITY;
  if (program_fd >= 0) {
    opts.prog_fd = program_fd;
    opts.flags = BPF_TC_F_REPLACE; // atomic: the old program guards until the new one does
  }
  return opts;
}

sys::Status checkBpfFilesystem(const std::filesystem::path& directory) {
  auto probe = directory;
  while (!probe.empty() && !std::filesystem::exists(probe)) {
    probe = probe.parent_path();
  }
  struct statfs fs {};
  if (probe.empty() || ::statfs(probe.c_str(), &fs) != 0) {
    return std::unexpected(sys::systemError("vip guard: cannot inspect " + directory.string()));
  }
  if (static_cast<unsigned long>(fs.f_type) != BPF_FS_MAGIC) {
    return sys::fail(Errc::InvalidArgument,
                     "vip guard: " + directory.string() + " is not on a bpf file system (" + probe.string() +
                         " is not); mount one with 'mount -t bpf bpf /sys/fs/bpf', or set guard-pin-directory");
  }
  return {};
}

sys::Status fillVips(bpf_object* object, std::span<const IpPrefix> vips) {
  if (vips.size() > VIP_GUARD_MAX_VIPS) {
    return sys::fail(Errc::InvalidArgument, "vip guard: more than " + std::to_string(VIP_GUARD_MAX_VIPS) + " VIPs");
  }
  for (const char* name : {"vip_guard_v4", "vip_guard_v6"}) {
    const int fd = bpf_map__fd(bpf_object__find_map_by_name(object, name));
    // Keys a previous run left (its configuration may have named other VIPs) go first.
    std::array<std::uint8_t, 16> first{}; // room for either key size
    while (bpf_map_get_next_key(fd, nullptr, first.data()) == 0) {
      if (bpf_map_delete_elem(fd, first.data()) != 0) {
        return std::unexpected(sys::systemError(std::string("vip guard: clearing ") + name));
      }
    }
  }
  const std::uint8_t present = 1;
  for (const auto& vip : vips) {
    const char* name = vip.address.family == Family::V4 ? "vip_guard_v4" : "vip_guard_v6";
    const int fd = bpf_map__fd(bpf_object__find_map_by_name(object, name));
    if (bpf_map_update_elem(fd, vip.address.bytes.data(), &present, BPF_ANY) != 0) {
      return std::unexpected(sys::systemError("vip guard: adding " + toString(vip)));
    }
  }
  return {};
}

// Opens the embedded object and loads it, reusing the maps pinned under pin_directory (or
// pinning new ones there).
sys::Result<BpfObjectPtr> load(const std::filesystem::path& pin_directory) {
  BpfObjectPtr object(bpf_object__open_mem(failover_vip_guard_object, failover_vip_guard_object_size, nullptr));
  if (!object) {
    return std::unexpected(bpfError("vip guard: opening the embedded eBPF object", -errno));
  }
  for (const char* name : MAPS) {
    const auto path = (pin_directory / name).string();
    if (int rc = bpf_map__set_pin_path(bpf_object__find_map_by_name(object.get(), name), path.c_str()); rc != 0) {
      return std::unexpected(bpfError("vip guard: pin path " + path, rc));
    }
  }
  if (int rc = bpf_object__load(object.get()); rc != 0) {
    return std::unexpected(bpfError("vip guard: loading the eBPF programs (needs CAP_BPF and CAP_NET_ADMIN)", rc));
  }
  return object;
}

void removePins(const std::filesystem::path& pin_directory) {
  for (const char* name : MAPS) {
    std::error_code ec;
    std::filesystem::remove(pin_directory / name, ec);
  }
}

} // namespace

void BpfObjectDeleter::operator()(bpf_object* object) const noexcept { bpf_object__close(object); }

std::chrono::nanoseconds monotonicNow() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

sys::Result<std::unique_ptr<VipGuard>> VipGuard::attach(unsigned ifindex, const std::string& ifname,
                                                        std::span<const IpPrefix> vips,
                                                        const std::filesystem::path& pin_directory) {
  libbpf_set_print(keepLibbpfMessage);
  libbpfLog().clear();
  if (auto bpffs = checkBpfFilesystem(pin_directory); !bpffs) {
    return std::unexpected(bpffs.error());
  }
  std::error_code ec;
  std::filesystem::create_directories(pin_directory, ec);
  if (ec) {
    return sys::fail(Errc::System, "vip guard: cannot create " + pin_directory.string() + ": " + ec.message());
  }
  const bool took_over = std::filesystem::exists(pin_directory / MAPS[0]);
  auto object = load(pin_directory);
  if (!object && took_over) {
    // Maps pinned by another version (their layout differs) cannot be reused: new ones take
    // their place. The old programs keep guarding until the new ones replace them below.
    removePins(pin_directory);
    object = load(pin_directory);
  }
  if (!object) {
    return std::unexpected(object.error());
  }
  std::unique_ptr<VipGuard> guard(new VipGuard(std::move(*object), ifindex, pin_directory, took_over));
  guard->gate_fd_ = bpf_map__fd(bpf_object__find_map_by_name(guard->object_.get(), "vip_guard_gate"));
  guard->drops_fd_ = bpf_map__fd(bpf_object__find_map_by_name(guard->object_.get(), "vip_guard_drops"));
  // A taken-over gate may still be open for a few ms (a restart faster than the bound): shut
  // it before anything else; the owner opens it again when it may answer.
  if (auto shut = guard->shut(); !shut) {
    return std::unexpected(shut.error());
  }
  if (auto filled = fillVips(guard->object_.get(), vips); !filled) {
    return std::unexpected(filled.error());
  }
  for (const auto& [point, program] : {std::pair{BPF_TC_INGRESS, "vip_guard_ingress"},
                                       std::pair{BPF_TC_EGRESS, "vip_guard_egress"}}) {
    auto hook = hookOf(ifindex, point);
    // clsact holds both hooks; an existing one (ours from a crash, or the operator's) is kept.
    if (int rc = bpf_tc_hook_create(&hook); rc != 0 && rc != -EEXIST) {
      return std::unexpected(bpfError("vip guard: adding a clsact qdisc to " + ifname, rc));
    }
    const int fd = bpf_program__fd(bpf_object__find_program_by_name(guard->object_.get(), program));
    auto filter = filterOf(fd);
    if (int rc = bpf_tc_attach(&hook, &filter); rc != 0) {
      return std::unexpected(bpfError(std::string("vip guard: attaching ") + program + " to " + ifname, rc));
    }
    guard->attached_ = true;
  }
  return guard;
}

VipGuard::VipGuard(BpfObjectPtr object, unsigned ifindex, std::filesystem::path pin_directory, bool took_over)
    : object_(std::move(object)), ifindex_(ifindex), pin_directory_(std::move(pin_directory)),
      took_over_(took_over) {}

// Destroying the object (a crash of the owner is the same) leaves the filters and pins in
// place, gate as last written: only detach() takes the guard away.
VipGuard::~VipGuard() = default;

sys::Status VipGuard::openUntil(std::chrono::nanoseconds deadline) {
  const std::uint32_t zero = 0;
  vip_guard_gate gate{static_cast<__u64>(std::max<std::int64_t>(0, deadline.count()))};
  if (bpf_map_update_elem(gate_fd_, &zero, &gate, BPF_ANY) != 0) {
    return std::unexpected(sys::systemError("vip guard: writing the gate"));
  }
  return {};
}

sys::Result<std::chrono::nanoseconds> VipGuard::deadline() const {
  const std::uint32_t zero = 0;
  vip_guard_gate gate{};
  if (bpf_map_lookup_elem(gate_fd_, &zero, &gate) != 0) {
    return std::unexpected(sys::systemError("vip guard: reading the gate"));
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(gate.open_until_ns));
}

sys::Result<VipGuardDrops> VipGuard::drops() const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) {
    return std::unexpected(sys::systemError("vip guard: counting CPUs", -cpus));
  }
  std::array<std::uint64_t, VIP_GUARD_COUNTERS> total{};
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(cpus));
  for (std::uint32_t slot = 0; slot < VIP_GUARD_COUNTERS; ++slot) {
    if (bpf_map_lookup_elem(drops_fd_, &slot, per_cpu.data()) != 0) {
      return std::unexpected(sys::systemError("vip guard: reading the drop counters"));
    }
    for (auto count : per_cpu) {
      total[slot] += count;
    }
  }
  return VipGuardDrops{total[VIP_GUARD_INGRESS_ARP], total[VIP_GUARD_INGRESS_ND], total[VIP_GUARD_INGRESS_IP],
                       total[VIP_GUARD_EGRESS_ARP] + total[VIP_GUARD_EGRESS_ND], total[VIP_GUARD_EGRESS_IP],
                       total[VIP_GUARD_INGRESS_UNSERVED_SYN]};
}

sys::Status VipGuard::detach() {
  sys::Status status;
  if (attached_) {
    for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
      auto hook = hookOf(ifindex_, point);
      auto filter = filterOf(-1);
      // ENOENT: the interface or the filter is already gone, which is what we want.
      if (int rc = bpf_tc_detach(&hook, &filter); rc != 0 && rc != -ENOENT && rc != -ENODEV && status) {
        status = std::unexpected(bpfError("vip guard: detaching from interface " + std::to_string(ifindex_), rc));
      }
    }
    attached_ = false;
  }
  removePins(pin_directory_);
  std::error_code ec;
  std::filesystem::remove(pin_directory_, ec); // only if empty: it may hold other things
  return status;
}

} // namespace failover::netctl
