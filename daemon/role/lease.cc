#include "daemon/role/lease.h"

#include <algorithm>

namespace failover::daemon::lease {

namespace {
constexpr std::int64_t PPM = 1'000'000;
} // namespace

// A voter binds itself for `length` of its own time from the request's arrival, which is after
// `sent`. In real time that is at least length / (1 + rho); the holder's `length (1 - 2 rho)`
// of its own time is at most length (1 - 2 rho) / (1 - rho) of real time, which is less
// (docs/lease.md, "Why two holders never overlap").
Nanos leaseEnd(Nanos sent, const Settings& settings) {
  const auto ppm = std::min<std::int64_t>(settings.drift_ppm, PPM / 4);
  return sent + Nanos{settings.length.count() / PPM * (PPM - 2 * ppm) +
                      settings.length.count() % PPM * (PPM - 2 * ppm) / PPM};
}

std::size_t majority(const Settings& settings) { return settings.voters.size() / 2 + 1; }

bool Voter::consider(const Request& request, Nanos now) {
  if (now < grace_end_) {
    return false; // restarted: it may have promised someone else before
  }
  std::erase_if(promises_, [now](const auto& entry) { return entry.second.until <= now; });
  const auto own = promises_.find(request.requester);
  for (const auto& [node, promise] : promises_) {
    if (node == request.requester || promise.successor == request.requester) {
      continue; // its own, or it was named by the node bound to
    }
    // A planned switchover: the old holder, bound here already, keeps renewing while it drains,
    // and names this node in the request itself. A request that no longer names it (the old
    // holder gave the lease back, and asks again as a mere contender) is refused like any
    // other: its earlier promise naming the successor must not let it in beside the
    // successor (cluster-sim found two nodes answering when a release was lost).
    if (own != promises_.end() && request.successor == node) {
      continue;
    }
    return false;
  }
  promises_[request.requester] = Promise{now + length_, request.successor};
  return true;
}

void Voter::release(std::uint32_t requester) { promises_.erase(requester); }

std::optional<std::uint32_t> Voter::boundTo(Nanos now) const {
  std::optional<std::uint32_t> bound;
  Nanos longest{0};
  for (const auto& [node, promise] : promises_) {
    if (promise.until > now && promise.until > longest) {
      longest = promise.until;
      bound = node;
    }
  }
  return bound;
}

Lease::Lease(Settings settings, Nanos started)
    : settings_(std::move(settings)), voter_(started, settings_.length) {}

std::vector<Outgoing> Lease::want(Nanos now) {
  if (wanted_) {
    return {};
  }
  wanted_ = true;
  loss_noted_ = false;
  end_ = Nanos{0};
  contending_since_ = now;
  standing_back_until_ = Nanos{0};
  return request(now);
}

std::vector<Outgoing> Lease::giveUp(Nanos) {
  if (!wanted_) {
    return {};
  }
  wanted_ = false;
  end_ = Nanos{0};
  successor_ = 0;
  return releaseVotes();
}

std::vector<Outgoing> Lease::releaseVotes() {
  std::vector<Outgoing> out;
  rounds_.clear();
  last_grants_ = 0;
  voter_.release(settings_.self);
  heard_.erase(settings_.self);
  for (const auto voter : settings_.voters) {
    if (voter != settings_.self) {
      out.push_back({voter, Release{settings_.self}});
    }
  }
  return out;
}

std::vector<Outgoing> Lease::request(Nanos now) {
  std::vector<Outgoing> out;
  const auto round = ++round_;
  rounds_[round] = Round{now, {}, false};
  std::erase_if(rounds_, [this, now](const auto& entry) { return entry.second.sent + settings_.length < now; });
  next_request_ = now + settings_.renew_interval;
  ++stats_.requests_sent;
  const Request asked{settings_.self, round, successor_};
  for (const auto voter : settings_.voters) {
    if (voter == settings_.self) {
      for (const auto& answer : receive(settings_.self, asked, now)) {
        out.push_back(answer);
      }
    } else {
      out.push_back({voter, asked});
    }
  }
  return out;
}

void Lease::onGrant(const Grant& grant, Nanos now) {
  if (!wanted_ || grant.requester != settings_.self) {
    return; // a late grant for a lease given back
  }
  const auto round = rounds_.find(grant.round);
  if (round == rounds_.end()) {
    return;
  }
  auto& voters = round->second.granted_by;
  if (std::find(voters.begin(), voters.end(), grant.voter) != voters.end()) {
    return; // the same grant twice (a copy over another link)
  }
  voters.push_back(grant.voter);
  if (voters.size() < majority(settings_)) {
    return;
  }
  last_grants_ = std::max(last_grants_, voters.size());
  if (round->second.counted) {
    return;
  }
  round->second.counted = true;
  last_grants_ = voters.size();
  ++stats_.renewals;
  const auto end = leaseEnd(round->second.sent, settings_);
  if (end > end_) {
    end_ = end;
    if (end_ > now) {
      loss_noted_ = false;
    }
  }
}

void Lease::noteLoss(Nanos now) {
  if (wanted_ && end_ != Nanos{0} && now >= end_ && !loss_noted_) {
    loss_noted_ = true;
    ++stats_.losses;
  }
}

std::vector<Outgoing> Lease::tick(Nanos now) {
  noteLoss(now);
  if (!wanted_ || now < next_request_ || now < standing_back_until_) {
    return {};
  }
  // Whatever promise bound the voters when this node started asking has ended within one
  // lease length (a dead holder's last one included): two without a majority means the votes
  // are split, or the old holder still renews. (After one, a contender that started as the
  // holder died stood back just as the voters became free: kill -9 took L + the pause.)
  if (end_ == Nanos{0} && now - contending_since_ >= 2 * settings_.length) {
    if (standing_back_until_ == Nanos{0}) {
      // Let go of what we were granted and ask again after a pause that differs per node, so
      // that one contender finds the voters free.
      ++stats_.stood_back;
      const auto place = settings_.voters.empty() ? 0 : settings_.self % settings_.voters.size();
      standing_back_until_ = now + settings_.renew_interval * static_cast<std::int64_t>(2 + 2 * place);
      return releaseVotes();
    }
    standing_back_until_ = Nanos{0};
    contending_since_ = now;
  }
  if (const auto last = rounds_.find(round_); last != rounds_.end() && !last->second.counted) {
    ++stats_.missed_renewals;
  }
  return request(now);
}

std::vector<Outgoing> Lease::receive(std::uint32_t from, const Message& message, Nanos now) {
  std::vector<Outgoing> out;
  if (const auto* asked = std::get_if<Request>(&message)) {
    if (asked->requester != from) {
      return out; // a request speaks for its sender only
    }
    heard_[from] = now;
    if (!settings_.votes) {
      return out;
    }
    if (!voter_.consider(*asked, now)) {
      ++stats_.requests_refused;
      return out;
    }
    ++stats_.grants_given;
    const Grant grant{settings_.self, asked->requester, asked->round};
    if (from == settings_.self) {
      onGrant(grant, now);
    } else {
      out.push_back({from, grant});
    }
  } else if (const auto* grant = std::get_if<Grant>(&message)) {
    if (grant->voter == from &&
        std::find(settings_.voters.begin(), settings_.voters.end(), from) != settings_.voters.end()) {
      onGrant(*grant, now);
    }
  } else if (const auto* release = std::get_if<Release>(&message)) {
    if (release->requester == from) {
      voter_.release(from);
      heard_.erase(from);
    }
  }
  return out;
}

bool Lease::silent(std::uint32_t node, Nanos now) const {
  const auto heard = heard_.find(node);
  return heard != heard_.end() &&
         now - heard->second >= settings_.renew_interval * static_cast<std::int64_t>(settings_.missed_renewals);
}

std::optional<Nanos> Lease::nextDue(Nanos now) const {
  std::optional<Nanos> due;
  const auto consider = [&due, now](Nanos when) {
    if (when > now && (!due || when < *due)) {
      due = when;
    }
  };
  if (wanted_) {
    consider(std::max({next_request_, standing_back_until_, now + Nanos{1}}));
    consider(end_);
  }
  const auto silence = settings_.renew_interval * static_cast<std::int64_t>(settings_.missed_renewals);
  for (const auto& [node, heard] : heard_) {
    if (node != settings_.self) {
      consider(heard + silence);
    }
  }
  return due;
}

void addLeaseFacts(ClusterFacts& facts, const Lease& lease, Nanos now) {
  facts.lease_held = lease.held(now);
  for (auto& member : facts.others) {
    member.silent = lease.silent(member.nodeid, now);
  }
}

} // namespace failover::daemon::lease
