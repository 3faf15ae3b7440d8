#pragma once

#include "daemon/cluster/group_bus.h"
#include "daemon/cluster/message.h"
#include "daemon/cluster/session_store.h"
#include "sys/clock.h"
#include "sys/pi_mutex.h"
#include "tls/session_hooks.h"

#include <array>
#include <deque>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>

namespace failover::daemon::cluster {

// What this node knows of another failoverd in the group.
struct Peer {
  GroupMember member;
  std::optional<StateMessage> state; // none until its first State message
  std::uint64_t incarnation = 0;     // fixed by its first authenticated message
  std::uint64_t last_sequence = 0;
  std::int64_t last_heard_ms = 0;
  std::int64_t joined_ms = 0;
};

struct ReplicationStats {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> records_sent{0};
  std::atomic<std::uint64_t> records_applied{0};
  std::atomic<std::uint64_t> records_rejected{0}; // valid messages whose records failed import
  std::atomic<std::uint64_t> dropped{0};          // not sent: the send queue was full
  std::array<std::atomic<std::uint64_t>, 6> rejected{}; // by RejectReason
  std::atomic<std::uint64_t> snapshots_sent{0};
  // Times this node declared itself in sync without a snapshot, because no member held any
  // state (alone and quorate, or a cluster start): sessions nobody held are gone then.
  std::atomic<std::uint64_t> cold_starts{0};
};

// Moves TLS state between members. Sessions created or removed on this node (reported by
// the TLS workers through SessionHooks, on their threads) are queued, batched and multicast;
// messages from the group are authenticated, checked against their sender and sequence, and
// applied. It also keeps each member's announced state, decides when this node is in sync,
// and sends a snapshot (the keyring and every live session) to a member that is not.
//
// In sync: a quorate node that is alone in the group, or that joined a group where nobody is
// in sync (a cold start), is in sync once the group and quorum views have been still for a
// second; otherwise once a snapshot addressed to it has arrived. Quorum first: a restarted
// node whose Corosync has not merged with the others yet is alone in a group of one, and
// must not mistake that for a cluster start.
// The snapshot comes from the sync source: the active member, else the in-sync member with
// the lowest node id. Everyone sees the same totally ordered stream, so exactly one sends.
//
// Its side effects go through seams (GroupBus, SessionStore, sys::Clock), so the unit tests
// and the cluster simulator run this class itself on simulated time.
class Replicator : public tls::SessionHooks {
public:
  struct Settings {
    bool replicate = true;
    // This process's identity in the replay protection: random, fresh at every start.
    std::uint64_t incarnation = 0;
    WireVersions versions = {}; // the protocol versions this node speaks
  };
  struct Callbacks {
    // Fills the fields only the agent knows (name, priority, role, eligibility).
    std::function<StateMessage()> describe_self;
    // Something the role decision depends on changed (sync, a member's state).
    std::function<void()> changed;
    // Called, on the thread that reports sessions, when the first session of a batch is
    // queued: have flushPending() called soon on the owner's loop. It must not block or
    // throw. (The daemon reports sessions on its loop and flushes after each batch it reads
    // from the TLS service: a no-op there.)
    std::function<void()> request_flush;
    std::function<void(const GroupMember&, const HandoverMessage&)> handover;
  };

  Replicator(Sealer sealer, GroupBus& bus, SessionStore& store, const sys::Clock& clock, Settings settings,
             Callbacks callbacks);
  // A random incarnation for a new process.
  static std::uint64_t freshIncarnation();

  // Queues the record; its number is confirmed to the TLS server (sync mode) when the
  // message carrying it comes back to this node in the group's agreed order, in a quorate
  // group that no member left meanwhile. Otherwise it is abandoned: the configured
  // unconfirmed policy applies (a confirmation may under-state protection, never over-state).
  std::uint64_t sessionCreated(const tls::SessionRecord& record) noexcept override;
  void sessionRemoved(std::span<const std::uint8_t> id) noexcept override;

