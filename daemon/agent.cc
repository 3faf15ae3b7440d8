#include "daemon/agent.h"

#include "daemon/control/protocol.h"
#include "daemon/log.h"
#include "daemon/replication_facts.h"
#include "daemon/status.h"
#include "tls/secret.h"

#include <grp.h>
#include <sys/epoll.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <csignal>
#include <sstream>
#include <stdexcept>

namespace failover::daemon {

using namespace std::chrono_literals;
using cluster::WireRole;

namespace {

constexpr int STOP_SIGNAL = SIGTERM;
constexpr int INTERRUPT_SIGNAL = SIGINT;
constexpr int RELOAD_SIGNAL = SIGHUP;
constexpr auto TICK = 1s;
constexpr auto DRAIN_BOUND = 2000ms;
constexpr std::size_t MIN_CLUSTER_KEY = 32;
constexpr std::size_t MAX_CLUSTER_KEY = 4096;

template <class T> T orThrow(sys::Result<T> result, const std::string& what) {
  if (!result) {
    throw std::runtime_error(what + ": " + result.error().message);
  }
  return std::move(*result);
}

void orThrow(sys::Status status, const std::string& what) {
  if (!status) {
    throw std::runtime_error(what + ": " + status.error().message);
  }
}

// Root always may; members of the configured group may too (primary or supplementary, as the
// kernel reports them for the peer process, not as /etc/group lists them).
bool mayControl(const ucred& peer, const std::vector<gid_t>& groups, std::optional<gid_t> group) {
  if (peer.uid == 0) {
    return true;
  }
  return group && (peer.gid == *group || std::find(groups.begin(), groups.end(), *group) != groups.end());
}

std::string jsonLine(const nlohmann::json& value) { return value.dump() + "\n"; }

std::string errorLine(const std::string& message) {
  return jsonLine({{"ok", false}, {"error", message}});
}

RoleSettings roleSettings(const Config& config) {
  RoleSettings settings;
  settings.priority = config.node_priority;
  settings.preempt = config.preempt;
  settings.guard_bound = config.guard.bound;
  return settings;
}

netctl::VipPlan vipPlan(const Config& config) {
  netctl::VipPlan plan;
  plan.interface = config.interface;
  plan.vips = config.vips;
  plan.mode = config.takeover_mode;
  plan.down_on_demote = config.down_on_demote;
  plan.announce = config.announce;
  if (config.hold_timeout.count() > 0) {
    plan.hold.ports = {config.listener.port};
    plan.hold.queue = config.hold_queue;
    plan.hold.timeout = config.hold_timeout;
  }
  plan.state_file = config.state_directory / ("netctl-" + config.interface + ".state");
  plan.probe_timeout = config.probe_timeout;
  plan.guard = netctl::GuardPlan{config.guard.pin_directory / config.interface, config.guard.bound};
  plan.address_lifetime = config.vip_lifetime;
  return plan;
}

} // namespace

Agent::Agent(Config config, boost::program_options::variables_map command_line, sys::EventLoop& loop)
    : config_(std::make_shared<const Config>(std::move(config))), command_line_(std::move(command_line)),
      loop_(loop), signals_(orThrow(sys::SignalFd::create({STOP_SIGNAL, INTERRUPT_SIGNAL, RELOAD_SIGNAL}), "signals")),
      tick_(orThrow(sys::TimerFd::create(), "timer")),
      roles_(roleSettings(*config_)), decision_timer_(orThrow(sys::TimerFd::create(), "timer")) {
  const auto& c = *config_;
  setLogLevel(c.log_level);
  orThrow(netctl::interfaceIndex(c.interface), "interface (" + c.source.string() + ")");
  std::error_code ec;
  std::filesystem::create_directories(c.state_directory, ec);
  auto key = orThrow(tls::readSecretFile(c.cluster_key_file, MIN_CLUSTER_KEY, MAX_CLUSTER_KEY), "cluster-key-file");
  auto sealer = orThrow(cluster::Sealer::create(key.view()), "cluster key");

  tls_ = orThrow(tls::TlsServer::create(c.listener, &hooks_), "TLS service");
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
  session_store_ = std::make_unique<cluster::TlsSessionStore>(*tls_);
  replication_wakeup_ = orThrow(sys::Wakeup::create(), "replication");
  replicator_ = std::make_unique<cluster::Replicator>(
      std::move(sealer), *link_, *session_store_, clock_,
      cluster::Replicator::Settings{c.replication, cluster::Replicator::freshIncarnation()},
      cluster::Replicator::Callbacks{
          [this] { return describeSelf(config_->node_name, roles_.priority(), roles_, facts()); }, [this] { handle(event::FactsChanged{}); },
          [this] { replication_wakeup_->notify(); },
          [this](const cluster::GroupMember& from, const cluster::HandoverMessage& message) {
            handle(toEvent(from, message));
          }});
  hooks_.target = replicator_.get();

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
                      }}),
                 "VIP");
  for (const auto& note : vip_->reconciled()) {
    Log{LogLevel::Notice, "vip"} << note;
  }
  orThrow(tls_->start(), "TLS service");

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
                                               [this](const std::string& line) { return control(line); }),
                     "control socket");
  if (!c.metrics_address.empty()) {
    RequestServer::Options http;
    http.terminator = "\r\n\r\n";
    http.max_request = 8192;
    http.too_large_answer = "HTTP/1.0 431 Request Header Fields Too Large\r\n\r\n";
    metrics_ = orThrow(RequestServer::listenTcp(c.metrics_address, c.metrics_port, loop_, std::move(http),
                                                [this](const std::string&) {
                                                  const auto body = renderPrometheus(status());
                                                  return "HTTP/1.0 200 OK\r\nContent-Type: text/plain; "
                                                         "version=0.0.4\r\nContent-Length: " +
                                                         std::to_string(body.size()) + "\r\n\r\n" + body;
                                                }),
                       "metrics-listen");
  }
  if (!c.notify_program.empty()) {
    hooks_runner_ = std::make_unique<HookRunner>(c.notify_program, c.notify_timeout, loop_);
  }
  orThrow(loop_.add(replication_wakeup_->fd(), EPOLLIN, [this](std::uint32_t) {
            replication_wakeup_->acknowledge();
            replicator_->flushPending();
          }),
          "replication");
  orThrow(loop_.add(signals_.fd(), EPOLLIN, [this](std::uint32_t) { onSignal(); }), "signals");
  orThrow(loop_.add(tick_.fd(), EPOLLIN, [this](std::uint32_t) { onTick(); }), "timer");
  orThrow(loop_.add(decision_timer_.fd(), EPOLLIN, [this](std::uint32_t) {
            decision_timer_.acknowledge();
            handle(event::TimerFired{});
          }),
          "timer");
  orThrow(tick_.arm(TICK), "timer");
  Log{LogLevel::Notice, c.node_name} << "started: interface " << c.interface << ", " << c.vips.size()
                                     << " VIP(s), takeover-mode " << toString(c.takeover_mode) << ", TLS on port "
                                     << tls_->port() << ", cluster group '" << c.cluster_group << "'";
  link_->start();
}

