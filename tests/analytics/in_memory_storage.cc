#include "tests/analytics/in_memory_storage.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace sanhak::analytics {

struct InMemoryStorage::Shared {
  struct Entry {
    std::string id;
    int64_t sequence = 0;
    std::string record;
  };
  struct Stream {
    std::vector<Entry> entries;
    bool group = false;
    // Entries [0, delivered) were handed to some consumer.
    size_t delivered = 0;
    // Entry index -> consumer, for the entries read and not acknowledged.
    std::map<size_t, std::string> pending;
  };

  absl::Mutex mu;
  absl::CondVar changed;
  bool reachable ABSL_GUARDED_BY(mu) = true;
  size_t updates_kept ABSL_GUARDED_BY(mu) = 10000;

  std::optional<std::string> epoch ABSL_GUARDED_BY(mu);
  int64_t useq ABSL_GUARDED_BY(mu) = 0;
  std::map<std::string, int64_t> applied ABSL_GUARDED_BY(mu);
  Mirror mirror ABSL_GUARDED_BY(mu);
  std::deque<KeptUpdate> updates ABSL_GUARDED_BY(mu);
  int64_t generations ABSL_GUARDED_BY(mu) = 0;

  std::string leader ABSL_GUARDED_BY(mu);
  absl::Time leader_expires ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  std::string rebuilder ABSL_GUARDED_BY(mu);
  // Set once by the test before any engine starts; called outside `mu`.
  std::function<void(const std::string&)> before_lock_rebuild;
  absl::Time rebuild_expires ABSL_GUARDED_BY(mu) = absl::InfinitePast();

  std::map<std::string, Stream> streams ABSL_GUARDED_BY(mu);

  int64_t commits ABSL_GUARDED_BY(mu) = 0;
  int64_t rejected_commits ABSL_GUARDED_BY(mu) = 0;
  int64_t connects ABSL_GUARDED_BY(mu) = 0;

  absl::Status Down() const { return absl::UnavailableError("store unreachable (test)"); }

  // Hands up to `count` undelivered entries of `stream` to `consumer`.
  std::vector<ChangeEntry> DeliverLocked(const std::string& name, Stream& stream,
                                         const std::string& consumer, size_t count)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<ChangeEntry> out;
    while (stream.delivered < stream.entries.size() && out.size() < count) {
      const Entry& e = stream.entries[stream.delivered];
      stream.pending[stream.delivered] = consumer;
      out.push_back({name, e.id, e.record});
      ++stream.delivered;
    }
    return out;
  }
};

namespace {

using Shared = InMemoryStorage::Shared;

class InMemoryStateStore final : public StateStore {
 public:
  explicit InMemoryStateStore(std::shared_ptr<Shared> shared) : s_(std::move(shared)) {}

  absl::StatusOr<std::string> Epoch() override {
    absl::MutexLock lock(&s_->mu);
    if (!s_->reachable) return s_->Down();
    if (!s_->epoch.has_value()) return absl::NotFoundError("no aggregates state");
    return *s_->epoch;
  }

  absl::StatusOr<StoredState> Load() override {
    absl::MutexLock lock(&s_->mu);
    if (!s_->reachable) return s_->Down();
    if (!s_->epoch.has_value()) return absl::NotFoundError("no aggregates state");
    StoredState out;
    out.epoch = *s_->epoch;
    out.useq = s_->useq;
    out.applied = s_->applied;
    out.mirror = s_->mirror;
    return out;
  }

  absl::StatusOr<bool> LockRebuild(const std::string& holder, absl::Duration term) override {
    if (s_->before_lock_rebuild) s_->before_lock_rebuild(holder);
    absl::MutexLock lock(&s_->mu);
    if (!s_->reachable) return s_->Down();
    if (!s_->rebuilder.empty() && absl::Now() < s_->rebuild_expires) return false;
    s_->rebuilder = holder;
    s_->rebuild_expires = absl::Now() + term;
    return true;
  }

