#pragma once

#include "sys/error.h"
#include "sys/event_loop.h"
#include "sys/unique_fd.h"

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace failover::daemon {

// Serves one-shot requests on the event loop: accept, read one bounded request (up to
// `terminator`), answer, close. The control socket (unix, "\n") and the metrics endpoint
// (TCP, HTTP's "\r\n\r\n") are both this. Never blocks, and no peer can lock out the next
// one: a request that is too long is answered with an error, a connection that has not been
// answered within `timeout` is closed, and at the connection cap a new connection closes the
// oldest. An operator's request or a scrape, sent at once, is then served beside any number of
// idle or slow peers.
class RequestServer {
public:
  struct Options {
    std::string terminator = "\n";
    std::size_t max_request = 1024;
    std::size_t max_connections = 64;
    // From the accept to the end of the answer: both the idle and the header timeout.
    std::chrono::milliseconds timeout{5000};
    // Decides whether a peer may talk to us from its credentials and its supplementary groups
    // (SO_PEERCRED, SO_PEERGROUPS of a unix peer); null: everyone.
    std::function<bool(const ucred&, const std::vector<gid_t>&)> allow;
    std::string refused_answer;   // sent to a peer that allow() refuses
    std::string too_large_answer; // sent when a request exceeds max_request
  };
  // Returns the response to a complete request.
  using Handler = std::function<std::string(const std::string& request)>;

  static sys::Result<std::unique_ptr<RequestServer>> listenUnix(const std::string& path, mode_t mode, gid_t group,
                                                                sys::EventLoop& loop, Options options,
                                                                Handler handler);
  static sys::Result<std::unique_ptr<RequestServer>> listenTcp(const std::string& address, std::uint16_t port,
                                                               sys::EventLoop& loop, Options options,
                                                               Handler handler);
  ~RequestServer();
  RequestServer(const RequestServer&) = delete;
  RequestServer& operator=(const RequestServer&) = delete;

  // Connections closed without their request's answer, by reason.
  struct Counters {
    std::uint64_t refused = 0;   // allow() said no
    std::uint64_t too_large = 0; // no terminator within max_request
    std::uint64_t timed_out = 0; // not answered within timeout
    std::uint64_t evicted = 0;   // the oldest, closed to make room at max_connections
  };
  const Counters& counters() const noexcept { return counters_; }

private:
  using Deadline = std::chrono::steady_clock::time_point;
  struct Client {
    sys::UniqueFd fd;
    Deadline deadline;
    std::string in;
    std::string out;
    bool answered = false;
  };

  RequestServer(sys::UniqueFd listener, sys::TimerFd timer, sys::EventLoop& loop, Options options, Handler handler,
                std::string path);
  // The listening socket is ready: the part both kinds of socket share.
  static sys::Result<std::unique_ptr<RequestServer>> serve(sys::UniqueFd listener, sys::EventLoop& loop,
                                                           Options options, Handler handler, std::string path);
  void onAccept();
  void onClient(int fd);
  void closeExpired();
  std::map<int, Client>::iterator oldest();
  void closeOldest();
  // Arms the timer for the earliest deadline (a timer that fires early finds nothing to close).
  void armForEarliest();
  void close(int fd);

  sys::UniqueFd listener_;
  sys::TimerFd timer_;
  sys::EventLoop& loop_;
  Options options_;
  Handler handler_;
  std::string path_; // unlinked on destruction (unix sockets)
  std::map<int, Client> clients_;
  Counters counters_;
};

} // namespace failover::daemon
