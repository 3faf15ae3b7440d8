#pragma once

#include "netctl/address.h"
#include "netctl/frames.h"
#include "sys/error.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

struct nl_sock;

namespace failover::netctl {

struct NlSockDeleter {
  void operator()(nl_sock* sock) const noexcept;
};
using NlSockPtr = std::unique_ptr<nl_sock, NlSockDeleter>;

struct LinkInfo {
  unsigned index = 0;
  std::string name;
  MacAddress mac;
  bool admin_up = false;  // IFF_UP: set by us or the operator
  bool carrier_up = false; // IFF_LOWER_UP: the link itself works
};

// Requests to the kernel over rtnetlink (libnl-route-3). Each call waits for the kernel's
// acknowledgement, so when it returns the change is made. Blocking, but rtnetlink answers in
// microseconds; the monitor (below) is what joins the event loop.
class RouteSocket {
public:
  static sys::Result<RouteSocket> open();

  sys::Result<LinkInfo> link(const std::string& name) const;
  sys::Result<LinkInfo> link(unsigned index) const;
  sys::Status setLinkUp(unsigned index, bool up) const;
  // "Already there" counts as success: the outcome the caller wants holds. With a lifetime,
  // the address expires unless added again before it runs out (an existing one is refreshed).
  sys::Status addAddress(unsigned index, const IpPrefix& prefix, std::chrono::seconds lifetime = {}) const;
  // "Not there" counts as success, for the same reason.
  sys::Status removeAddress(unsigned index, const IpPrefix& prefix) const;
  sys::Result<std::vector<IpPrefix>> addresses(unsigned index) const;

private:
  explicit RouteSocket(NlSockPtr sock) : sock_(std::move(sock)) {}
  NlSockPtr sock_;
};

// What the kernel says changed. Resync means events were lost (ENOBUFS): the consumer must
// re-read the state it cares about rather than assume it.
struct NetEvent {
  enum class Kind { AddressAdded, AddressRemoved, LinkChanged, Resync };
  Kind kind = Kind::Resync;
  unsigned index = 0;
  IpPrefix prefix{};          // address events
  bool admin_up = false;      // link events
  bool carrier_up = false;    // link events
};

// A non-blocking rtnetlink socket subscribed to link and IPv4/IPv6 address changes; its fd
// joins the event loop and read() drains what is pending.
class NetlinkMonitor {
public:
  static constexpr int DEFAULT_BUFFER = 1 << 20;
  static sys::Result<NetlinkMonitor> open(int receive_buffer_bytes = DEFAULT_BUFFER);
  int fd() const noexcept;
  sys::Result<std::vector<NetEvent>> read();

private:
  explicit NetlinkMonitor(NlSockPtr sock) : sock_(std::move(sock)) {}
  NlSockPtr sock_;
};

} // namespace failover::netctl
