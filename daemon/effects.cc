#include "daemon/effects.h"

#include "daemon/log.h"

namespace failover::daemon {

EffectsOutcome carryOutEffects(const Decision& decision, netctl::VipControl& vip, ClusterEffects& cluster,
                               const std::function<std::string(std::uint32_t)>& name_of) {
  EffectsOutcome outcome;
  const auto logFailure = [](const sys::Status& status, LogLevel level, std::string_view subject,
                             std::string_view doing) {
    if (!status) {
      Log{level, subject} << doing << ": " << status.error().message;
    }
  };
  for (const auto& effect : decision.effects) {
    if (const auto* take = std::get_if<effect::TakeVip>(&effect)) {
      if (auto taken = vip.promote(take->wait_out); !taken) {
        Log{LogLevel::Error, "vip"} << "taking the VIP: " << taken.error().message;
        outcome.takeover_failed = taken.error().message;
        return outcome;
      }
    } else if (std::holds_alternative<effect::ReleaseVip>(effect)) {
      if (const auto released = vip.demote(); released) {
        Log{LogLevel::Notice, "vip"} << "released"; // every take and release is in the log
      } else {
        logFailure(released, LogLevel::Error, "vip", "releasing the VIP");
      }
    } else if (std::holds_alternative<effect::HoldNewConnections>(effect)) {
      logFailure(vip.holdNewConnections(), LogLevel::Warning, "switchover", "cannot hold new connections");
    } else if (std::holds_alternative<effect::CloseConnections>(effect)) {
      cluster.closeConnections();
    } else if (const auto* stop = std::get_if<effect::StopAnswering>(&effect)) {
      logFailure(vip.quiesce(), LogLevel::Error, "switchover", "cannot stop answering for the VIP");
      cluster.leaseSuccessor(stop->target);
      Log{LogLevel::Notice, "switchover"} << "stopped answering ARP for the VIP; waiting for "
                                          << name_of(stop->target) << " to take it";
    } else if (std::holds_alternative<effect::AnswerAgain>(effect)) {
      cluster.leaseSuccessor(0);
      logFailure(vip.resume(), LogLevel::Error, "switchover", "cannot answer for the VIP again");
    } else if (const auto* forward = std::get_if<effect::ForwardHeld>(&effect)) {
      netctl::MacAddress mac;
      mac.bytes = forward->mac;
      vip.forwardHeld(mac);
    } else if (std::holds_alternative<effect::Resync>(effect)) {
      cluster.resync();
    } else if (std::holds_alternative<effect::PublishKeyring>(effect)) {
      cluster.publishKeyring();
    } else if (const auto* send = std::get_if<effect::SendHandover>(&effect)) {
      cluster.sendHandover(send->step);
    } else if (std::holds_alternative<effect::Exit>(effect)) {
      outcome.exit = true;
    } else if (std::holds_alternative<effect::ContendLease>(effect)) {
      cluster.contendLease();
    } else if (std::holds_alternative<effect::ReleaseLease>(effect)) {
      cluster.releaseLease();
    }
  }
  return outcome;
}

} // namespace failover::daemon
