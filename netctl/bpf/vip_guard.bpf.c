// SPDX-License-Identifier: GPL-2.0-only
// The VIP guard: a dead man's switch in the kernel (docs/netctl.md, "The VIP guard").
//
// Two tc (clsact) programs on the service interface keep this node from answering for the VIP
// unless the daemon says, fresh enough, that it may: the daemon's event loop writes
// `open_until_ns` (CLOCK_MONOTONIC, as bpf_ktime_get_ns() reads it) every few milliseconds
// while this node is the active one. Once that moment has passed (the daemon was killed,
// frozen, starved or hung, or it demoted) the programs drop
//   ingress: ARP requests for a VIP, IPv6 neighbour solicitations for a VIP, and every IPv4
//            and IPv6 packet addressed to a VIP;
//   egress:  ARP frames and IPv4/IPv6 packets sent from a VIP, neighbour advertisements for it.
// While the gate is open, ingress also drops a connection attempt (TCP SYN) to a VIP that no
// socket would take: in the moments between the service's death (its listener goes with the
// process) and the gate shutting, the kernel would answer it with a reset, which the client
// reports as "connection refused"; dropped, the SYN is retransmitted and reaches the new
// active. The filters belong to the interface, not to the process: they outlive it. The maps are
// pinned so that a restarted daemon takes them over (and the old programs are replaced in
// place, never leaving a gap).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

// Shared with netctl/vip_guard.cc: map layout and counter slots.
#include "netctl/bpf/vip_guard_abi.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct vip_guard_gate);
} vip_guard_gate SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, VIP_GUARD_MAX_VIPS);
  __type(key, __u32); // IPv4 address, network order
  __type(value, __u8);
} vip_guard_v4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, VIP_GUARD_MAX_VIPS);
  __type(key, struct vip_guard_v6_key);
  __type(value, __u8);
} vip_guard_v6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, VIP_GUARD_COUNTERS);
  __type(key, __u32);
  __type(value, __u64);
} vip_guard_drops SEC(".maps");

// ARP for IPv4 over Ethernet (RFC 826): the fixed header, then sha, spa, tha, tpa.
// (linux/if_arp.h is not included: it pulls in libc's socket headers, which a BPF target lacks.)
#define ARPHRD_ETHER 1
#define ARPOP_REQUEST 1
struct arp_eth_ipv4 {
  struct {
    __u16 ar_hrd;
    __u16 ar_pro;
    __u8 ar_hln;
    __u8 ar_pln;
    __u16 ar_op;
  } header;
  __u8 sender_mac[ETH_ALEN];
  __u32 sender_ip;
  __u8 target_mac[ETH_ALEN];
  __u32 target_ip;
} __attribute__((packed));

// The start of an ICMPv6 neighbour solicitation or advertisement (RFC 4861 4.3, 4.4).
struct neighbour_message {
  __u8 type;
  __u8 code;
  __u16 checksum;
  __u32 flags;
  struct in6_addr target;
};

#define ICMPV6_NEIGHBOUR_SOLICITATION 135
#define ICMPV6_NEIGHBOUR_ADVERTISEMENT 136

static __always_inline int gate_open(void) {
  __u32 zero = 0;
  const struct vip_guard_gate* gate = bpf_map_lookup_elem(&vip_guard_gate, &zero);
  return gate != 0 && bpf_ktime_get_ns() < gate->open_until_ns;
}

static __always_inline int drop(__u32 counter) {
  __u64* count = bpf_map_lookup_elem(&vip_guard_drops, &counter);
  if (count != 0) {
    *count += 1;
  }
  return TC_ACT_SHOT;
}

static __always_inline int is_vip4(__u32 address) {
  return bpf_map_lookup_elem(&vip_guard_v4, &address) != 0;
}

static __always_inline int is_vip6(const struct in6_addr* address) {
  struct vip_guard_v6_key key;
  __builtin_memcpy(key.bytes, address, sizeof key.bytes);
  return bpf_map_lookup_elem(&vip_guard_v6, &key) != 0;
}

// What a packet is, as far as the guard cares: the VIP it concerns and how, or nothing.
enum verdict_kind { NOT_GUARDED = -1 };

