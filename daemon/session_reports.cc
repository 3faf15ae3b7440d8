#include "daemon/session_reports.h"

#include "tls/service_channel.h"

namespace failover::daemon {

namespace channel = tls::channel;

namespace {

// Queues the message's datagram unless the queue is full (then counts the report as lost).
bool queue(std::vector<sys::SecretBuffer>& queued, tls::TlsCounters& counters, const channel::Message& message) {
  if (queued.size() >= SessionReports::MAX_QUEUED) {
    tls::TlsCounters::add(counters.sessions_unreported);
    return false;
  }
  queued.push_back(channel::encode(message));
  return true;
}

} // namespace

std::uint64_t SessionReports::sessionCreated(const tls::SessionRecord& record) noexcept {
  try {
    const std::lock_guard lock(mutex_);
    if (!queue(queued_, counters_, channel::SessionCreated{next_, record})) {
      return 0;
    }
    return next_++;
  } catch (...) {
    return 0; // out of memory: the session stays local
  }
}

void SessionReports::sessionRemoved(std::span<const std::uint8_t> id) noexcept {
  try {
    const std::lock_guard lock(mutex_);
    (void)queue(queued_, counters_, channel::SessionRemoved{{id.begin(), id.end()}});
  } catch (...) {
  }
}

void SessionReports::flush() noexcept {
  const std::lock_guard lock(mutex_);
  if (queued_.empty()) {
    return;
  }
  if (const auto sent = channel::sendDatagrams(channel_, queued_); sent) {
    queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(*sent));
  }
}

} // namespace failover::daemon
