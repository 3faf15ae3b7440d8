#include "daemon/cluster/replicator.h"

#include "daemon/log.h"

#include <openssl/rand.h>

#include <algorithm>

namespace failover::daemon::cluster {

namespace {

// A message sent longer ago than this is refused: it can only be a replay of a capture
// (members' clocks are assumed to be synchronised to well within this, as NTP does).
constexpr std::int64_t STALE_AFTER_MS = 120'000;
// Payload bytes per Sessions message: well within what CPG carries, and small enough that a
// burst of batches does not hold up State messages for long.
constexpr std::size_t BATCH_BYTES = 256 * 1024;
// How long a joining node waits for the State of a group process that never sends one (not
// a failoverd) before deciding on a cold start without it.
constexpr std::int64_t UNKNOWN_PEER_GRACE_MS = 2000;
// A member still out of sync this long after its snapshot was sent gets another: it may have
// refused it (it arrived before the member knew it was quorate) or lost it. A snapshot that
// takes longer to arrive than this is sent twice, which costs bandwidth, never correctness.
constexpr std::int64_t SNAPSHOT_RETRY_MS = 10'000;
// How long the group and quorum views must have been still before a cold start. Corosync
// reports one ring change twice, to CPG and to votequorum, in either order; a cold start
// decided between the two rests on half a view (the cluster simulator found a node cut off
// in a minority, healed back, hear "quorate" before it saw the others, declare itself in
// sync from its old view of one, win the election and discard the majority's sessions).
constexpr std::int64_t VIEW_SETTLE_MS = 1000;
// Rejections logged per reason before the log goes quiet (they are all counted).
constexpr std::uint64_t LOGGED_REJECTIONS = 10;
// Processes remembered for replay protection (each daemon start is one).
constexpr std::size_t MAX_INCARNATIONS = 4096;

std::pair<std::uint32_t, std::uint32_t> keyOf(const GroupMember& member) { return {member.nodeid, member.pid}; }

std::string describeMember(const GroupMember& member) {
  return "node " + std::to_string(member.nodeid) + " pid " + std::to_string(member.pid);
}

} // namespace

Replicator::Replicator(Sealer sealer, GroupBus& bus, SessionStore& store, const sys::Clock& clock,
                       Settings settings, Callbacks callbacks)
    : sealer_(std::move(sealer)), bus_(bus), store_(store), clock_(clock), replicate_(settings.replicate),
      callbacks_(std::move(callbacks)), incarnation_(settings.incarnation), versions_(settings.versions),
      in_sync_(!settings.replicate) {}

std::uint64_t Replicator::freshIncarnation() {
  std::uint64_t incarnation = 0;
  while (incarnation == 0) { // 0 means "not known yet" in Peer
    RAND_bytes(reinterpret_cast<unsigned char*>(&incarnation), sizeof incarnation);
  }
  return incarnation;
}

std::uint64_t Replicator::sessionCreated(const tls::SessionRecord& record) noexcept {
  if (!replicate_) {
    return 0;
  }
  std::uint64_t number = 0;
  bool first = false;
  try {
    const std::lock_guard lock(pending_mutex_);
    first = pending_created_.empty() && pending_removed_.empty();
    pending_created_.push_back(record);
    number = ++numbered_;
  } catch (...) {
    return 0; // out of memory: this session stays local
  }
  // One wake-up of the owner's loop per batch: until it takes the batch, later sessions join
  // it, and a busy server pays one eventfd write (and one cross-CPU wake-up) per batch, not
  // per handshake.
  if (first) {
    callbacks_.request_flush();
  }
  return confirming_.load() ? number : 0;
}

void Replicator::sessionRemoved(std::span<const std::uint8_t> id) noexcept {
  if (!replicate_) {
    return;
  }
  bool first = false;
  try {
    const std::lock_guard lock(pending_mutex_);
    first = pending_created_.empty() && pending_removed_.empty();
    pending_removed_.emplace_back(id.begin(), id.end());
  } catch (...) {
    return;
  }
  if (first) {
    callbacks_.request_flush();
  }
}

void Replicator::flushPending() {
  std::vector<tls::SessionRecord> created;
  std::vector<std::vector<std::uint8_t>> removed;
  std::uint64_t last_number = 0;
  {
    const std::lock_guard lock(pending_mutex_);
    created.swap(pending_created_);
    removed.swap(pending_removed_);
    last_number = numbered_;
  }
  // The records are numbered consecutively, in this order, up to last_number.
  std::uint64_t number = last_number - created.size();
  SessionsMessage batch;
  std::size_t bytes = 0;
  for (auto& record : created) {
    bytes += record.der.size() + record.id.size() + 14;
    batch.records.push_back(std::move(record));
    ++number;
    if (bytes >= BATCH_BYTES) {
      sendSessions(std::move(batch), number);
      batch = {};
      bytes = 0;
    }
  }
  if (!batch.records.empty()) {
    sendSessions(std::move(batch), number);
  }
  if (!removed.empty()) {
    send(RemovalsMessage{std::move(removed)});
  }
}

std::uint8_t Replicator::groupVersion() const {
  std::uint8_t version = versions_.max;
  for (const auto& [key, peer] : peers_) {
    if (peer.state) {
      version = std::min(version, peer.state->speaks.max);
    }
  }
  // A member that speaks none of ours cannot be written to at all (its State was refused);
  // below our range is unreadable to us, so never go there.
  return std::max(version, versions_.min);
}

bool Replicator::send(Payload payload) {
  Header header;
  // State in the lowest version we speak, so that every node that could work with us reads it;
  // everything else in the group's version.
  const bool state = std::holds_alternative<StateMessage>(payload);
  header.version = state ? versions_.min : groupVersion();
  if (!state && header.version != written_version_) {
    if (written_version_ != 0 || header.version != versions_.max) {
      Log{LogLevel::Notice, "replication"} << "writing protocol version " << int{header.version}
                                           << ": the highest that this node and every member speak";
    }
    written_version_ = header.version;
  }
  header.sender = bus_.self().nodeid;
  header.incarnation = incarnation_;
  header.sequence = ++sequence_;
  header.sent_ms = clock_.wallMs();
  auto wire = encodeMessage(Message{header, std::move(payload)}, sealer_);
  if (bus_.send(std::move(wire))) {
    ++stats_.sent;
    return true;
  }
  ++stats_.dropped;
  return false;
}

void Replicator::sendSessions(SessionsMessage batch, std::uint64_t last_number) {
  stats_.records_sent += batch.records.size();
  if (send(std::move(batch))) {
    in_flight_.emplace_back(sequence_, last_number);
  } else {
    store_.sessionsAbandoned(last_number);
  }
}

void Replicator::confirmOwn(std::span<const std::uint8_t> wire) {
  if (in_flight_.empty()) {
    return;
  }
  // Corosync says this process sent it, so its clear header can be trusted unauthenticated.
  const auto header = peekHeader(wire, versions_);
  if (!header || header->incarnation != incarnation_) {
    return;
  }
  std::uint64_t through = 0;
  while (!in_flight_.empty() && in_flight_.front().first <= header->sequence) {
    through = in_flight_.front().second;
    in_flight_.pop_front();
  }
  if (through == 0) {
    return;
  }
  // Back in the agreed order means every member of a quorate group has it; back in a group
  // without quorum means only that minority does, and the quorate side may elect an active
  // that never saw it. Quorate alone is not enough either: with Corosync's two_node, or with
  // the other nodes' daemons down, this process may be the only one that has it (the cluster
  // simulator found a two-node cluster with a witness losing such sessions when the lone
  // node died).
  if (quorate_ && shared()) {
    store_.sessionsConfirmed(through);
  } else {
    store_.sessionsAbandoned(through);
  }
}

void Replicator::abandonInFlight() {
  if (!in_flight_.empty()) {
    store_.sessionsAbandoned(in_flight_.back().second);
    in_flight_.clear();
  }
}

void Replicator::announce() {
  if (!bus_.connected()) {
    return;
  }
  sendState();
  checkColdStart();
}

void Replicator::sendState() {
  StateMessage state = callbacks_.describe_self();
  state.in_sync = in_sync_;
  state.applied_sequence = applied_sequence_;
  state.applied_incarnation = applied_incarnation_;
  state.cache_entries = static_cast<std::uint32_t>(store_.entries());
  state.speaks = versions_;
  send(std::move(state));
}

void Replicator::sendHandover(const HandoverMessage& message) {
  if (bus_.connected()) {
    send(message);
  }
}

void Replicator::publishKeyring() {
  if (replicate_ && bus_.connected()) {
    // Our state first, in the same order: members take a keyring from an in-sync member only
    // if they know it as the active. (Only the message: this runs while a decision's effects
    // are carried out, which must not start another decision.)
    sendState();
    send(KeyringMessage{store_.exportKeyring()});
  }
}

void Replicator::resync() {
  if (replicate_) {
    setInSync(false);
  }
}

void Replicator::sendSnapshot(std::uint32_t member) {
  const auto records = store_.snapshot(clock_.wallSeconds());
  Log{LogLevel::Notice, "replication"} << "sending a snapshot to node " << member << ": "
                                       << records.size() << " sessions and the ticket keyring";
  send(KeyringMessage{store_.exportKeyring()});
  SessionsMessage batch;
  std::size_t bytes = 0;
  for (const auto& record : records) {
    bytes += record.der.size() + record.id.size() + 14;
    batch.records.push_back(record);
    if (bytes >= BATCH_BYTES) {
      send(std::move(batch));
      batch = {};
      bytes = 0;
    }
  }
  if (!batch.records.empty()) {
    send(std::move(batch));
  }
  send(SnapshotDoneMessage{member, static_cast<std::uint32_t>(records.size())});
  ++stats_.snapshots_sent;
}

void Replicator::onConnection(bool connected) {
  if (!connected) {
    // Messages not delivered back before the loss may never have left this node.
    confirming_.store(false);
    abandonInFlight();
    peers_.clear();
    // Whom it sent snapshots to, too: the group it comes back to is new to it, and a member
    // whose snapshot went out just before the loss may never have had it (the cluster
    // simulator found a member left out of sync for good).
    snapshot_sent_.clear();
    joined_ = false;
    quorate_ = false;
    if (replicate_) {
      in_sync_ = false;
    }
  }
}

void Replicator::onQuorum(bool quorate) {
  const bool lost = quorate_ && !quorate;
  if (quorate != quorate_) {
    view_changed_ms_ = clock_.monotonicMs();
  }
  quorate_ = quorate;
  updateConfirming();
  if (lost && replicate_) {
    // What is in flight may come back only within this minority.
    abandonInFlight();
    // The quorate part of the cluster goes on without us: what we hold will be stale when
    // the partition heals, so take a snapshot then. Decided here, with quorate_ already
    // false: a resync while it still read true cold-started a node left alone (the cluster
    // simulator found it).
    setInSync(false);
    return;
  }
  checkColdStart();
}

void Replicator::onMembership(const std::vector<GroupMember>& members, const std::vector<GroupMember>& joined,
                              const std::vector<GroupMember>& left) {
  const GroupMember self = bus_.self();
  view_changed_ms_ = clock_.monotonicMs();
  if (!left.empty()) {
    // A member that left may not have received what is in flight, even if it comes back to
    // us later (Corosync delivers the old configuration's messages to those that stay
    // together): the promise could be false on the side that did not stay with us.
    abandonInFlight();
  }
  for (const auto& member : left) {
    peers_.erase(keyOf(member));
    // A snapshot sent as it left may never have reached it (the cluster simulator found one
    // sent as a partition formed): when it is back, still out of sync, it needs another.
    std::erase_if(snapshot_sent_, [&member](const auto& sent) { return sent.first.first == member.nodeid; });
  }
  for (const auto& member : members) {
    if (!(member == self) && !peers_.contains(keyOf(member))) {
      auto& peer = peers_[keyOf(member)];
      peer.member = member;
      peer.joined_ms = clock_.monotonicMs();
    }
  }
  if (std::find(joined.begin(), joined.end(), self) != joined.end()) {
    joined_ = true;
  }
  updateConfirming();
  announce();
  callbacks_.changed();
}

// Whether a session created now can be confirmed: this process is in a quorate group with
// another member that announced itself (the one that will hold it besides us). Corosync's
// two_node keeps a lone node quorate, and so does a cluster whose other daemons are down.
void Replicator::updateConfirming() {
  confirming_.store(replicate_ && joined_ && quorate_ && shared());
}

bool Replicator::shared() const {
  return std::any_of(peers_.begin(), peers_.end(), [](const auto& peer) { return peer.second.state.has_value(); });
}

void Replicator::onDeliver(const GroupMember& from, std::span<const std::uint8_t> wire) {
  if (from == bus_.self()) {
    confirmOwn(wire); // our own message, delivered back in the total order
    return;
  }
  ++stats_.received;
  const auto rejected = [&](RejectReason reason, const std::string& detail) {
    const auto count = ++stats_.rejected[static_cast<std::size_t>(reason)];
    if (count <= LOGGED_REJECTIONS) {
      Log{LogLevel::Warning, "replication"} << "dropped a message from " << describeMember(from) << " ("
                                            << toString(reason) << "): " << detail;
    }
  };
  auto message = decodeMessage(wire, sealer_, versions_);
  if (!message) {
    rejected(message.error().reason, message.error().detail);
    return;
  }
  const auto& header = message->header;
  if (header.sender != from.nodeid) {
    rejected(RejectReason::WrongSender, "claims node " + std::to_string(header.sender));
    return;
  }
  if (const auto age = clock_.wallMs() - header.sent_ms; age > STALE_AFTER_MS) {
    rejected(RejectReason::Stale, "sent " + std::to_string(age / 1000) + " s ago");
    return;
  }
  if (header.incarnation == incarnation_) {
    rejected(RejectReason::Replayed, "this node's own message, re-sent by another process");
    return;
  }
  if (const auto owner = incarnation_owners_.find(header.incarnation);
      owner != incarnation_owners_.end() && !(owner->second == from)) {
    rejected(RejectReason::Replayed, "re-sent by another process than " + describeMember(owner->second));
    return;
  }
  auto& peer = peers_[keyOf(from)];
  peer.member = from;
  if (peer.incarnation != 0 && peer.incarnation != header.incarnation) {
    rejected(RejectReason::Replayed, "from another incarnation of that process");
    return;
  }
  if (header.sequence <= peer.last_sequence) {
    rejected(RejectReason::Replayed, "sequence " + std::to_string(header.sequence) + " after " +
                                         std::to_string(peer.last_sequence));
    return;
  }
  if (incarnation_owners_.size() > MAX_INCARNATIONS) {
    incarnation_owners_.clear(); // bounded: only long-gone processes lose their binding
  }
  incarnation_owners_.emplace(header.incarnation, from);
  peer.incarnation = header.incarnation;
  peer.last_sequence = header.sequence;
  peer.last_heard_ms = clock_.monotonicMs();
  apply(from, std::move(*message));
}

bool Replicator::settling() const {
  const auto now = clock_.monotonicMs();
  return std::any_of(peers_.begin(), peers_.end(), [now](const auto& entry) {
    return !entry.second.state && now - entry.second.joined_ms < UNKNOWN_PEER_GRACE_MS;
  });
}

std::uint64_t Replicator::activeIncarnation() const {
  for (const auto& [key, peer] : peers_) {
    if (peer.state && peer.state->role == WireRole::Active) {
      return peer.incarnation;
    }
  }
  return 0;
}

void Replicator::apply(const GroupMember& from, Message message) {
  auto& peer = peers_[keyOf(from)];
  if (peer.incarnation == activeIncarnation() && peer.incarnation != 0) {
    applied_incarnation_ = peer.incarnation;
    applied_sequence_ = message.header.sequence;
  }
  std::visit(
      [&](auto& payload) {
        using T = std::decay_t<decltype(payload)>;
        if constexpr (std::is_same_v<T, StateMessage>) {
          applyState(peer, std::move(payload));
        } else if constexpr (std::is_same_v<T, SessionsMessage>) {
          const auto now = clock_.wallSeconds();
          for (auto& record : payload.records) {
            if (store_.importSession(record, now)) {
              ++stats_.records_applied;
            } else {
              ++stats_.records_rejected;
            }
          }
        } else if constexpr (std::is_same_v<T, RemovalsMessage>) {
          for (const auto& id : payload.ids) {
            store_.removeSession(id);
          }
        } else if constexpr (std::is_same_v<T, KeyringMessage>) {
          // The active's keyring is the cluster's. Another member's comes with a snapshot it
          // sends to a member out of sync, and only that member needs it: an in-sync node
          // that took it too could replace the active's keys with the sync source's older ones
          // (the cluster simulator found a cold-started sync source, which did not know the
          // new active yet, overwrite the active's keyring with its own).
          if (in_sync_ && !(peer.state && peer.state->role == WireRole::Active)) {
            return;
          }
          if (auto imported = store_.importKeyring(payload.keys.view()); !imported) {
            ++stats_.rejected[static_cast<std::size_t>(RejectReason::Malformed)];
            Log{LogLevel::Warning, "replication"} << "ignored a keyring from " << describeMember(from) << ": "
                                                  << imported.error().message;
          }
        } else if constexpr (std::is_same_v<T, HandoverMessage>) {
          if (callbacks_.handover) {
            callbacks_.handover(from, payload);
          }
        } else if constexpr (std::is_same_v<T, LeaseRequestMessage> || std::is_same_v<T, LeaseGrantMessage> ||
                             std::is_same_v<T, LeaseReleaseMessage>) {
          // The lease has its own port: over Corosync such a message is out of place.
          ++stats_.rejected[static_cast<std::size_t>(RejectReason::Malformed)];
        } else {
          static_assert(std::is_same_v<T, SnapshotDoneMessage>);
          // Only with quorum: a snapshot from within a minority carries a minority's state
          // (the cluster simulator found two cut-off nodes syncing each other from one that
          // had cold-started on a stale "quorate" as it woke from a freeze).
          if (payload.member == bus_.self().nodeid && !in_sync_ && quorate_) {
            Log{LogLevel::Notice, "replication"} << "in sync: snapshot of " << payload.sessions
                                                 << " sessions received from " << describeMember(from);
            setInSync(true);
          }
        }
      },
      message.payload);
}

void Replicator::applyState(Peer& peer, StateMessage state) {
  const bool first = !peer.state.has_value();
  peer.state = std::move(state);
  updateConfirming();
  if (first && peer.state->role == WireRole::Active && in_sync_ && replicate_ && !activeInView(peer)) {
    // It joined us already active: a partition healed, and it served on the other side while
    // no active was with us. Corosync's two_node (and a node whose lease lapsed while the
    // others went on) keeps such a side quorate, so quorum loss did not mark us out of sync;
    // what it served meanwhile never reached us (the cluster simulator found a two-node
    // cluster whose standby kept its own ticket keyring for good).
    Log{LogLevel::Notice, "replication"} << describeMember(peer.member)
                                         << " joined as the active: this node missed what it served; resyncing";
    setInSync(false);
  }
  const auto key = std::pair{peer.member.nodeid, peer.incarnation};
  if (peer.state->in_sync) {
    // Whatever it needs next is a new snapshot, whoever is the source by then (the cluster
    // simulator found a member that fell out of sync while this node was not the source,
    // and was never sent another once it was).
    snapshot_sent_.erase(key);
  } else if (replicate_ && isSyncSource()) {
    const auto now = clock_.monotonicMs();
    const auto sent = snapshot_sent_.find(key);
    if (sent == snapshot_sent_.end() || now - sent->second >= SNAPSHOT_RETRY_MS) {
      snapshot_sent_[key] = now;
      sendSnapshot(peer.member.nodeid);
    }
  }
  checkColdStart();
  callbacks_.changed();
}

bool Replicator::activeInView(const Peer& except) const {
  if (callbacks_.describe_self().role == WireRole::Active) {
    return true;
  }
  return std::any_of(peers_.begin(), peers_.end(), [&except](const auto& entry) {
    return &entry.second != &except && entry.second.state && entry.second.state->role == WireRole::Active;
  });
}

bool Replicator::isSyncSource() const {
  const auto self_role = callbacks_.describe_self().role;
  if (self_role == WireRole::Active) {
    return in_sync_;
  }
  std::optional<std::uint32_t> lowest_in_sync = in_sync_ ? std::optional(bus_.self().nodeid) : std::nullopt;
  for (const auto& [key, peer] : peers_) {
    if (!peer.state) {
      continue;
    }
    if (peer.state->role == WireRole::Active) {
      return false;
    }
    if (peer.state->in_sync && (!lowest_in_sync || peer.member.nodeid < *lowest_in_sync)) {
      lowest_in_sync = peer.member.nodeid;
    }
  }
  return lowest_in_sync && *lowest_in_sync == bus_.self().nodeid && in_sync_;
}

// Alone and quorate, or with members that all announced they hold nothing: nobody holds
// anything newer, so this node's (empty or stale) state becomes the cluster's.
void Replicator::checkColdStart() {
  if (in_sync_ || !joined_ || !quorate_ || clock_.monotonicMs() - view_changed_ms_ < VIEW_SETTLE_MS) {
    return;
  }
  const auto now = clock_.monotonicMs();
  for (const auto& [key, peer] : peers_) {
    // Its grace runs from when it appeared in our view, not from our own join: after a
    // partition heals, the members that come back are as unknown as new ones.
    if (!peer.state && now - peer.joined_ms <= UNKNOWN_PEER_GRACE_MS) {
      return; // wait for its State
    }
    if (peer.state && (peer.state->in_sync || peer.state->role == WireRole::Active)) {
      return; // someone holds the cluster's state: wait for the snapshot
    }
  }
  Log{LogLevel::Notice, "replication"} << "in sync: no member holds any state ("
                                       << (peers_.empty() ? "alone and quorate" : "cluster start") << ")";
  ++stats_.cold_starts;
  setInSync(true);
}

void Replicator::setInSync(bool in_sync) {
  if (in_sync_ == in_sync) {
    return;
  }
  in_sync_ = in_sync;
  announce();
  callbacks_.changed();
}

} // namespace failover::daemon::cluster
