#include "netctl/rtnl.h"

#include "sys/c_deleter.h"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include <cstring>
#include <optional>

namespace failover::netctl {

using sys::Errc;
using sys::fail;

namespace {

// IFF_LOWER_UP (carrier) lives in <linux/if.h>, which cannot be included with <net/if.h>.
constexpr unsigned LINK_FLAG_LOWER_UP = 1U << 16;

using LinkPtr = std::unique_ptr<rtnl_link, sys::CDeleter<rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, sys::CDeleter<rtnl_addr_put>>;
using NlAddrPtr = std::unique_ptr<nl_addr, sys::CDeleter<nl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, sys::CDeleter<nl_cache_free>>;

sys::Error nlError(const std::string& what, int error) {
  const int code = error < 0 ? -error : error;
  Errc kind = Errc::System;
  std::string hint;
  switch (code) {
  case NLE_PERM:
    kind = Errc::PermissionDenied;
    hint = " (needs root or CAP_NET_ADMIN)";
    break;
  case NLE_NODEV:
  case NLE_OBJ_NOTFOUND:
    kind = Errc::NotFound;
    break;
  case NLE_INVAL:
  case NLE_AF_NOSUPPORT:
    kind = Errc::InvalidArgument;
    break;
  default:
    break;
  }
  return sys::Error{kind, what + ": " + nl_geterror(code) + hint, 0};
}

sys::Result<NlSockPtr> connectSocket() {
  NlSockPtr sock(nl_socket_alloc());
  if (!sock) {
    return fail(Errc::System, "nl_socket_alloc: out of memory");
  }
  if (int rc = nl_connect(sock.get(), NETLINK_ROUTE); rc < 0) {
    return std::unexpected(nlError("cannot open an rtnetlink socket", rc));
  }
  return sock;
}

LinkInfo toLinkInfo(rtnl_link* link) {
  LinkInfo info;
  info.index = static_cast<unsigned>(rtnl_link_get_ifindex(link));
  info.name = rtnl_link_get_name(link) ? rtnl_link_get_name(link) : "";
  if (nl_addr* mac = rtnl_link_get_addr(link); mac && nl_addr_get_len(mac) == 6) {
    std::memcpy(info.mac.bytes.data(), nl_addr_get_binary_addr(mac), 6);
  }
  const unsigned flags = rtnl_link_get_flags(link);
  info.admin_up = (flags & IFF_UP) != 0;
  info.carrier_up = (flags & LINK_FLAG_LOWER_UP) != 0;
  return info;
}

sys::Result<AddrPtr> buildAddress(unsigned index, const IpPrefix& prefix) {
  AddrPtr addr(rtnl_addr_alloc());
  NlAddrPtr local(nl_addr_build(static_cast<int>(prefix.address.family), prefix.address.bytes.data(),
                                prefix.address.size()));
  if (!addr || !local) {
    return fail(Errc::System, "out of memory building an rtnetlink address");
  }
  nl_addr_set_prefixlen(local.get(), prefix.length);
  rtnl_addr_set_ifindex(addr.get(), static_cast<int>(index));
  if (int rc = rtnl_addr_set_local(addr.get(), local.get()); rc < 0) {
    return std::unexpected(nlError("rtnl_addr_set_local", rc));
  }
  rtnl_addr_set_prefixlen(addr.get(), prefix.length);
  if (prefix.address.family == Family::V6) {
    // A VIP taken over from another node must be usable at once; duplicate address
    // detection would hold it "tentative" for a second or more.
    rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
  }
  return addr;
}

std::optional<IpPrefix> toPrefix(rtnl_addr* addr) {
  nl_addr* local = rtnl_addr_get_local(addr);
  if (local == nullptr) {
    return std::nullopt;
  }
  IpPrefix prefix;
  const int family = nl_addr_get_family(local);
  if (family == AF_INET && nl_addr_get_len(local) == 4) {
    prefix.address.family = Family::V4;
  } else if (family == AF_INET6 && nl_addr_get_len(local) == 16) {
    prefix.address.family = Family::V6;
  } else {
    return std::nullopt;
  }
  std::memcpy(prefix.address.bytes.data(), nl_addr_get_binary_addr(local), nl_addr_get_len(local));
  prefix.length = static_cast<std::uint8_t>(rtnl_addr_get_prefixlen(addr));
  return prefix;
}

std::string describe(unsigned index, const IpPrefix& prefix) {
  char name[IF_NAMESIZE] = "?";
  ::if_indextoname(index, name);
  return toString(prefix) + " on " + name;
}

} // namespace

void NlSockDeleter::operator()(nl_sock* sock) const noexcept { nl_socket_free(sock); }

sys::Result<RouteSocket> RouteSocket::open() {
  auto sock = connectSocket();
  if (!sock) {
    return std::unexpected(sock.error());
  }
  return RouteSocket(std::move(*sock));
}

sys::Result<LinkInfo> RouteSocket::link(const std::string& name) const {
  rtnl_link* raw = nullptr;
  if (int rc = rtnl_link_get_kernel(sock_.get(), 0, name.c_str(), &raw); rc < 0) {
    auto error = nlError("interface '" + name + "'", rc);
    if (error.code == Errc::NotFound) {
      error.message = "interface '" + name +
                      "' does not exist in this network namespace (see 'ip link')";
    }
    return std::unexpected(error);
  }
  LinkPtr link(raw);
  return toLinkInfo(link.get());
}

sys::Result<LinkInfo> RouteSocket::link(unsigned index) const {
  rtnl_link* raw = nullptr;
  if (int rc = rtnl_link_get_kernel(sock_.get(), static_cast<int>(index), nullptr, &raw); rc < 0) {
    return std::unexpected(nlError("interface index " + std::to_string(index), rc));
  }
  LinkPtr link(raw);
  return toLinkInfo(link.get());
}

sys::Status RouteSocket::setLinkUp(unsigned index, bool up) const {
  auto current = link(index);
  if (!current) {
    return std::unexpected(current.error());
  }
  LinkPtr original(rtnl_link_alloc());
  LinkPtr change(rtnl_link_alloc());
  if (!original || !change) {
    return fail(Errc::System, "out of memory building an rtnetlink link change");
  }
  rtnl_link_set_ifindex(original.get(), static_cast<int>(index));
  if (up) {
    rtnl_link_set_flags(change.get(), IFF_UP);
  } else {
    rtnl_link_unset_flags(change.get(), IFF_UP);
  }
  if (int rc = rtnl_link_change(sock_.get(), original.get(), change.get(), 0); rc < 0) {
    return std::unexpected(
        nlError(std::string("cannot set ") + current->name + (up ? " up" : " down"), rc));
  }
  return {};
}

sys::Status RouteSocket::addAddress(unsigned index, const IpPrefix& prefix, std::chrono::seconds lifetime) const {
  auto addr = buildAddress(index, prefix);
  if (!addr) {
    return std::unexpected(addr.error());
  }
  int flags = NLM_F_CREATE | NLM_F_EXCL;
  if (lifetime.count() > 0) {
    // The kernel removes the address itself when this runs out; adding it again (replace)
    // starts the count afresh.
    const auto seconds = static_cast<std::uint32_t>(lifetime.count());
    rtnl_addr_set_valid_lifetime(addr->get(), seconds);
    rtnl_addr_set_preferred_lifetime(addr->get(), seconds);
    flags = NLM_F_CREATE | NLM_F_REPLACE;
  }
  const int rc = rtnl_addr_add(sock_.get(), addr->get(), flags);
  if (rc < 0 && rc != -NLE_EXIST) {
    return std::unexpected(nlError("cannot add " + describe(index, prefix), rc));
  }
  return {};
}

sys::Status RouteSocket::removeAddress(unsigned index, const IpPrefix& prefix) const {
  auto addr = buildAddress(index, prefix);
  if (!addr) {
    return std::unexpected(addr.error());
  }
  const int rc = rtnl_addr_delete(sock_.get(), addr->get(), 0);
  if (rc < 0 && rc != -NLE_NOADDR && rc != -NLE_OBJ_NOTFOUND && rc != -NLE_NODEV) {
    return std::unexpected(nlError("cannot remove " + describe(index, prefix), rc));
  }
  return {};
}

sys::Result<std::vector<IpPrefix>> RouteSocket::addresses(unsigned index) const {
  nl_cache* raw = nullptr;
  if (int rc = rtnl_addr_alloc_cache(sock_.get(), &raw); rc < 0) {
    return std::unexpected(nlError("cannot list addresses", rc));
  }
  CachePtr cache(raw);
  std::vector<IpPrefix> result;
  for (nl_object* object = nl_cache_get_first(cache.get()); object != nullptr;
       object = nl_cache_get_next(object)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(object);
    if (static_cast<unsigned>(rtnl_addr_get_ifindex(addr)) != index) {
      continue;
    }
    if (auto prefix = toPrefix(addr)) {
      result.push_back(*prefix);
    }
  }
  return result;
}

namespace {

struct ParseContext {
  int message_type = 0;
  std::vector<NetEvent>* events = nullptr;
};

void onObject(nl_object* object, void* arg) noexcept {
  auto& context = *static_cast<ParseContext*>(arg);
  const std::string_view type = nl_object_get_type(object);
  try {
    if (type == "route/addr") {
      auto* addr = reinterpret_cast<rtnl_addr*>(object);
      if (auto prefix = toPrefix(addr)) {
        NetEvent event;
        event.kind = context.message_type == RTM_NEWADDR ? NetEvent::Kind::AddressAdded
                                                         : NetEvent::Kind::AddressRemoved;
        event.index = static_cast<unsigned>(rtnl_addr_get_ifindex(addr));
        event.prefix = *prefix;
        context.events->push_back(event);
      }
    } else if (type == "route/link") {
      const auto info = toLinkInfo(reinterpret_cast<rtnl_link*>(object));
      NetEvent event;
      event.kind = NetEvent::Kind::LinkChanged;
      event.index = info.index;
      event.admin_up = context.message_type != RTM_DELLINK && info.admin_up;
      event.carrier_up = context.message_type != RTM_DELLINK && info.carrier_up;
      context.events->push_back(event);
    }
  } catch (...) {
    // Out of memory while recording one event: ask for a full re-read instead of losing it.
    context.events->push_back(NetEvent{});
  }
}

int onMessage(nl_msg* message, void* arg) noexcept {
  auto& context = *static_cast<ParseContext*>(arg);
  context.message_type = nlmsg_hdr(message)->nlmsg_type;
  nl_msg_parse(message, onObject, arg);
  return NL_OK;
}

} // namespace

sys::Result<NetlinkMonitor> NetlinkMonitor::open(int receive_buffer_bytes) {
  auto sock = connectSocket();
  if (!sock) {
    return std::unexpected(sock.error());
  }
  nl_socket_disable_seq_check(sock->get());
  if (int rc = nl_socket_add_memberships(sock->get(), RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
                                         RTNLGRP_IPV6_IFADDR, 0);
      rc < 0) {
    return std::unexpected(nlError("cannot subscribe to rtnetlink link/address changes", rc));
  }
  if (int rc = nl_socket_set_buffer_size(sock->get(), receive_buffer_bytes, 0); rc < 0) {
    return std::unexpected(nlError("cannot size the rtnetlink monitor buffer", rc));
  }
  if (int rc = nl_socket_set_nonblocking(sock->get()); rc < 0) {
    return std::unexpected(nlError("cannot make the rtnetlink monitor non-blocking", rc));
  }
  return NetlinkMonitor(std::move(*sock));
}

int NetlinkMonitor::fd() const noexcept { return nl_socket_get_fd(sock_.get()); }

sys::Result<std::vector<NetEvent>> NetlinkMonitor::read() {
  std::vector<NetEvent> events;
  ParseContext context{0, &events};
  nl_socket_modify_cb(sock_.get(), NL_CB_VALID, NL_CB_CUSTOM, onMessage, &context);
  for (;;) {
    const int rc = nl_recvmsgs_default(sock_.get());
    if (rc >= 0) {
      continue;
    }
    if (rc == -NLE_AGAIN) {
      break;
    }
    if (rc == -NLE_NOMEM) {
      // recvmsg's ENOBUFS, which libnl reports as NLE_NOMEM: the kernel dropped events.
      events.push_back(NetEvent{});
      continue;
    }
    return std::unexpected(nlError("reading the rtnetlink monitor", rc));
  }
  return events;
}

} // namespace failover::netctl
