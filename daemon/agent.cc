#include "daemon/agent.h"

#include "daemon/control/protocol.h"
#include "daemon/effects.h"
#include "daemon/log.h"
#include "daemon/plans.h"
#include "daemon/replication_facts.h"
#include "daemon/status.h"
#include "sys/cpu_set.h"
#include "sys/process.h"
#include "tls/secret.h"

#include <grp.h>
#include <sys/epoll.h>
#include <systemd/sd-daemon.h>

#include <csignal>
#include <stdexcept>

namespace failover::daemon {

using namespace std::chrono_literals;

namespace {

constexpr int STOP_SIGNAL = SIGTERM;
constexpr int INTERRUPT_SIGNAL = SIGINT;
constexpr int RELOAD_SIGNAL = SIGHUP;
constexpr auto TICK = 1s;
constexpr auto DRAIN_BOUND = 2000ms;

} // namespace

using sys::orThrow;

Agent::Agent(Config config, boost::program_options::variables_map command_line, sys::EventLoop& loop)
    : config_(std::make_shared<const Config>(std::move(config))), command_line_(std::move(command_line)),
      loop_(loop), signals_(orThrow(sys::SignalFd::create({STOP_SIGNAL, INTERRUPT_SIGNAL, RELOAD_SIGNAL}), "signals")),
      tick_(orThrow(sys::TimerFd::create(), "timer")),
      roles_(roleSettings(*config_)), decision_timer_(orThrow(sys::TimerFd::create(), "timer")) {
  const auto& c = *config_;
  setLogLevel(c.log_level);
  // First, so that every thread and process started from here on inherits it. The TLS service
  // process sets its own: tls-cpus, or else the CPUs failoverd was started on.
  std::string tls_cpus;
  if (c.agent_cpus) {
    if (!c.tls_cpus) {
      tls_cpus = "tls-cpus = " + orThrow(sys::CpuSet::ofThisThread(), "agent-cpus").toString() + "\n";
    }
    orThrow(c.agent_cpus->pinThisThread(), "agent-cpus = " + c.agent_cpus->toString());
  }
  orThrow(netctl::interfaceIndex(c.interface), "interface (" + c.source.string() + ")");
  std::error_code ec;
  std::filesystem::create_directories(c.state_directory, ec);
  auto key = orThrow(tls::readSecretFile(c.cluster_key_file, MIN_CLUSTER_KEY, MAX_CLUSTER_KEY), "cluster-key-file");
  auto sealer = orThrow(cluster::Sealer::create(key.view()), "cluster key");

  auto counters = orThrow(TlsService::createCounters(), "TLS service counters");
  tls_ = orThrow(tls::TlsServer::create(c.listener, nullptr, static_cast<tls::TlsCounters*>(counters.data())),
                 "TLS service");
  tls_service_ = std::make_unique<TlsService>(
      *tls_, std::move(counters), [this, tls_cpus] { return renderSettings(*config_) + tls_cpus; }, loop_,
      TlsService::Callbacks{[this](const tls::SessionRecord& record) { return replicator_->sessionCreated(record); },
                            [this](std::span<const std::uint8_t> id) { replicator_->sessionRemoved(id); },
                            [this] { replicator_->flushPending(); }});
  link_ = cluster::ClusterLink::create(
      c.cluster_group, loop_,
      {[this](const cluster::GroupMember& from, std::span<const std::uint8_t> data) { replicator_->onDeliver(from, data); },
       [this](const auto& members, const auto& joined, const auto& left) {
         roles_.setNode(link_->localNode());
         Log{LogLevel::Info, "cluster"} << members.size() << " failoverd processes in group '"
                                        << config_->cluster_group << "' (" << joined.size() << " joined, "
                                        << left.size() << " left)";
         replicator_->onMembership(members, joined, left); // it reports the change (FactsChanged)
       },
       [this](bool quorate) {
         if (quorate != quorate_) {
           Log{LogLevel::Notice, "cluster"} << (quorate ? "quorate" : "NOT quorate");
         }
         quorate_ = quorate;
         replicator_->onQuorum(quorate);
         handle(event::FactsChanged{});
       },
       [this](bool connected) {
         if (connected) {
           Log{LogLevel::Notice, "cluster"} << "connected to corosync as node " << link_->localNode();
           roles_.setNode(link_->localNode());
           if (lease_) {
             lease_->checkNode(link_->localNode());
           }
         } else {
           Log{LogLevel::Error, "cluster"} << "no connection to corosync: " << link_->lastError()
                                           << "; retrying";
           quorate_ = false;
         }
         connected_ = connected;
         replicator_->onConnection(connected);
         handle(event::FactsChanged{});
       }});
  if (!link_) {
    throw std::runtime_error("cannot create the cluster link");
  }
  session_store_ = std::make_unique<cluster::TlsSessionStore>(*tls_, *tls_service_);
  replicator_ = std::make_unique<cluster::Replicator>(
      std::move(sealer), *link_, *session_store_, clock_,
      cluster::Replicator::Settings{c.replication, cluster::Replicator::freshIncarnation(), c.protocol_versions},
      cluster::Replicator::Callbacks{
          [this] { return describeSelf(config_->node_name, roles_.priority(), roles_, facts()); },
          [this] { handle(event::FactsChanged{}); },
          // Sessions come from the TLS service's channel, on this loop: the batch read in one
          // turn is flushed at its end (Callbacks::reported below), in one message.
          [] {},
          [this](const cluster::GroupMember& from, const cluster::HandoverMessage& message) {
            handle(toEvent(from, message));
          }});

  vip_ = orThrow(netctl::VipOwner::create(
                     vipPlan(c), loop_,
                     {[this] {
                        // The TLS listener is always open (IP_FREEBIND): release held SYNs now.
                        (void)vip_->serviceReady();
                        Log{LogLevel::Notice, "vip"} << "taken and announced on " << config_->interface;
                        handle(event::VipTaken{vip_->link().mac.bytes});
                      },
                      [this](const std::string& reason) { handle(event::VipLost{reason}); },
                      [](std::size_t held) {
                        Log{LogLevel::Info, "vip"} << held << " connection attempts held during the takeover";
                      },
                      [this](bool serviceable) {
                        Log{serviceable ? LogLevel::Notice : LogLevel::Warning, "vip"}
                            << "service interface " << config_->interface
                            << (serviceable ? " is up with carrier: eligible again"
                                            : " is down or has no carrier: not eligible");
                        replicator_->announce();
                        handle(event::FactsChanged{});
                      },
                      [](const std::string& what) { Log{LogLevel::Warning, "vip"} << what; }}),
                 "VIP");
  if (c.lease.enabled) {
    vip_->limitGate(std::chrono::nanoseconds{0}); // shut until a majority grants the lease
    lease_ = std::make_unique<LeaseService>(c, orThrow(cluster::Sealer::create(key.view()), "cluster key"), loop_,
                                            clock_,
                                            LeaseService::Callbacks{[this] { handle(event::FactsChanged{}); },
                                                                    [this](auto until) { vip_->limitGate(until); }});
  }
  for (const auto& note : vip_->reconciled()) {
    Log{LogLevel::Notice, "vip"} << note;
  }
  orThrow(tls_service_->start(), "TLS service");

  std::optional<gid_t> group;
  if (c.control_group) {
    group = ::getgrnam(c.control_group->c_str())->gr_gid;
  }
  std::filesystem::create_directories(c.control_socket.parent_path(), ec);
  RequestServer::Options control_options;
  control_options.max_request = MAX_CONTROL_REQUEST;
  control_options.allow = [group](const ucred& peer, const std::vector<gid_t>& groups) {
    return mayControl(peer, groups, group);
  };
  control_options.refused_answer = errorLine("permission denied: the control socket is for root" +
                                             std::string(group ? " and group " + *c.control_group : ""));
  control_options.too_large_answer = errorLine("request longer than 1024 bytes");
  control_ = orThrow(RequestServer::listenUnix(c.control_socket.string(), group ? 0660 : 0600, group.value_or(0),
                                               loop_, std::move(control_options),
                                               [this](const std::string& line) { return answerControl(line, *this); }),
                     "control socket");
  if (!c.metrics_address.empty()) {
    RequestServer::Options http;
    http.terminator = "\r\n\r\n";
    http.max_request = 8192;
    http.too_large_answer = "HTTP/1.0 431 Request Header Fields Too Large\r\n\r\n";
    metrics_ = orThrow(RequestServer::listenTcp(c.metrics_address, c.metrics_port, loop_, std::move(http),
                                                [this](const std::string& request) {
                                                  return metricsResponse(request, [this] { return status(); });
                                                }),
                       "metrics-listen");
  }
  if (!c.notify_program.empty()) {
    hooks_runner_ = std::make_unique<HookRunner>(c.notify_program, c.notify_timeout, c.node_name, loop_);
  }
  orThrow(loop_.add(signals_.fd(), EPOLLIN, [this](std::uint32_t) { onSignal(); }), "signals");
  orThrow(loop_.add(tick_.fd(), EPOLLIN, [this](std::uint32_t) { onTick(); }), "timer");
  orThrow(loop_.add(decision_timer_.fd(), EPOLLIN, [this](std::uint32_t) {
            decision_timer_.acknowledge();
            handle(event::TimerFired{});
          }),
          "timer");
  orThrow(tick_.arm(TICK), "timer");
  // Last. The TLS service processes started from here on (restarts) get the default
  // scheduler back: setThreadRealtime sets SCHED_RESET_ON_FORK.
  if (c.realtime_priority > 0) {
    orThrow(sys::setThreadRealtime(c.realtime_priority),
            "realtime-priority = " + std::to_string(c.realtime_priority) +
                " (the service needs CAP_SYS_NICE; realtime-priority = 0 runs without it)");
  }
  Log{LogLevel::Notice, c.node_name} << "started: interface " << c.interface << ", " << c.vips.size()
                                     << " VIP(s), takeover-mode " << toString(c.takeover_mode) << ", TLS on port "
                                     << tls_->port() << ", cluster group '" << c.cluster_group << "'";
  link_->start();
}

Agent::~Agent() {
  loop_.remove(signals_.fd());
  loop_.remove(tick_.fd());
  loop_.remove(decision_timer_.fd());
}

std::string Agent::nameOf(std::uint32_t node) const {
  return memberName(*replicator_, node, link_->localNode(), config_->node_name);
}

std::optional<std::uint32_t> Agent::nodeNamed(const std::string& name) const {
  return memberNamed(*replicator_, name, link_->localNode(), config_->node_name);
}

Millis Agent::now() const { return Millis{clock_.monotonicMs()}; }

Decision Agent::handle(const Event& event) {
  if (stopping_) {
    return {};
  }
  auto decision = roles_.handle(event, facts(), now());
  if (decision.refused && std::holds_alternative<event::HandoverReceived>(event)) {
    Log{LogLevel::Warning, "switchover"} << *decision.refused;
  }
  carryOut(decision);
  return decision;
}

void Agent::carryOut(const Decision& decision) {
  const auto outcome = carryOutEffects(decision, *vip_, *this, [this](std::uint32_t node) { return nameOf(node); });
  if (outcome.takeover_failed) {
    report(decision);
    handle(event::TakeoverFailed{*outcome.takeover_failed});
    return;
  }
  report(decision);
  if (const auto deadline = roles_.deadline()) {
    (void)decision_timer_.arm(std::max(*deadline - now(), Millis{0}) + std::chrono::microseconds(1));
  } else {
    (void)decision_timer_.disarm();
  }
  if (outcome.exit) {
    stop();
  }
}

void Agent::resync() { replicator_->resync(); }
void Agent::publishKeyring() { replicator_->publishKeyring(); }
void Agent::sendHandover(const HandoverStep& step) { replicator_->sendHandover(toMessage(step)); }
void Agent::closeConnections() { tls_service_->closeConnections(); }
// Only a node with the lease on is ever asked to; a switchover names its target either way.
void Agent::contendLease() { lease_->want(); }
void Agent::releaseLease() { lease_->giveUp(); }
void Agent::leaseSuccessor(std::uint32_t node) {
  if (lease_) {
    lease_->nameSuccessor(node);
  }
}

void Agent::report(const Decision& decision) {
  if (decision.changed() && decision.from == Role::HandingOver) {
    Log{LogLevel::Notice, "switchover"} << decision.reason;
  }
  if (decision.changed()) {
    ++transitions_;
    last_transition_ = decision;
    last_transition_at_ = std::time(nullptr);
    Log{LogLevel::Notice, "role"} << toString(decision.from) << " -> " << toString(decision.to) << " ("
                                  << decision.reason << ")";
    replicator_->announce();
    if (hooks_runner_) {
      hooks_runner_->notify({HookEvent::Kind::Transition, std::string(toString(decision.from)),
                             std::string(toString(decision.to)), decision.reason});
    }
  }
  notifySystemd();
}

void Agent::notifySystemd() {
  const std::string status = "STATUS=" + std::string(toString(roles_.role())) +
                             (replicator_->inSync() ? "" : ", not in sync") + (quorate_ ? "" : ", not quorate");
  if (!ready_ && connected_ && replicator_->inSync()) {
    ready_ = true;
    sd_notify(0, ("READY=1\n" + status).c_str());
  } else {
    sd_notify(0, status.c_str());
  }
}

ClusterFacts Agent::facts() const {
  ClusterFacts facts;
  facts.connected = connected_;
  facts.quorate = quorate_ && connected_;
  facts.serviceable = vip_ != nullptr && vip_->serviceable();
  facts.open_connections = tls_ ? tls_->openConnections() : 0;
  facts.new_connections_held = vip_ == nullptr || vip_->newConnectionsHeld();
  if (replicator_) {
    addReplicationFacts(facts, *replicator_);
  }
  if (lease_) {
    lease_->addFacts(facts);
  }
  return facts;
}

void Agent::onTick() {
  tick_.acknowledge();
  (void)tick_.arm(TICK);
  replicator_->announce();
  // Decisions deferred while joining members were settling are taken once they are known or
  // their grace period is over.
  handle(event::FactsChanged{});
  if (roles_.role() == Role::Active) {
    auto rotated = tls_->keyring().rotateIfDue(std::time(nullptr));
    if (rotated && *rotated) {
      Log{LogLevel::Notice, "tls"} << "ticket keys rotated";
      replicator_->publishKeyring();
    }
  }
  tls_->keyring().dropExpired(std::time(nullptr));
  tls_service_->syncKeyring();
  sd_notify(0, "WATCHDOG=1");
}

void Agent::onSignal() {
  for (;;) {
    auto signal = signals_.next();
    if (!signal || *signal == 0) {
      return;
    }
    if (*signal == RELOAD_SIGNAL) {
      (void)reload(); // it logs what it applied or refused
      continue;
    }
    Log{LogLevel::Notice, config_->node_name} << "stopping on signal " << *signal;
    if (const auto decision = handle(event::StopRequested{}); decision.has<effect::Exit>() || stopping_) {
      return;
    }
    if (roles_.role() != Role::HandingOver) {
      stop(); // nothing to hand over, and nothing decided: stop anyway
    }
    return;
  }
}

void Agent::stop() {
  if (stopping_) {
    return;
  }
  sd_notify(0, "STOPPING=1");
  stopping_ = true;
  if (auto down = vip_->shutdown(); !down) {
    Log{LogLevel::Error, "vip"} << "undoing network changes: " << down.error().message;
  } else {
    Log{LogLevel::Notice, "vip"} << "network changes undone (the VIP released, if held): stopping";
  }
  tls_service_->stop(DRAIN_BOUND);
  if (hooks_runner_) {
    // After the VIP is released: a hook told "stopped" may rely on it being gone.
    hooks_runner_->notify({HookEvent::Kind::Stop, std::string(toString(roles_.role())), "stopped",
                           "failoverd is stopping"});
    hooks_runner_->finish();
  }
  loop_.stop();
}

std::expected<std::vector<std::string>, std::string> Agent::reload() {
  sd_notify(0, "RELOADING=1");
  const auto refuse = [](std::string problem) {
    Log{LogLevel::Error, "reload"} << problem << "; keeping the running configuration";
    sd_notify(0, "READY=1");
    return std::unexpected(std::move(problem));
  };
  auto prepared = prepareReload(*config_, command_line_);
  if (!prepared) {
    for (std::size_t i = 0; i + 1 < prepared.error().size(); ++i) {
      Log{LogLevel::Error, "reload"} << prepared.error()[i];
    }
    return refuse(prepared.error().back());
  }
  auto& candidate = prepared->config;
  const auto& changed_keys = prepared->changed;
  const auto changed = [&changed_keys](std::string_view key) {
    return std::find(changed_keys.begin(), changed_keys.end(), key) != changed_keys.end();
  };
  // Each live key, applied where it lives (the option table tags which keys these are).
  if (changed("tls-certificate") || changed("tls-key")) {
    // Read here: the TLS service process, unprivileged, cannot read the key files.
    auto certificates = tls::readCertificates(candidate.listener.tls);
    if (!certificates) {
      return refuse("tls: " + certificates.error().message);
    }
    if (auto swapped = tls_->reloadTls(candidate.listener.tls, *certificates); !swapped) {
      return refuse("tls: " + swapped.error().message);
    }
    if (auto served = tls_service_->reloadCertificates(std::move(*certificates)); !served) {
      if (served.error().code == sys::Errc::InvalidArgument) {
        return refuse("tls: " + served.error().message);
      }
      Log{LogLevel::Warning, "reload"} << "certificates: " << served.error().message;
    }
  }
  setLogLevel(candidate.log_level);
  roles_.setPriority(candidate.node_priority);
  roles_.setPreempt(candidate.preempt);
  if (candidate.notify_program.empty()) {
    hooks_runner_.reset();
  } else if (hooks_runner_) {
    hooks_runner_->reconfigure(candidate.notify_program, candidate.notify_timeout);
  } else {
    hooks_runner_ = std::make_unique<HookRunner>(candidate.notify_program, candidate.notify_timeout,
                                                 config_->node_name, loop_);
  }
  config_ = std::make_shared<const Config>(std::move(candidate));
  Log{LogLevel::Notice, "reload"} << "configuration reloaded from " << config_->source << " ("
                                  << (changed_keys.empty() ? "no change" : "changed: " + joinKeys(changed_keys)) << ")";
  replicator_->announce();
  handle(event::FactsChanged{}); // a new priority or preempt may change the election
  sd_notify(0, "READY=1");
  return changed_keys;
}

sys::Result<std::size_t> Agent::rotateKeys() {
  if (auto rotated = tls_->keyring().rotate(std::time(nullptr)); !rotated) {
    return std::unexpected(rotated.error());
  }
  tls_service_->syncKeyring();
  replicator_->publishKeyring();
  Log{LogLevel::Notice, "tls"} << "ticket keys rotated (operator)";
  return tls_->keyring().size();
}

nlohmann::json Agent::status() const {
  return buildStatus({*config_, roles_, facts(), *replicator_, *tls_, tls_service_->stats(), *vip_, link_->localNode(), clock_,
                      transitions_, last_transition_, last_transition_at_, started_at_, control_.get(), metrics_.get(),
                      hooks_runner_.get(), lease_.get()});
}

} // namespace failover::daemon