  absl::Status UnlockRebuild() override {
    absl::MutexLock lock(&s_->mu);
    if (!s_->reachable) return s_->Down();
    s_->rebuilder.clear();
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Replace(const Mirror& mirror) override {
    absl::MutexLock lock(&s_->mu);
    if (!s_->reachable) return s_->Down();
    s_->epoch = absl::StrCat("epoch-", ++s_->generations);
    s_->useq = 0;
    s_->applied.clear();
    s_->mirror = mirror;
    s_->updates.clear();
    s_->rebuilder.clear();
    s_->changed.SignalAll();
    return *s_->epoch;
  }

  absl::Status Commit(const std::string& holder, const AppliedBatch& batch) override {
    absl::MutexLock lock(&s_->mu);
    if (!s_->reachable) return s_->Down();
    if (s_->leader != holder || absl::Now() >= s_->leader_expires) {
      ++s_->rejected_commits;
      return absl::FailedPreconditionError("the leader lease was lost");
    }
    for (const auto& [service, sequence] : batch.applied) s_->applied[service] = sequence;
    for (const auto& [name, bytes] : batch.mirror) {
      changes::v1::ChangeRecord record;
      if (record.ParseFromString(bytes)) s_->mirror.Apply(record);
    }
    for (const AppliedBatch::Update& u : batch.updates) {
      KeptUpdate kept;
      kept.useq = u.useq;
      kept.record.ParseFromString(u.record);
      kept.update = u.update;
      s_->updates.push_back(std::move(kept));
      while (s_->updates.size() > s_->updates_kept) s_->updates.pop_front();
    }
    s_->useq = batch.useq;
    for (const auto& [name, ids] : batch.acks) {
      auto stream = s_->streams.find(name);
      if (stream == s_->streams.end()) continue;
      for (const std::string& id : ids) {
        for (auto it = stream->second.pending.begin(); it != stream->second.pending.end(); ++it) {
          if (stream->second.entries[it->first].id == id) {
            stream->second.pending.erase(it);
            break;
          }
        }
      }
    }
    ++s_->commits;
    s_->changed.SignalAll();
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<KeptUpdate>> ReadUpdates(int64_t after, size_t max,
                                                      absl::Duration wait) override {
    const absl::Time until = absl::Now() + wait;
    absl::MutexLock lock(&s_->mu);
    while (true) {
      if (!s_->reachable) return s_->Down();
      std::vector<KeptUpdate> out;
      for (const KeptUpdate& u : s_->updates) {
        if (u.useq > after && out.size() < max) out.push_back(u);
      }
      if (!out.empty() || absl::Now() >= until) return out;
      s_->changed.WaitWithDeadline(&s_->mu, until);
    }
  }

 private:
  std::shared_ptr<Shared> s_;
};

class InMemoryLeaseStore final : public LeaseStore {
 public:
  explicit InMemoryLeaseStore(std::shared_ptr<Shared> shared) : s_(std::move(shared)) {}

  absl::StatusOr<bool> AcquireOrExtend(const std::string& holder, absl::Duration term) override {
    absl::MutexLock lock(&s_->mu);
    if (!s_->reachable) return s_->Down();
    const absl::Time now = absl::Now();
    if (s_->leader.empty() || s_->leader == holder || now >= s_->leader_expires) {
      s_->leader = holder;
      s_->leader_expires = now + term;
      return true;
    }
    return false;
  }

  absl::Status Release(const std::string& holder) override {
    absl::MutexLock lock(&s_->mu);
    if (!s_->reachable) return s_->Down();
    if (s_->leader == holder) s_->leader.clear();
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<Shared> s_;
};

class InMemoryChangeFeed final : public ChangeFeed {
 public:
  InMemoryChangeFeed(std::shared_ptr<Shared> shared, std::vector<std::string> services,
                     std::string consumer)
      : s_(std::move(shared)), services_(std::move(services)), consumer_(std::move(consumer)) {}

  absl::Status EnsureGroups() override {
    absl::MutexLock lock(&s_->mu);
    if (!s_->reachable) return s_->Down();
    for (const std::string& service : services_) {
      Shared::Stream& stream = s_->streams[service];
      if (!stream.group) {
        stream.group = true;
        stream.delivered = 0;
        stream.pending.clear();
      }
    }
    return absl::OkStatus();
  }

  absl::Status ClaimPending(
      const std::function<absl::Status(const std::vector<ChangeEntry>&)>& apply) override {
    for (const std::string& service : services_) {
      std::vector<ChangeEntry> batch;
      {
        absl::MutexLock lock(&s_->mu);
        if (!s_->reachable) return s_->Down();
        Shared::Stream& stream = s_->streams[service];
        for (auto& [index, consumer] : stream.pending) {
          consumer = consumer_;
          batch.push_back({service, stream.entries[index].id, stream.entries[index].record});
        }
      }
      // In batches of 100, as RedisChangeFeed claims them.
      for (size_t i = 0; i < batch.size(); i += 100) {
        std::vector<ChangeEntry> part(batch.begin() + i,
                                      batch.begin() + std::min(batch.size(), i + 100));
        if (absl::Status s = apply(part); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<ChangeEntry>> ReadNew(absl::Duration block) override {
    const absl::Time until = absl::Now() + block;
    absl::MutexLock lock(&s_->mu);
    while (true) {
      if (!s_->reachable) return s_->Down();
      std::vector<ChangeEntry> out;
      for (const std::string& service : services_) {
        auto stream = s_->streams.find(service);
        if (stream == s_->streams.end() || !stream->second.group) {
          return absl::NotFoundError("the change streams' consumer group is gone");
        }
        for (ChangeEntry& e :
             s_->DeliverLocked(service, stream->second, consumer_, 200 - out.size())) {
          out.push_back(std::move(e));
        }
      }
      if (!out.empty() || absl::Now() >= until) return out;
      s_->changed.WaitWithDeadline(&s_->mu, until);
    }
  }

  absl::StatusOr<std::map<std::string, int64_t>> NewestSequences() override {
    absl::MutexLock lock(&s_->mu);
    if (!s_->reachable) return s_->Down();
    std::map<std::string, int64_t> out;
    for (const std::string& service : services_) {
      auto stream = s_->streams.find(service);
      if (stream != s_->streams.end() && !stream->second.entries.empty()) {
        out[service] = stream->second.entries.back().sequence;
      }
    }
    return out;
  }

 private:
  std::shared_ptr<Shared> s_;
  const std::vector<std::string> services_;
  const std::string consumer_;
};

}  // namespace

InMemoryStorage::InMemoryStorage(std::vector<std::string> services, size_t updates_kept)
    : shared_(std::make_shared<Shared>()), services_(std::move(services)) {
  absl::MutexLock lock(&shared_->mu);
  shared_->updates_kept = updates_kept;
}

absl::StatusOr<StorageSession> InMemoryStorage::Connect() {
  {
    absl::MutexLock lock(&shared_->mu);
    if (!shared_->reachable) return shared_->Down();
    ++shared_->connects;
  }
  // Every session names its consumer after the connection; the engine passes its replica
  // id through the lease and commits, which is what the fence checks.
  static std::atomic<int> next{0};
  StorageSession session;
  session.state = std::make_unique<InMemoryStateStore>(shared_);
  session.lease = std::make_unique<InMemoryLeaseStore>(shared_);
  session.feed = std::make_unique<InMemoryChangeFeed>(shared_, services_,
                                                      absl::StrCat("consumer-", next++));
  return session;
}

void InMemoryStorage::AppendChange(const changes::v1::ChangeRecord& record) {
  absl::MutexLock lock(&shared_->mu);
  Shared::Stream& stream = shared_->streams[record.service()];
  stream.entries.push_back(
      {absl::StrCat(record.sequence(), "-0"), record.sequence(), record.SerializeAsString()});
  shared_->changed.SignalAll();
}

void InMemoryStorage::SetReachable(bool reachable) {
  absl::MutexLock lock(&shared_->mu);
  shared_->reachable = reachable;
  shared_->changed.SignalAll();
}

void InMemoryStorage::BeforeLockRebuild(std::function<void(const std::string&)> hook) {
  shared_->before_lock_rebuild = std::move(hook);
}

void InMemoryStorage::Empty() {
  absl::MutexLock lock(&shared_->mu);
  shared_->epoch.reset();
  shared_->useq = 0;
  shared_->applied.clear();
  shared_->mirror.Clear();
  shared_->updates.clear();
  shared_->leader.clear();
  shared_->rebuilder.clear();
  shared_->streams.clear();
  shared_->changed.SignalAll();
}

void InMemoryStorage::StealLease(const std::string& holder, absl::Duration term) {
  absl::MutexLock lock(&shared_->mu);
  shared_->leader = holder;
  shared_->leader_expires = absl::Now() + term;
}

void InMemoryStorage::ReadAndCrash(const std::string& consumer, size_t count) {
  absl::MutexLock lock(&shared_->mu);
  for (const std::string& service : services_) {
    Shared::Stream& stream = shared_->streams[service];
    stream.group = true;
    const size_t before = stream.pending.size();
    shared_->DeliverLocked(service, stream, consumer, count);
    count -= std::min(count, stream.pending.size() - before);
  }
}

InMemoryStorage::Snapshot InMemoryStorage::snapshot() {
  absl::MutexLock lock(&shared_->mu);
  Snapshot out;
  out.epoch = shared_->epoch;
  out.useq = shared_->useq;
  out.applied = shared_->applied;
  for (const KeptUpdate& u : shared_->updates) out.kept.push_back(u.useq);
  out.leader = absl::Now() < shared_->leader_expires ? shared_->leader : "";
  for (const auto& [name, stream] : shared_->streams) out.pending += stream.pending.size();
  out.commits = shared_->commits;
  out.rejected_commits = shared_->rejected_commits;
  out.connects = shared_->connects;
  return out;
}

}  // namespace sanhak::analytics
