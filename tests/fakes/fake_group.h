#pragma once

#include "daemon/cluster/group_bus.h"
#include "daemon/cluster/replicator.h"

#include <algorithm>
#include <deque>
#include <list>
#include <stdexcept>

namespace failover::fakes {

// A CPG group in one process, for unit tests: what members send waits in one queue, the
// agreed order, until the test calls deliver(); then every joined member gets it, the sender
// included. Membership and quorum changes reach the members at once, when the test makes them.
class FakeGroup {
public:
  using GroupMember = daemon::cluster::GroupMember;
  struct Sent {
    GroupMember from;
    std::vector<std::uint8_t> wire;
  };

  class Member final : public daemon::cluster::GroupBus {
  public:
    Member(FakeGroup& group, GroupMember self) : group_(group), self_(self) {}
    bool send(std::vector<std::uint8_t> message) override {
      if (!joined) {
        return false;
      }
      group_.queue.push_back({self_, std::move(message)});
      return true;
    }
    bool connected() const noexcept override { return joined; }
    GroupMember self() const noexcept override { return self_; }

    // None: a group process that is not a failoverd (it never speaks).
    daemon::cluster::Replicator* replicator = nullptr;
    bool joined = false;

  private:
    FakeGroup& group_;
    GroupMember self_;
  };

  Member& add(std::uint32_t node, std::uint32_t pid) { return members_.emplace_back(*this, GroupMember{node, pid}); }

  void join(Member& member) {
    member.joined = true;
    announce({member.self()}, {});
  }
  // A process that leaves (stops, is killed, loses Corosync): what it sent and the group has
  // not delivered yet is lost with it, as for a crash.
  void leave(Member& member) {
    member.joined = false;
    std::erase_if(queue, [&member](const Sent& sent) { return sent.from == member.self(); });
    if (member.replicator != nullptr) {
      member.replicator->onConnection(false);
    }
    announce({}, {member.self()});
  }
  void setQuorate(bool quorate) {
    for (auto& member : members_) {
      if (member.joined && member.replicator != nullptr) {
        member.replicator->onQuorum(quorate);
      }
    }
  }
  // Delivers everything queued, and what that makes members send, in order. Bounded: a
  // member that answers every message with another would be a bug, reported as such.
  std::size_t deliver(std::size_t limit = 10'000) {
    std::size_t delivered = 0;
    while (!queue.empty()) {
      if (++delivered > limit) {
        throw std::runtime_error("the group did not go quiet within " + std::to_string(limit) + " messages");
      }
      deliverFront();
    }
    return delivered;
  }
  // Delivers only what is queued now; what members send in answer stays queued.
  void deliverQueued() {
    for (auto count = queue.size(); count > 0 && !queue.empty(); --count) {
      deliverFront();
    }
  }
  std::vector<GroupMember> joinedMembers() const {
    std::vector<GroupMember> joined;
    for (const auto& member : members_) {
      if (member.joined) {
        joined.push_back(member.self());
      }
    }
    return joined;
  }

  std::deque<Sent> queue;

private:
  void deliverFront() {
    const Sent sent = std::move(queue.front());
    queue.pop_front();
    for (auto& member : members_) {
      if (member.joined && member.replicator != nullptr) {
        member.replicator->onDeliver(sent.from, sent.wire);
      }
    }
  }
  void announce(const std::vector<GroupMember>& joined, const std::vector<GroupMember>& left) {
    const auto members = joinedMembers();
    for (auto& member : members_) {
      if (member.joined && member.replicator != nullptr) {
        member.replicator->onMembership(members, joined, left);
      }
    }
  }

  std::list<Member> members_; // stable addresses
};

} // namespace failover::fakes
