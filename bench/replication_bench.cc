// Replication between two lab nodes through the daemon's own code (ClusterLink over real
// Corosync, AES-256-GCM sealing, the message codec, the session cache): records per second,
// and the delivery latency of each record (CLOCK_MONOTONIC is shared by the lab's namespaces,
// so the sender stamps each record and the receiver subtracts).
//   replication_bench send RATE SECONDS BATCH   (RATE records/s; 0: as fast as the queue takes)
//   replication_bench receive                   (until the sender's end marker)
#include "daemon/cluster/cluster_link.h"
#include "daemon/cluster/message.h"
#include "tls/session_cache.h"

#include <sys/epoll.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

using namespace failover;
using namespace failover::daemon::cluster;

namespace {

constexpr std::size_t DER_SIZE = 180; // a TLS 1.2 session without a client certificate
const std::vector<std::uint8_t> KEY(64, 0x42);

std::int64_t monotonicNs() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

int send(ClusterLink& link, sys::EventLoop& loop, const Sealer& sealer, double rate, double seconds,
         std::size_t batch) {
  auto tick = sys::TimerFd::create();
  std::uint64_t sequence = 0, sent = 0, id = 0;
  const auto start = monotonicNs();
  const auto encode = [&](Payload payload) {
    Header header{MessageType::Sessions, link.localNode(), 7, ++sequence,
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count()};
    return encodeMessage(Message{header, std::move(payload)}, sealer);
  };
  (void)loop.add(tick->fd(), EPOLLIN, [&](std::uint32_t) {
    tick->acknowledge();
    const double elapsed = static_cast<double>(monotonicNs() - start) / 1e9;
    if (elapsed >= seconds) {
      link.send(encode(SnapshotDoneMessage{0, static_cast<std::uint32_t>(sent)}));
      std::printf("sent %llu records in %.2f s\n", static_cast<unsigned long long>(sent), elapsed);
      loop.stop();
      return;
    }
    // Due now: at RATE, or whatever keeps the send queue at a few hundred messages.
    const auto due = rate > 0 ? static_cast<std::uint64_t>(rate * elapsed) : sent + batch * 64;
    while (sent < due && (rate > 0 || link.queued() < 256)) {
      SessionsMessage message;
      const std::size_t count = std::min<std::uint64_t>(batch, due - sent);
      for (std::size_t i = 0; i < count; ++i, ++id) {
        tls::SessionRecord record;
        record.id.resize(32);
        std::memcpy(record.id.data(), &id, sizeof id);
        record.der.assign(DER_SIZE, 0x30);
        record.expires_at = monotonicNs(); // the send stamp (a benchmark-only use of the field)
        message.records.push_back(std::move(record));
      }
      if (!link.send(encode(std::move(message)))) {
        break;
      }
      sent += count;
    }
    (void)tick->arm(std::chrono::milliseconds(1));
  });
  (void)tick->arm(std::chrono::milliseconds(1));
  return loop.run() ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc < 2) {
    std::fprintf(stderr, "usage: replication_bench send RATE SECONDS BATCH | receive\n");
    return 2;
  }
  const std::string mode = argv[1];
  auto loop = sys::EventLoop::create();
  auto sealer = Sealer::create(KEY);
  if (!loop || !sealer) {
    return 1;
  }
  std::vector<double> latencies_ms;
  tls::SessionCache cache(10'000'000, 10'000'000ULL * 1024);
  std::int64_t first = 0, last = 0;
  std::uint64_t expected = 0;
  bool done = false;
  bool ready = false;
  auto link = ClusterLink::create(
      "replication-bench", *loop,
      {[&](const GroupMember&, std::span<const std::uint8_t> data) {
         const auto now = monotonicNs();
         auto message = decodeMessage(data, *sealer);
         if (!message) {
           return;
         }
         if (auto* sessions = std::get_if<SessionsMessage>(&message->payload)) {
           first = first == 0 ? now : first;
           last = now;
           for (auto& record : sessions->records) {
             latencies_ms.push_back(static_cast<double>(now - record.expires_at) / 1e6);
             record.expires_at = 4'000'000'000;
             cache.insert(std::move(record), 0);
           }
         } else if (auto* end = std::get_if<SnapshotDoneMessage>(&message->payload)) {
           expected = end->sessions;
           done = true;
           loop->stop();
         }
       },
       [&](const std::vector<GroupMember>& members, const auto&, const auto&) {
         if (members.size() >= 2 && !ready) {
           ready = true;
           std::printf("ready\n");
           if (mode == "receive") {
             return;
           }
           loop->stop(); // the sender starts once the receiver is in the group
         }
       },
       [](bool) {}, [](bool) {}});
  link->start();
  (void)loop->run();
  if (mode == "send") {
    return send(*link, *loop, *sealer, std::stod(argv[2]), std::stod(argv[3]),
                static_cast<std::size_t>(std::stoul(argv[4])));
  }
  if (!done) {
    (void)loop->run();
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const auto at = [&](double q) {
    return latencies_ms.empty() ? 0.0 : latencies_ms[static_cast<std::size_t>(q * static_cast<double>(latencies_ms.size() - 1))];
  };
  const double seconds = static_cast<double>(last - first) / 1e9;
  std::printf("received %zu of %llu records in %.2f s: %.0f records/s; latency p50 %.3f ms p99 %.3f ms max %.3f ms\n",
              latencies_ms.size(), static_cast<unsigned long long>(expected), seconds,
              seconds > 0 ? static_cast<double>(latencies_ms.size()) / seconds : 0.0, at(0.5), at(0.99),
              latencies_ms.empty() ? 0.0 : latencies_ms.back());
  return 0;
}