Agent::~Agent() {
  loop_.remove(replication_wakeup_->fd());
  loop_.remove(signals_.fd());
  loop_.remove(tick_.fd());
  loop_.remove(decision_timer_.fd());
}

std::string Agent::nameOf(std::uint32_t node) const {
  for (const auto& [key, peer] : replicator_->peers()) {
    if (peer.member.nodeid == node && peer.state) {
      return peer.state->name;
    }
  }
  return node == link_->localNode() ? config_->node_name : "node " + std::to_string(node);
}

std::optional<std::uint32_t> Agent::nodeNamed(const std::string& name) const {
  if (name == config_->node_name) {
    return link_->localNode();
  }
  for (const auto& [key, peer] : replicator_->peers()) {
    if (peer.state && peer.state->name == name) {
      return peer.member.nodeid;
    }
  }
  return std::nullopt;
}

Millis Agent::now() { return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now().time_since_epoch()); }

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
  bool exit = false;
  for (const auto& effect : decision.effects) {
    if (const auto* take = std::get_if<effect::TakeVip>(&effect)) {
      if (auto taken = vip_->promote(take->wait_out); !taken) {
        Log{LogLevel::Error, "vip"} << "taking the VIP: " << taken.error().message;
        report(decision);
        handle(event::TakeoverFailed{taken.error().message});
        return;
      }
    } else if (std::holds_alternative<effect::ReleaseVip>(effect)) {
      if (auto released = vip_->demote(); !released) {
        Log{LogLevel::Error, "vip"} << "releasing the VIP: " << released.error().message;
      }
    } else if (std::holds_alternative<effect::HoldNewConnections>(effect)) {
      if (auto held = vip_->holdNewConnections(); !held) {
        Log{LogLevel::Warning, "switchover"} << "cannot hold new connections: " << held.error().message;
      }
    } else if (std::holds_alternative<effect::CloseConnections>(effect)) {
      tls_->closeConnections();
    } else if (std::holds_alternative<effect::StopAnswering>(effect)) {
      if (auto quiet = vip_->quiesce(); !quiet) {
        Log{LogLevel::Error, "switchover"} << "cannot stop answering for the VIP: " << quiet.error().message;
      }
      Log{LogLevel::Notice, "switchover"} << "stopped answering ARP for the VIP; waiting for "
                                          << nameOf(roles_.handoverTarget().value_or(0)) << " to take it";
    } else if (std::holds_alternative<effect::AnswerAgain>(effect)) {
      if (auto resumed = vip_->resume(); !resumed) {
        Log{LogLevel::Error, "switchover"} << "cannot answer for the VIP again: " << resumed.error().message;
      }
    } else if (const auto* forward = std::get_if<effect::ForwardHeld>(&effect)) {
      netctl::MacAddress mac;
      mac.bytes = forward->mac;
      vip_->forwardHeld(mac);
    } else if (std::holds_alternative<effect::Resync>(effect)) {
      replicator_->resync();
    } else if (std::holds_alternative<effect::PublishKeyring>(effect)) {
      replicator_->publishKeyring();
    } else if (const auto* send = std::get_if<effect::SendHandover>(&effect)) {
      replicator_->sendHandover(toMessage(send->step));
    } else if (std::holds_alternative<effect::Exit>(effect)) {
      exit = true;
    }
  }
  report(decision);
  if (const auto deadline = roles_.deadline()) {
    (void)decision_timer_.arm(std::max(*deadline - now(), Millis{0}) + std::chrono::microseconds(1));
  } else {
    (void)decision_timer_.disarm();
  }
  if (exit) {
    stop();
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
      hooks_runner_->notify({std::string(toString(decision.from)), std::string(toString(decision.to)),
                             decision.reason});
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
  if (replicator_) {
    addReplicationFacts(facts, *replicator_);
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
  }
  tls_->drain(DRAIN_BOUND);
  loop_.stop();
}

