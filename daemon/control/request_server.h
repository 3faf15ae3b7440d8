#pragma once

#include "sys/error.h"
#include "sys/event_loop.h"
#include "sys/unique_fd.h"

#include <sys/socket.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace failover::daemon {

// Serves one-shot requests on the event loop: accept, read one bounded request (up to
// `terminator`), answer, close. The control socket (unix, "\n") and the metrics endpoint
// (TCP, HTTP's "\r\n\r\n") are both this. Never blocks: slow peers are buffered, and dropped
// when they exceed the size or the connection limit.
class RequestServer {
public:
  struct Options {
    std::string terminator = "\n";
    std::size_t max_request = 1024;
    std::size_t max_connections = 16;
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

  std::uint64_t refused() const noexcept { return refused_; }

private:
  struct Client {
    sys::UniqueFd fd;
    std::string in;
    std::string out;
    bool answered = false;
  };

  RequestServer(sys::UniqueFd listener, sys::EventLoop& loop, Options options, Handler handler, std::string path);
  void onAccept();
  void onClient(int fd);
  void close(int fd);

  sys::UniqueFd listener_;
  sys::EventLoop& loop_;
  Options options_;
  Handler handler_;
  std::string path_; // unlinked on destruction (unix sockets)
  std::map<int, Client> clients_;
  std::uint64_t refused_ = 0;
};

} // namespace failover::daemon
