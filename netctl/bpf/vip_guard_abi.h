// The layout shared by the VIP guard's eBPF programs (vip_guard.bpf.c) and their loader
// (netctl/vip_guard.cc). Plain C: the BPF side is compiled by clang as C.
#pragma once

#include <linux/types.h>

#define VIP_GUARD_MAX_VIPS 64

// The one entry of the gate map. Packets that concern a VIP pass only while
// bpf_ktime_get_ns() (CLOCK_MONOTONIC) is before open_until_ns; 0 keeps the gate shut.
struct vip_guard_gate {
  __u64 open_until_ns;
};

struct vip_guard_v6_key {
  __u8 bytes[16];
};

// Slots of the per-CPU drop counters.
enum vip_guard_counter {
  VIP_GUARD_INGRESS_ARP = 0, // ARP requests for a VIP
  VIP_GUARD_INGRESS_ND = 1,  // neighbour solicitations for a VIP
  VIP_GUARD_INGRESS_IP = 2,  // packets to a VIP
  VIP_GUARD_EGRESS_ARP = 3,  // ARP frames from a VIP
  VIP_GUARD_EGRESS_ND = 4,   // neighbour advertisements for a VIP
  VIP_GUARD_EGRESS_IP = 5,   // packets from a VIP
  VIP_GUARD_INGRESS_UNSERVED_SYN = 6, // gate open: connection attempts no socket would take
  VIP_GUARD_COUNTERS = 7,
};