  void onConnection(bool connected);
  void onQuorum(bool quorate);
  void onMembership(const std::vector<GroupMember>& members, const std::vector<GroupMember>& joined,
                    const std::vector<GroupMember>& left);
  void onDeliver(const GroupMember& from, std::span<const std::uint8_t> wire);
  // Batches and multicasts the sessions the TLS workers queued (on the owner's loop).
  void flushPending();

  // Multicasts this node's State (after every role or sync change, and every second).
  void announce();
  // Planned switchover steps travel with the replication stream (sealed and ordered).
  void sendHandover(const HandoverMessage& message);
  // Multicasts the keyring (the active does, after taking over and after every rotation).
  void publishKeyring();
  // This node lost a split-brain election: its state is no longer the cluster's.
  void resync();

  bool inSync() const noexcept { return in_sync_; }
  // Some group process joined within the grace period and has not announced its state.
  bool settling() const;
  std::uint64_t incarnation() const noexcept { return incarnation_; }
  std::uint64_t sequence() const noexcept { return sequence_; }
  const WireVersions& versions() const noexcept { return versions_; }
  // The version this node writes in (but State): the highest one that it and every member
  // whose State it has seen speak.
  std::uint8_t groupVersion() const;
  const std::map<std::pair<std::uint32_t, std::uint32_t>, Peer>& peers() const noexcept { return peers_; }
  const ReplicationStats& stats() const noexcept { return stats_; }

private:
  bool send(Payload payload);
  void sendSessions(SessionsMessage batch, std::uint64_t last_number);
  void confirmOwn(std::span<const std::uint8_t> wire);
  void abandonInFlight();
  void sendSnapshot(std::uint32_t member);
  void apply(const GroupMember& from, Message message);
  void applyState(Peer& peer, StateMessage state);
  void sendState();
  void updateConfirming();
  bool shared() const;
  bool isSyncSource() const;
  // This node, or a member other than `except`, announced itself active.
  bool activeInView(const Peer& except) const;
  void checkColdStart();
  void setInSync(bool in_sync);
  std::uint64_t activeIncarnation() const;

  Sealer sealer_;
  GroupBus& bus_;
  SessionStore& store_;
  const sys::Clock& clock_;
  const bool replicate_;
  Callbacks callbacks_;
  // Taken by the TLS workers (capture) and the agent's real-time loop (flush).
  sys::PiMutex pending_mutex_;
  std::vector<tls::SessionRecord> pending_created_;
  std::vector<std::vector<std::uint8_t>> pending_removed_;
  // Session numbers (SessionConfirmations): the last one given out, under pending_mutex_.
  std::uint64_t numbered_ = 0;
  // Whether a number given out now can be confirmed: joined to a quorate group.
  std::atomic<bool> confirming_{false};
  // Sessions messages sent and not yet delivered back: (sequence, last session number).
  std::deque<std::pair<std::uint64_t, std::uint64_t>> in_flight_;
  const std::uint64_t incarnation_;
  const WireVersions versions_;
  std::uint8_t written_version_ = 0; // the version of the last message sent but State; 0: none yet
  std::uint64_t sequence_ = 0;
  bool in_sync_ = false;
  bool joined_ = false;
  bool quorate_ = false;
  std::int64_t view_changed_ms_ = 0; // the last group or quorum change (monotonic)
  std::uint64_t applied_sequence_ = 0;
  std::uint64_t applied_incarnation_ = 0;
  std::map<std::pair<std::uint32_t, std::uint32_t>, Peer> peers_;
  // When each member (node, incarnation) was last sent a snapshot, since it last announced
  // being in sync (monotonic ms).
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::int64_t> snapshot_sent_;
  // Which process first used each incarnation: an authentic message re-sent by another
  // process (a replay by a local process that may join the group) is refused.
  std::map<std::uint64_t, GroupMember> incarnation_owners_;
  ReplicationStats stats_;
};

} // namespace failover::daemon::cluster
