#pragma once

#include "daemon/cluster/cluster_link.h"
#include "daemon/cluster/replicator.h"
#include "daemon/cluster/tls_session_store.h"
#include "daemon/config.h"
#include "daemon/control/dispatch.h"
#include "daemon/effects.h"
#include "daemon/control/request_server.h"
#include "daemon/hooks.h"
#include "daemon/lease_service.h"
#include "daemon/role/role_machine.h"
#include "daemon/tls_service.h"
#include "sys/clock.h"
#include "sys/event_loop.h"
#include "netctl/vip_owner.h"
#include "tls/server.h"

#include <boost/program_options/variables_map.hpp>
#include <nlohmann/json.hpp>

#include <ctime>
#include <memory>

namespace failover::daemon {

// The node agent. It owns the event loop's sources and wires the layers: Corosync membership,
// quorum and replication (cluster/), the role machine (role/), the VIP (netctl), the TLS
// service (tls), the control socket and the metrics endpoint. Every decision goes through
// RoleMachine::handle; this class only gathers facts and carries out transitions.
class Agent final : private ControlTarget, private ClusterEffects {
public:
  // Throws std::runtime_error when the node cannot start (start-up is the only place that may).
  Agent(Config config, boost::program_options::variables_map command_line, sys::EventLoop& loop);
  ~Agent() override;
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  const Config& config() const noexcept { return *config_; }

private:
  // ControlTarget: what the control commands act on.
  Role role() const override { return roles_.role(); }
  std::string nameOf(std::uint32_t node) const override;
  std::optional<std::uint32_t> nodeNamed(const std::string& name) const override;
  nlohmann::json status() const override;
  sys::Result<std::size_t> rotateKeys() override;
  // ClusterEffects: where the decision's non-VIP effects go.
  void resync() override;
  void publishKeyring() override;
  void sendHandover(const HandoverStep& step) override;
  void closeConnections() override;
  void contendLease() override;
  void releaseLease() override;
  void leaseSuccessor(std::uint32_t node) override;
  void onSignal();
  void onTick();
  // Applies the live keys that changed and returns them, or why it kept the running
  // configuration (a bad file, a TLS file that does not load, a restart-only key changed).
  std::expected<std::vector<std::string>, std::string> reload() override;
  void stop();
  Millis now() const;
  // Feeds one event to the role machine and carries out its decision.
  Decision handle(const Event& event) override;
  void carryOut(const Decision& decision);
  void report(const Decision& decision);
  ClusterFacts facts() const;
  void notifySystemd();

  std::shared_ptr<const Config> config_;
  boost::program_options::variables_map command_line_;
  sys::EventLoop& loop_;
  sys::SignalFd signals_;
  sys::TimerFd tick_;
  sys::SystemClock clock_;
  // The agent's copy of the TLS state (never started: the TLS service process serves).
  std::unique_ptr<tls::TlsServer> tls_;
  std::unique_ptr<TlsService> tls_service_;
  std::unique_ptr<cluster::ClusterLink> link_;
  std::unique_ptr<cluster::TlsSessionStore> session_store_;
  std::unique_ptr<cluster::Replicator> replicator_;
  std::unique_ptr<netctl::VipOwner> vip_;
  std::unique_ptr<RequestServer> control_;
  std::unique_ptr<RequestServer> metrics_;
  std::unique_ptr<HookRunner> hooks_runner_;
  std::unique_ptr<LeaseService> lease_; // with lease = yes
  RoleMachine roles_;
  bool connected_ = false;
  bool quorate_ = false;
  bool ready_ = false;
  bool stopping_ = false;
  sys::TimerFd decision_timer_; // armed at RoleMachine::deadline()
  std::uint64_t transitions_ = 0;
  Decision last_transition_;
  std::time_t last_transition_at_ = 0;
  const std::time_t started_at_ = std::time(nullptr);
};

} // namespace failover::daemon
