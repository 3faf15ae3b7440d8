#include "daemon/lease_service.h"

#include "daemon/log.h"

#include <sys/epoll.h>

#include <stdexcept>

namespace failover::daemon {

using sys::orThrow;

LeaseService::LeaseService(const Config& config, cluster::Sealer sealer, sys::EventLoop& loop,
                           const sys::Clock& clock, Callbacks callbacks)
    : clock_(clock), loop_(loop), callbacks_(std::move(callbacks)),
      lease_(config.lease.settings, lease::Nanos{clock.monotonicNs()}),
      timer_(orThrow(sys::TimerFd::create(), "lease timer")),
      changed_(orThrow(sys::Wakeup::create(), "lease")) {
  auto link = cluster::LeaseLink::create(std::move(sealer), config.lease.settings.self, config.lease.voters, clock,
                                         loop, [this](std::uint32_t from, const lease::Message& message) {
                                           if (usable_) {
                                             send(lease_.receive(from, message, now()));
                                             afterInput();
                                           }
                                         },
                                         config.protocol_versions);
  if (!link) {
    throw std::runtime_error("lease-voter (" + config.source.string() + "): " + link.error().message);
  }
  link_ = std::move(*link);
  if (auto added = loop_.add(timer_.fd(), EPOLLIN,
                             [this](std::uint32_t) {
                               timer_.acknowledge();
                               send(lease_.tick(now()));
                               afterInput();
                             });
      !added) {
    throw std::runtime_error("lease timer: " + added.error().message);
  }
  if (auto added = loop_.add(changed_->fd(), EPOLLIN,
                             [this](std::uint32_t) {
                               changed_->acknowledge();
                               callbacks_.changed();
                             });
      !added) {
    throw std::runtime_error("lease: " + added.error().message);
  }
  Log{LogLevel::Notice, "lease"} << "majority lease on: " << config.lease.voters.size() << " voters, renewal every "
                                 << config.lease.settings.renew_interval.count() / 1'000'000 << " ms, lease "
                                 << config.lease.settings.length.count() / 1'000'000 << " ms";
}

LeaseService::~LeaseService() {
  loop_.remove(timer_.fd());
  loop_.remove(changed_->fd());
}

void LeaseService::send(std::vector<lease::Outgoing> outgoing) {
  for (const auto& out : outgoing) {
    link_->send(out);
  }
}

void LeaseService::want() {
  if (usable_) {
    send(lease_.want(now()));
    afterInput();
  }
}

void LeaseService::giveUp() {
  // The gate shuts before any voter may hear that it is free.
  callbacks_.limit_gate(lease::Nanos{0});
  send(lease_.giveUp(now()));
  afterInput();
}

void LeaseService::nameSuccessor(std::uint32_t node) { lease_.nameSuccessor(node); }

void LeaseService::checkNode(std::uint32_t corosync_node) {
  if (corosync_node == 0 || corosync_node == lease_.settings().self || !usable_) {
    return;
  }
  usable_ = false;
  Log{LogLevel::Error, "lease"} << "corosync says this node is node " << corosync_node
                                << ", but its lease-voter entry says " << lease_.settings().self
                                << ": this node will not hold the lease (and so never the VIP) until the "
                                   "configuration gives it corosync's node id";
  giveUp();
}

void LeaseService::afterInput() {
  const auto at = now();
  callbacks_.limit_gate(lease_.end());
  if (const auto due = lease_.nextDue(at)) {
    (void)timer_.arm(*due - at);
  } else {
    (void)timer_.disarm();
  }
  std::set<std::uint32_t> silent;
  for (const auto& voter : link_->voters()) {
    if (lease_.silent(voter.id, at)) {
      silent.insert(voter.id);
    }
  }
  const bool held = lease_.held(at);
  if (held != held_reported_ || silent != silent_reported_) {
    if (held != held_reported_) {
      Log{held ? LogLevel::Notice : LogLevel::Warning, "lease"}
          << (held ? "holds the majority lease (" + std::to_string(lease_.grants()) + " grants)"
                   : std::string(lease_.wanted() ? "lost the majority lease" : "gave the majority lease back"));
    }
    held_reported_ = held;
    silent_reported_ = std::move(silent);
    changed_->notify();
  }
}

void LeaseService::addFacts(ClusterFacts& facts) const {
  if (usable_) {
    lease::addLeaseFacts(facts, lease_, now());
  }
}

nlohmann::json LeaseService::status() const {
  const auto at = now();
  const auto& stats = lease_.stats();
  const auto& link = link_->stats();
  nlohmann::json rejected = nlohmann::json::object();
  for (std::size_t i = 0; i < link.rejected.size(); ++i) {
    rejected[std::string(cluster::toString(static_cast<cluster::RejectReason>(i)))] = link.rejected[i];
  }
  nlohmann::json silent = nlohmann::json::array();
  for (const auto node : silent_reported_) {
    silent.push_back(node);
  }
  const auto bound = lease_.boundTo(at);
  return {{"enabled", true},
          {"usable", usable_},
          {"voters", link_->voters().size()},
          {"wanted", lease_.wanted()},
          {"held", lease_.held(at)},
          {"remaining_ms", lease_.held(at) ? (lease_.end() - at).count() / 1'000'000 : 0},
          {"grants", lease_.held(at) ? lease_.grants() : 0},
          {"voted_for", bound ? nlohmann::json(*bound) : nlohmann::json(nullptr)},
          {"silent", silent},
          {"renewals", stats.renewals},
          {"missed_renewals", stats.missed_renewals},
          {"losses", stats.losses},
          {"stood_back", stats.stood_back},
          {"grants_given", stats.grants_given},
          {"requests_refused", stats.requests_refused},
          {"datagrams_sent", link.sent},
          {"send_errors", link.send_errors},
          {"datagrams_received", link.received},
          {"duplicates", link.duplicates},
          {"rejected", rejected}};
}

} // namespace failover::daemon
