#include "netctl/hold.h"

#include <doctest/doctest.h>

using namespace failover::netctl;

namespace {
std::string joined(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& arg : argv) {
    text += (text.empty() ? "" : " ") + arg;
  }
  return text;
}
} // namespace

TEST_CASE("the hold rule queues only SYNs to the VIP's ports, and fails open") {
  HoldRule rule{parseIpAddress("198.18.1.10").value(), {443}, 7};
  CHECK(joined(rule.command(HoldRule::Action::Insert)) ==
        "iptables -w 5 -I INPUT -d 198.18.1.10 -p tcp --syn --dport 443 -m comment --comment "
        "failoverd-hold -j NFQUEUE --queue-num 7 --queue-bypass");
  CHECK(joined(rule.command(HoldRule::Action::Check)).starts_with("iptables -w 5 -C INPUT "));
  CHECK(joined(rule.command(HoldRule::Action::Delete)).starts_with("iptables -w 5 -D INPUT "));
}

TEST_CASE("several ports use multiport; IPv6 uses ip6tables") {
  HoldRule rule{parseIpAddress("fd00:198:18::10").value(), {443, 8443}, 0};
  CHECK(joined(rule.command(HoldRule::Action::Insert)) ==
        "ip6tables -w 5 -I INPUT -d fd00:198:18::10 -p tcp --syn -m multiport --dports 443,8443 "
        "-m comment --comment failoverd-hold -j NFQUEUE --queue-num 0 --queue-bypass");
}

TEST_CASE("a hold with no ports or too many is refused before iptables runs") {
  HoldRule none{parseIpAddress("198.18.1.10").value(), {}, 0};
  CHECK(none.present().error().message.find("1 to 15 ports") != std::string::npos);
  HoldRule many{parseIpAddress("198.18.1.10").value(), std::vector<std::uint16_t>(16, 443), 0};
  CHECK_FALSE(many.present());
}