namespace {
std::string joined(const std::vector<std::string>& keys) {
  std::string text;
  for (const auto& key : keys) {
    text += (text.empty() ? "" : ", ") + key;
  }
  return text;
}
} // namespace

std::expected<std::vector<std::string>, std::string> Agent::reload() {
  sd_notify(0, "RELOADING=1");
  const auto refuse = [](std::string problem) {
    Log{LogLevel::Error, "reload"} << problem << "; keeping the running configuration";
    sd_notify(0, "READY=1");
    return std::unexpected(std::move(problem));
  };
  std::optional<Config> loaded;
  try {
    loaded = loadConfig(config_->source, command_line_);
  } catch (const ConfigError& error) {
    for (const auto& problem : error.problems()) {
      Log{LogLevel::Error, "reload"} << problem;
    }
    return refuse(error.what());
  }
  auto& candidate = *loaded;
  const auto plan = reloadPlan(*config_, candidate);
  if (!plan.refused.empty()) {
    return refuse(joined(plan.refused) + " cannot change while running: restart failoverd to apply " + (plan.refused.size() == 1 ? "it" : "them"));
  }
  const auto changed = [&plan](std::string_view key) {
    return std::find(plan.changed.begin(), plan.changed.end(), key) != plan.changed.end();
  };
  // Each live key, applied where it lives (the option table tags which keys these are).
  if (changed("tls-certificate") || changed("tls-key")) {
    if (auto swapped = tls_->reloadTls(candidate.listener.tls); !swapped) {
      return refuse("tls: " + swapped.error().message);
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
    hooks_runner_ = std::make_unique<HookRunner>(candidate.notify_program, candidate.notify_timeout, loop_);
  }
  config_ = std::make_shared<const Config>(std::move(candidate));
  Log{LogLevel::Notice, "reload"} << "configuration reloaded from " << config_->source << " ("
                                  << (plan.changed.empty() ? "no change" : "changed: " + joined(plan.changed)) << ")";
  replicator_->announce();
  handle(event::FactsChanged{}); // a new priority or preempt may change the election
  sd_notify(0, "READY=1");
  return plan.changed;
}

std::string Agent::control(const std::string& line) {
  auto request = parseControlRequest(line);
  if (!request) {
    return errorLine(request.error().message);
  }
  const auto command = [&](const Event& event) {
    const auto decision = handle(event);
    if (decision.refused) {
      return errorLine(*decision.refused);
    }
    auto answer = nlohmann::json{{"ok", true}, {"role", toString(roles_.role())}};
    if (decision.target) {
      answer["target"] = nameOf(*decision.target);
    }
    return jsonLine(answer);
  };
  if (request->command == "status") {
    auto answer = status();
    answer["ok"] = true;
    return jsonLine(answer);
  }
  if (request->command == "promote") {
    return command(event::Promote{});
  }
  if (request->command == "demote") {
    return command(event::Demote{});
  }
  const auto& arguments = request->arguments;
  if (request->command == "switchover") {
    if (arguments.empty()) {
      return command(event::Switchover{});
    }
    if (const auto target = nodeNamed(arguments[0])) {
      return command(event::Switchover{target});
    }
    return errorLine("no member named '" + arguments[0] + "'");
  }
  if (request->command == "maintenance" && !arguments.empty() && arguments[0] == "off") {
    return command(event::MaintenanceOff{});
  }
  if (request->command == "maintenance" && !arguments.empty() && arguments[0] == "on") {
    return command(event::MaintenanceOn{arguments.size() > 1 && arguments[1] == "--force"});
  }
  if (request->command == "rotate-keys") {
    if (roles_.role() != Role::Active) {
      return errorLine("the active node rotates the ticket keys: run this on it");
    }
    if (auto rotated = tls_->keyring().rotate(std::time(nullptr)); !rotated) {
      return errorLine(rotated.error().message);
    }
    replicator_->publishKeyring();
    Log{LogLevel::Notice, "tls"} << "ticket keys rotated (operator)";
    return jsonLine({{"ok", true}, {"ticket_keys", tls_->keyring().size()}});
  }
  if (request->command == "reload") {
    const auto reloaded = reload();
    if (!reloaded) {
      return errorLine(reloaded.error());
    }
    return jsonLine({{"ok", true}, {"changed", *reloaded}});
  }
  return errorLine("unknown command '" + request->command + "' (" + remoteCommandNames() + ")");
}

nlohmann::json Agent::status() const {
  using nlohmann::json;
  const auto known = facts();
  const auto elected = roles_.electedActive(known);
  const bool eligible = roles_.eligible(known);
  json members = json::array();
  json self = {{"name", config_->node_name}, {"id", link_->localNode()}, {"role", toString(roles_.role())},
               {"priority", roles_.priority()}, {"in_sync", replicator_->inSync()},
               {"eligible", eligible}, {"self", true}, {"lag", nullptr},
               {"sessions_cached", tls_->cache().stats().entries}};
  members.push_back(self);
  std::optional<std::string> owner;
  if (roles_.role() == Role::Active) {
    owner = config_->node_name;
  }
  for (const auto& [key, peer] : replicator_->peers()) {
    if (!peer.state) {
      continue;
    }
    json lag = nullptr;
    if (roles_.role() == Role::Active && peer.state->applied_incarnation == replicator_->incarnation()) {
      lag = replicator_->sequence() - std::min(replicator_->sequence(), peer.state->applied_sequence);
    }
    if (peer.state->role == WireRole::Active) {
      owner = peer.state->name;
    }
    members.push_back({{"name", peer.state->name}, {"id", peer.member.nodeid},
                       {"role", toString(fromWire(peer.state->role))}, {"priority", peer.state->priority},
                       {"in_sync", peer.state->in_sync}, {"eligible", peer.state->eligible}, {"self", false},
                       {"lag", lag}, {"sessions_cached", peer.state->cache_entries},
                       {"heard_ms_ago", std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                                .count() -
                                            peer.last_heard_ms}});
  }
  json vips = json::array();
  for (const auto& vip : config_->vips) {
    vips.push_back(netctl::toString(vip));
  }
  const auto& stats = replicator_->stats();
  json rejected = json::object();
  for (std::size_t i = 0; i < stats.rejected.size(); ++i) {
    rejected[std::string(cluster::toString(static_cast<cluster::RejectReason>(i)))] = stats.rejected[i].load();
  }
  const auto& tls = tls_->counters();
  json guard = nullptr;
  if (const auto* vip_guard = vip_->guard()) {
    guard = {{"bound_ms", config_->guard.bound.count()}, {"open", vip_->gateOpen()}, {"fired", vip_->guardFired()}};
    if (const auto drops = vip_guard->drops()) {
      guard["drops"] = {{"arp_requests", drops->arp_requests}, {"solicitations", drops->solicitations},
                        {"packets_in", drops->packets_in}, {"announcements", drops->announcements},
                        {"packets_out", drops->packets_out}, {"unserved_syns", drops->unserved_syns}};
    }
  }
  return {{"node", config_->node_name},
          {"id", link_->localNode()},
          {"role", toString(roles_.role())},
          {"connected", connected_},
          {"quorate", quorate_},
          {"in_sync", replicator_->inSync()},
          {"eligible", eligible},
          {"service_link", vip_->serviceable()},
          {"guard", guard},
          {"vips", vips},
          {"vip_owner", owner ? json(*owner) : json(nullptr)},
          {"elected", elected ? json(*elected) : json(nullptr)},
          {"switchover", roles_.handoverTarget()
                             ? json{{"target", nameOf(*roles_.handoverTarget())}, {"phase", roles_.handoverPhase()}}
                             : json(nullptr)},
          {"members", members},
          {"sessions_cached", tls_->cache().stats().entries},
          {"ticket_keys", tls_->keyring().size()},
          {"last_transition",
           {{"from", toString(last_transition_.from)}, {"to", toString(last_transition_.to)},
            {"reason", last_transition_.reason}, {"at", last_transition_at_}}},
          {"transitions", transitions_},
          {"replication",
           {{"enabled", config_->replication}, {"sent", stats.sent.load()}, {"received", stats.received.load()},
            {"records_sent", stats.records_sent.load()}, {"records_applied", stats.records_applied.load()},
            {"records_rejected", stats.records_rejected.load()}, {"dropped", stats.dropped.load()},
            {"snapshots_sent", stats.snapshots_sent.load()}, {"cold_starts", stats.cold_starts.load()},
            {"rejected", rejected},
            {"mode", config_->listener.sync.enabled ? "sync" : "async"},
            {"sync",
             {{"held", tls.sync_held.load()}, {"confirmed", tls.sync_confirmed.load()},
              {"unprotected", tls.sync_unprotected.load()}, {"closed", tls.sync_closed.load()},
              {"wait_us", tls.sync_wait_us.load()}}}}},
          {"handshakes",
           {{"full_tls12", tls.full_tls12.load()}, {"full_tls13", tls.full_tls13.load()},
            {"resumed_tls12_session_id", tls.resumed_tls12_session_id.load()},
            {"resumed_tls12_ticket", tls.resumed_tls12_ticket.load()},
            {"resumed_tls13_stateful", tls.resumed_tls13_stateful.load()},
            {"resumed_tls13_ticket", tls.resumed_tls13_ticket.load()}}},
          {"control_refused", control_ ? control_->refused() : 0},
          // The live settings as the components hold them (what a reload changed).
          {"settings",
           {{"log_level", toString(logLevel())},
            {"priority", roles_.priority()},
            {"preempt", roles_.preempt()},
            {"notify_program", hooks_runner_ ? json(hooks_runner_->program().string()) : json(nullptr)},
            {"notify_timeout_ms", hooks_runner_ ? json(hooks_runner_->timeout().count()) : json(nullptr)}}}};
}

} // namespace failover::daemon