static __always_inline int classify(struct __sk_buff* skb, int egress) {
  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > end) {
    return NOT_GUARDED;
  }
  if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
    struct arp_eth_ipv4* arp = (void*)(eth + 1);
    if ((void*)(arp + 1) > end || arp->header.ar_hrd != bpf_htons(ARPHRD_ETHER) ||
        arp->header.ar_pro != bpf_htons(ETH_P_IP) || arp->header.ar_hln != ETH_ALEN ||
        arp->header.ar_pln != 4) {
      return NOT_GUARDED;
    }
    if (egress) {
      // Anything that says "the VIP is here": replies, announcements, requests from it.
      return is_vip4(arp->sender_ip) ? VIP_GUARD_EGRESS_ARP : NOT_GUARDED;
    }
    return arp->header.ar_op == bpf_htons(ARPOP_REQUEST) && is_vip4(arp->target_ip)
               ? VIP_GUARD_INGRESS_ARP
               : NOT_GUARDED;
  }
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr* ip = (void*)(eth + 1);
    if ((void*)(ip + 1) > end) {
      return NOT_GUARDED;
    }
    if (egress) {
      return is_vip4(ip->saddr) ? VIP_GUARD_EGRESS_IP : NOT_GUARDED;
    }
    return is_vip4(ip->daddr) ? VIP_GUARD_INGRESS_IP : NOT_GUARDED;
  }
  if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr* ip6 = (void*)(eth + 1);
    if ((void*)(ip6 + 1) > end) {
      return NOT_GUARDED;
    }
    if (is_vip6(egress ? &ip6->saddr : &ip6->daddr)) {
      return egress ? VIP_GUARD_EGRESS_IP : VIP_GUARD_INGRESS_IP;
    }
    // Neighbour discovery carries no extension headers (RFC 4861: hop limit 255, no
    // fragments), so the ICMPv6 message follows the fixed header.
    if (ip6->nexthdr != IPPROTO_ICMPV6) {
      return NOT_GUARDED;
    }
    struct neighbour_message* nd = (void*)(ip6 + 1);
    if ((void*)(nd + 1) > end) {
      return NOT_GUARDED;
    }
    const __u8 type = egress ? ICMPV6_NEIGHBOUR_ADVERTISEMENT : ICMPV6_NEIGHBOUR_SOLICITATION;
    if (nd->type == type && is_vip6(&nd->target)) {
      return egress ? VIP_GUARD_EGRESS_ND : VIP_GUARD_INGRESS_ND;
    }
  }
  return NOT_GUARDED;
}

// Whether a packet to a VIP is a TCP SYN that no socket on this node would take.
static __always_inline int unserved_syn(struct __sk_buff* skb) {
  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  struct bpf_sock_tuple tuple = {};
  __u32 tuple_size = 0;
  struct tcphdr* tcp = 0;
  if ((void*)(eth + 1) > end) {
    return 0;
  }
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr* ip = (void*)(eth + 1);
    // IP options are rare enough on a SYN to let such a packet through unexamined.
    if ((void*)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl != 5) {
      return 0;
    }
    tcp = (void*)(ip + 1);
    if ((void*)(tcp + 1) > end) {
      return 0;
    }
    tuple.ipv4.saddr = ip->saddr;
    tuple.ipv4.daddr = ip->daddr;
    tuple.ipv4.sport = tcp->source;
    tuple.ipv4.dport = tcp->dest;
    tuple_size = sizeof tuple.ipv4;
  } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr* ip6 = (void*)(eth + 1);
    if ((void*)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP) {
      return 0;
    }
    tcp = (void*)(ip6 + 1);
    if ((void*)(tcp + 1) > end) {
      return 0;
    }
    __builtin_memcpy(tuple.ipv6.saddr, &ip6->saddr, sizeof tuple.ipv6.saddr);
    __builtin_memcpy(tuple.ipv6.daddr, &ip6->daddr, sizeof tuple.ipv6.daddr);
    tuple.ipv6.sport = tcp->source;
    tuple.ipv6.dport = tcp->dest;
    tuple_size = sizeof tuple.ipv6;
  } else {
    return 0;
  }
  if (!tcp->syn || tcp->ack) {
    return 0;
  }
  // skc, not sk: a connection in TIME_WAIT (or a request socket) counts as a socket that takes
  // the SYN (the kernel recycles a TIME_WAIT for a new SYN); bpf_sk_lookup_tcp returns only
  // full sockets, and busy clients reuse ports the server still holds in TIME_WAIT.
  struct bpf_sock* socket = bpf_skc_lookup_tcp(skb, &tuple, tuple_size, BPF_F_CURRENT_NETNS, 0);
  if (socket != 0) {
    bpf_sk_release(socket);
    return 0;
  }
  return 1;
}

// TC_ACT_UNSPEC lets the next filter on the hook (if the operator has any) decide.
SEC("tc")
int vip_guard_ingress(struct __sk_buff* skb) {
  const int kind = classify(skb, 0);
  if (kind == NOT_GUARDED) {
    return TC_ACT_UNSPEC;
  }
  if (!gate_open()) {
    return drop((__u32)kind);
  }
  return kind == VIP_GUARD_INGRESS_IP && unserved_syn(skb) ? drop(VIP_GUARD_INGRESS_UNSERVED_SYN) : TC_ACT_UNSPEC;
}

SEC("tc")
int vip_guard_egress(struct __sk_buff* skb) {
  const int kind = classify(skb, 1);
  return kind != NOT_GUARDED && !gate_open() ? drop((__u32)kind) : TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
