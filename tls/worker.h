#pragma once

#include "sys/event_loop.h"
#include "sys/wakeup.h"
#include "sys/unique_fd.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <thread>
#include <unordered_map>

namespace failover::tls {

class Connection;
class TlsServer;

// One TLS worker thread: its own epoll loop, its own SO_REUSEPORT listening socket, and the
// connections it accepted. Other threads talk to it only through drain() (its sys::Wakeup).
class Worker {
public:
  static sys::Result<std::unique_ptr<Worker>> create(TlsServer& server, sys::UniqueFd listener);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  // Thread-safe: stop accepting, let connections finish until deadline, then stop.
  void drain(std::chrono::steady_clock::time_point deadline);
  // Thread-safe: close idle connections, busy ones after their response; keep accepting.
  void closeConnections();
  void join();

  sys::EventLoop& loop() noexcept { return loop_; }
  TlsServer& server() noexcept { return server_; }
  // Routes the backend socket's events to the connection whose client fd is client_fd.
  sys::Status watchBackend(int backend_fd, int client_fd, std::uint32_t events);
  // Sync mode: the connection holds its final handshake flight until its session is settled
  // or until `deadline`; the worker lets it progress again on either.
  void hold(int client_fd, std::chrono::steady_clock::time_point deadline);
  // Thread-safe: some session may be settled now (cheap when nothing is held here).
  void sessionsSettled();

private:
  Worker(TlsServer& server, sys::UniqueFd listener, sys::EventLoop loop, sys::Wakeup wake,
         sys::TimerFd sweep, sys::TimerFd hold_timer);
  void run();
  void onAccept();
  void onWake();
  void onSweep();
  // client_events: what epoll reported on the client's socket (0 for the backend's).
  void onConnectionEvent(int client_fd, std::uint32_t client_events);
  void close(int client_fd);
  // Keeps the server's open_connections gauge at the sum of its workers' connections.
  void countOpen(std::size_t open);
  void stopListening();
  // Tells every open connection to finish (idle ones close now), and lets each progress.
  void drainConnections();
  // Lets every held connection progress: those settled or past their deadline go on.
  void progressHeld();
  // For the first held connection's deadline; off when none is held.
  void armHoldTimer();

  struct Held {
    int client_fd;
    std::chrono::steady_clock::time_point deadline;
  };

  TlsServer& server_;
  sys::UniqueFd listener_;
  sys::EventLoop loop_;
  sys::Wakeup wake_;
  sys::TimerFd sweep_;
  sys::TimerFd hold_timer_; // armed for the first held connection's deadline
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
  std::deque<Held> held_; // in deadline order: every hold has the same bound
  std::atomic<std::size_t> holding_{0};
  std::atomic<bool> settled_{false};
  std::size_t open_ = 0; // what this worker added to the open_connections gauge
  std::atomic<bool> drain_requested_{false};
  std::atomic<bool> close_requested_{false};
  std::atomic<std::int64_t> drain_deadline_ns_{0};
  bool draining_ = false;
  std::thread thread_;
};

} // namespace failover::tls
