#pragma once

#include "netctl/vip_control.h"

#include <string>
#include <vector>

namespace failover::fakes {

// The VIP as a list of what was asked of it; an operation can be made to fail.
class FakeVip final : public netctl::VipControl {
public:
  sys::Status promote(std::chrono::milliseconds wait_out) override {
    return record("promote " + std::to_string(wait_out.count()));
  }
  sys::Status demote() override { return record("demote"); }
  sys::Status quiesce() override { return record("quiesce"); }
  sys::Status resume() override { return record("resume"); }
  sys::Status holdNewConnections() override { return record("hold"); }
  void forwardHeld(const netctl::MacAddress& to) override {
    (void)record("forward " + std::to_string(to.bytes[5]));
  }

  std::vector<std::string> calls;
  std::string failing; // the first word of the operation that fails, if any

private:
  sys::Status record(std::string call) {
    const bool fails = !failing.empty() && call.rfind(failing, 0) == 0;
    calls.push_back(std::move(call));
    if (fails) {
      return std::unexpected(sys::Error{sys::Errc::System, failing + " failed (fake)"});
    }
    return {};
  }
};

} // namespace failover::fakes
