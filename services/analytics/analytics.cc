#include "services/analytics/analytics.h"

#include <random>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/outbox_relay.h"
#include "common/resource_names.h"
#include "common/status.h"
#include "common/time_proto.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "services/analytics/change_feed.h"
#include "services/analytics/lease.h"

namespace sanhak::analytics {
namespace {

constexpr char kMirror[] = "sanhak:analytics:mirror";
constexpr char kApplied[] = "sanhak:analytics:applied";
constexpr char kEpoch[] = "sanhak:analytics:epoch";
constexpr char kUseq[] = "sanhak:analytics:useq";
constexpr char kUpdates[] = "sanhak:analytics:updates";
constexpr char kLeader[] = "sanhak:analytics:leader";
constexpr char kRebuildLock[] = "sanhak:analytics:rebuild";
// A rebuild's mirror while it is written, in slices; renamed to kMirror when whole.
constexpr char kMirrorNext[] = "sanhak:analytics:mirror:next";
constexpr size_t kRebuildSlice = 5000;
constexpr char kTokenVersion[] = "w1";
// Updates published and not yet taken by a delivery thread, at most (about; each read of
// the updates stream adds up to 500).
constexpr size_t kMaxQueuedUpdates = 2000;

using redis::Reply;

bool IsError(const Reply& r) { return r.type == Reply::Type::kError; }

absl::Status ReplyError(const Reply& r, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("redis ", what, ": ", r.str));
}

int64_t AsInt(const Reply& r) {
  if (r.type == Reply::Type::kInteger) return r.integer;
  int64_t v = 0;
  return absl::SimpleAtoi(r.str, &v) ? v : 0;
}

// "123-0" -> 123.
int64_t EntrySequence(const std::string& id) {
  int64_t v = 0;
  return absl::SimpleAtoi(id.substr(0, id.find('-')), &v) ? v : -1;
}

// Fields of a stream entry reply ([id, [k, v, k, v]]) by name.
std::map<std::string, std::string> EntryFields(const Reply& entry) {
  std::map<std::string, std::string> out;
  if (entry.elements.size() < 2) return out;
  const auto& kv = entry.elements[1].elements;
  for (size_t i = 0; i + 1 < kv.size(); i += 2) out[kv[i].str] = kv[i + 1].str;
  return out;
}

changes::v1::ChangeRecord RecordOf(const std::string& name, const Mirror::Entry& entry) {
  changes::v1::ChangeRecord record;
  record.set_resource_name(name);
  record.set_collection(entry.collection);
  record.set_kind(entry.deleted ? changes::v1::DELETED : changes::v1::CREATED);
  record.set_revision(entry.revision);
  *record.mutable_state() = entry.state;
  return record;
}

std::string ChangeStream(const std::string& service) { return ChangeStreamKey(service); }

void Stamp(v1::Aggregates& a, const std::map<std::string, int64_t>& applied, absl::Time when) {
  a.mutable_applied_sequences()->clear();
  for (const auto& [service, seq] : applied) (*a.mutable_applied_sequences())[service] = seq;
  *a.mutable_computed_time() = ToTimestamp(when == absl::InfinitePast() ? absl::Now() : when);
}

// An AggregatesEvent holding `aggregates_bytes` as its snapshot, written field by field so
// the aggregates are not parsed again.
std::string SnapshotEventBytes(const std::string& aggregates_bytes, const std::string& token) {
  namespace io = ::google::protobuf::io;
  using WF = ::google::protobuf::internal::WireFormatLite;
  std::string out;
  {
    io::StringOutputStream stream(&out);
    io::CodedOutputStream coded(&stream);
    coded.WriteTag(WF::MakeTag(v1::AggregatesEvent::kSnapshotFieldNumber,
                               WF::WIRETYPE_LENGTH_DELIMITED));
    coded.WriteVarint32(static_cast<uint32_t>(aggregates_bytes.size()));
    coded.WriteRaw(aggregates_bytes.data(), static_cast<int>(aggregates_bytes.size()));
    coded.WriteTag(WF::MakeTag(v1::AggregatesEvent::kResumeTokenFieldNumber,
                               WF::WIRETYPE_LENGTH_DELIMITED));
    coded.WriteVarint32(static_cast<uint32_t>(token.size()));
    coded.WriteRaw(token.data(), static_cast<int>(token.size()));
  }
  return out;
}

// An update as watchers receive it: serialized once, with the token that resumes after it.
SharedEvent UpdateEventBytes(v1::AggregatesUpdate update, std::string token) {
  v1::AggregatesEvent event;
  *event.mutable_update() = std::move(update);
  event.set_resume_token(std::move(token));
  return MakeEvent(event.SerializeAsString());
}

absl::Status TokenExpired(absl::string_view why) {
  return WithReason(absl::OutOfRangeError(absl::StrCat(
                        "resume token too old to resume (", why,
                        "); start a new watch without a token for a fresh snapshot")),
                    "RESUME_TOKEN_EXPIRED");
}

}  // namespace

namespace {
AnalyticsOptions WithReplicaId(AnalyticsOptions options) {
  if (options.replica_id.empty()) options.replica_id = GenerateId("replica");
  return options;
}
}  // namespace

Analytics::Analytics(AnalyticsOptions options, SourceOfTruth* source)
    : options_(WithReplicaId(std::move(options))),
      source_(source),
      hub_(WatchHubOptions{options_.watch_threads, options_.heartbeat_interval}) {
  follower_ = std::thread([this] { FollowLoop(); });
  applier_ = std::thread([this] { ApplyLoop(); });
}

Analytics::~Analytics() { Stop(); }

void Analytics::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  hub_.Stop(absl::UnavailableError("analytics is shutting down; resume elsewhere"));
  if (follower_.joinable()) follower_.join();
  if (applier_.joinable()) applier_.join();
}

Analytics::Stats Analytics::stats() {
  absl::MutexLock lock(&mu_);
  Stats stats;
  stats.rebuilds = rebuilds_.load();
  stats.applied = applied_count_;
  stats.watchers = hub_.size();
  stats.redis_reachable = redis_reachable_;
  stats.leader = leader_;
  stats.ready = ServingLocked().ok();
  stats.stream_lag = stream_lag_;
  stats.useq = state_.useq;
  stats.following = redis_reachable_ && state_.loaded;
  return stats;
}

absl::Status Analytics::Serving() {
  absl::MutexLock lock(&mu_);
  return ServingLocked();
}

absl::Status Analytics::ServingLocked() {
  if (!ready_) return absl::UnavailableError("loading the aggregates");
  if (redis_reachable_ && state_.loaded) return absl::OkStatus();
  // Reads answer from a rebuild from the services now: only as well as the last one went.
  if (!source_status_.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot rebuild the aggregates from the services: ", source_status_.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Mirror> Analytics::LoadFromServices() {
  absl::StatusOr<Mirror> mirror = source_->Load(absl::Now() + options_.rebuild_deadline);
  absl::MutexLock lock(&mu_);
  source_status_ = mirror.status();
  return mirror;
}

std::string Analytics::TokenFor(const std::string& epoch, int64_t useq) const {
  return absl::WebSafeBase64Escape(absl::StrCat(kTokenVersion, "|", epoch, "|", useq));
}

void Analytics::CloseWatchersLocked(const absl::Status& status) { hub_.CloseAll(status); }

void Analytics::PublishPositionLocked() {
  hub_.Publish(nullptr, TokenFor(state_.epoch, state_.useq));
}

void Analytics::StateChangedLocked() {
  aggregates_bytes_.reset();
  snapshot_event_.reset();
}

std::shared_ptr<const std::string> Analytics::AggregatesBytesLocked() {
  if (aggregates_bytes_ == nullptr) {
    v1::Aggregates a = state_.aggregator.aggregates();
    Stamp(a, state_.applied, state_.applied_time);
    aggregates_bytes_ = std::make_shared<const std::string>(a.SerializeAsString());
  }
  return aggregates_bytes_;
}

Analytics::SharedEvent Analytics::SnapshotEventLocked() {
  if (snapshot_event_ == nullptr) {
    snapshot_event_ = MakeEvent(
        SnapshotEventBytes(*AggregatesBytesLocked(), TokenFor(state_.epoch, state_.useq)));
  }
  return snapshot_event_;
}

// ------------------------------------------------------------------ loading and rebuild

absl::Status Analytics::RebuildIntoRedis(redis::Connection& redis) {
  absl::StatusOr<Reply> lock = redis.Command(
      {"SET", kRebuildLock, options_.replica_id, "NX", "PX",
       absl::StrCat(absl::ToInt64Milliseconds(options_.rebuild_deadline * 2))});
  if (!lock.ok()) return lock.status();
  if (lock->type == Reply::Type::kNil) {
    // Another replica is rebuilding: wait for its epoch.
    absl::Time until = absl::Now() + options_.rebuild_deadline * 2;
    while (absl::Now() < until) {
      absl::StatusOr<Reply> epoch = redis.Command({"GET", kEpoch});
      if (!epoch.ok()) return epoch.status();
      if (epoch->type == Reply::Type::kString) return absl::OkStatus();
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::UnavailableError("waited too long for another replica's rebuild");
  }
  absl::StatusOr<Mirror> mirror = LoadFromServices();
  if (!mirror.ok()) {
    redis.Command({"DEL", kRebuildLock}).IgnoreError();
    return mirror.status();
  }
  // The new mirror is written aside in slices, each call within redis_timeout however
  // large the data (one HSET of a million resources is not), then replaces the live one
  // in the transaction below: a reader sees the old generation or the new, never half.
  auto send = [&](const std::vector<std::string>& command) -> absl::Status {
    absl::StatusOr<Reply> reply = redis.Command(command);
    if (!reply.ok()) return reply.status();
    if (IsError(*reply)) return ReplyError(*reply, "rebuild");
    return absl::OkStatus();
  };
  if (absl::Status s = send({"DEL", kMirrorNext}); !s.ok()) return s;
  std::vector<std::string> hset = {"HSET", kMirrorNext};
  for (const auto& [name, entry] : mirror->entries()) {
    hset.push_back(name);
    hset.push_back(RecordOf(name, entry).SerializeAsString());
    if (hset.size() >= 2 + 2 * kRebuildSlice) {
      if (absl::Status s = send(hset); !s.ok()) return s;
      hset.resize(2);
    }
  }
  if (hset.size() > 2) {
    if (absl::Status s = send(hset); !s.ok()) return s;
  }
  std::vector<std::vector<std::string>> commands = {
      {"MULTI"}, {"DEL", kMirror, kApplied, kUpdates}, {"SET", kUseq, "0"}};
  if (!mirror->entries().empty()) commands.push_back({"RENAME", kMirrorNext, kMirror});
  std::string epoch = GenerateId("epoch");
  commands.push_back({"SET", kEpoch, epoch});
  commands.push_back({"DEL", kRebuildLock});
  commands.push_back({"EXEC"});
  absl::StatusOr<std::vector<Reply>> replies = redis.Pipeline(commands);
  if (!replies.ok()) return replies.status();
  if (IsError(replies->back())) return ReplyError(replies->back(), "rebuild");
  ++rebuilds_;
  Log(LogLevel::kInfo, "aggregates rebuilt from the services",
      {{"replica", options_.replica_id}, {"epoch", epoch},
       {"resources", static_cast<int64_t>(mirror->entries().size())}});
  return absl::OkStatus();
}

absl::Status Analytics::LoadFromRedis(redis::Connection& redis) {
  absl::StatusOr<Reply> epoch = redis.Command({"GET", kEpoch});
  if (!epoch.ok()) return epoch.status();
  if (epoch->type != Reply::Type::kString) {
    if (absl::Status s = RebuildIntoRedis(redis); !s.ok()) return s;
  }
  // Epoch, update counter and positions as of one moment; then the mirror in slices
  // (HSCAN), each call within redis_timeout however large the data (one HGETALL of a
  // million resources is not). Entries the leader rewrites meanwhile may be newer than
  // `useq`: following replays every update after `useq` in order, so each resource ends
  // as its last update left it. The leader loads while it holds the lease, when nothing
  // else writes the mirror.
  absl::StatusOr<std::vector<Reply>> replies = redis.Pipeline(
      {{"MULTI"}, {"GET", kEpoch}, {"GET", kUseq}, {"HGETALL", kApplied}, {"EXEC"}});
  if (!replies.ok()) return replies.status();
  const Reply& exec = replies->back();
  if (exec.type != Reply::Type::kArray || exec.elements.size() != 3) {
    return ReplyError(exec, "load");
  }
  State loaded;
  loaded.epoch = exec.elements[0].str;
  if (loaded.epoch.empty()) return absl::UnavailableError("state vanished while loading");
  loaded.useq = AsInt(exec.elements[1]);
  Mirror mirror;
  std::string cursor = "0";
  do {
    absl::StatusOr<Reply> slice =
        redis.Command({"HSCAN", kMirror, cursor, "COUNT", absl::StrCat(kRebuildSlice)});
    if (!slice.ok()) return slice.status();
    if (slice->type != Reply::Type::kArray || slice->elements.size() != 2) {
      return ReplyError(*slice, "load");
    }
    cursor = slice->elements[0].str;
    const auto& entries = slice->elements[1].elements;
    for (size_t i = 0; i + 1 < entries.size(); i += 2) {
      changes::v1::ChangeRecord record;
      if (record.ParseFromString(entries[i + 1].str)) mirror.Apply(record);
    }
  } while (cursor != "0");
  absl::StatusOr<Reply> still = redis.Command({"GET", kEpoch});
  if (!still.ok()) return still.status();
  if (still->str != loaded.epoch) {
    return absl::UnavailableError("the aggregates were rebuilt while loading");
  }
  loaded.aggregator.Reset(std::move(mirror));
  const auto& applied = exec.elements[2].elements;
  for (size_t i = 0; i + 1 < applied.size(); i += 2) {
    loaded.applied[applied[i].str] = AsInt(applied[i + 1]);
  }
  loaded.applied_time = absl::Now();
  loaded.loaded = true;

  absl::MutexLock lock(&mu_);
  if (!state_.epoch.empty() && state_.epoch != loaded.epoch) {
    // A new generation: tokens of the old one cannot resume; watchers start again.
    CloseWatchersLocked(WithReason(
        absl::OutOfRangeError("the aggregates were rebuilt; start a new watch"),
        "RESUME_TOKEN_EXPIRED"));
  } else if (!state_.epoch.empty() && state_.useq != loaded.useq) {
    // The state jumps (the follower fell behind trimmed updates, or the applier loaded
    // on taking over): the watchers would miss or repeat the updates in between, so they
    // resume from their last token instead.
    CloseWatchersLocked(WithReason(
        absl::UnavailableError("this replica reloaded its state; resume with your last token"),
        "WATCH_RELOADED"));
  }
  state_ = std::move(loaded);
  StateChangedLocked();
  PublishPositionLocked();
  return absl::OkStatus();
}

// ------------------------------------------------------------------ following updates

absl::StatusOr<bool> Analytics::FollowOnce(redis::Connection& redis) {
  // Delivery slower than the feed: what is not yet read waits in Redis, not in the
  // delivery queues.
  if (!hub_.WaitForRoom(kMaxQueuedUpdates, absl::Milliseconds(500))) return false;
  int64_t useq;
  {
    absl::MutexLock lock(&mu_);
    useq = state_.useq;
  }
  absl::StatusOr<Reply> reply = redis.Command({"XREAD", "COUNT", "500", "BLOCK", "500",
                                               "STREAMS", kUpdates, absl::StrCat(useq, "-0")});
  if (!reply.ok()) return reply.status();
  if (IsError(*reply)) return ReplyError(*reply, "XREAD");
  if (reply->type != Reply::Type::kArray || reply->elements.empty()) return false;
  // Parsed before taking the lock, so readers and watchers wait only for the applying.
  struct Followed {
    int64_t seq;
    changes::v1::ChangeRecord record;
    v1::AggregatesUpdate update;
  };
  std::vector<Followed> followed;
  bool malformed = false;
  for (const Reply& entry : reply->elements[0].elements[1].elements) {
    std::map<std::string, std::string> fields = EntryFields(entry);
    Followed f;
    f.seq = EntrySequence(entry.elements[0].str);
    if (!f.record.ParseFromString(fields["record"]) || !f.update.ParseFromString(fields["update"])) {
      malformed = true;
      break;
    }
    followed.push_back(std::move(f));
  }
  absl::MutexLock lock(&mu_);
  for (Followed& f : followed) {
    if (f.seq != state_.useq + 1) {
      // A gap: the stream was trimmed or rebuilt under us. Reload.
      state_.loaded = false;
      return true;
    }
    state_.aggregator.Apply(f.record, nullptr);
    state_.applied[f.record.service()] =
        std::max(state_.applied[f.record.service()], f.record.sequence());
    state_.useq = f.seq;
    state_.applied_time = absl::Now();
    StateChangedLocked();
    ++applied_count_;
    // An update that moves no value is not sent, but heartbeats carry its position.
    hub_.Publish(f.update.changed().empty()
                     ? nullptr
                     : UpdateEventBytes(std::move(f.update), TokenFor(state_.epoch, f.seq)),
                 TokenFor(state_.epoch, f.seq));
  }
  if (malformed) state_.loaded = false;
  return true;
}

void Analytics::FollowLoop() {
  std::unique_ptr<redis::Connection> redis;
  absl::Time last_epoch_check = absl::InfinitePast();
  bool reported_down = false;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    absl::Status status = absl::OkStatus();
    if (redis == nullptr) {
      auto connection = redis::Connection::Connect(options_.redis_address, options_.redis_timeout,
                                                options_.redis_credentials);
      if (connection.ok()) {
        redis = *std::move(connection);
      } else {
        status = connection.status();
      }
    }
    bool needs_load = false;
    if (status.ok()) {
      absl::MutexLock lock(&mu_);
      needs_load = !state_.loaded;
    }
    if (status.ok() && !needs_load && absl::Now() - last_epoch_check > absl::Seconds(1)) {
      // With the epoch, the newest entry of each change stream: how far this replica's
      // aggregates trail the writes (the stream lag).
      std::vector<std::vector<std::string>> commands = {{"GET", kEpoch}};
      for (const std::string& service : options_.services) {
        commands.push_back({"XREVRANGE", ChangeStream(service), "+", "-", "COUNT", "1"});
      }
      absl::StatusOr<std::vector<Reply>> replies = redis->Pipeline(commands);
      if (!replies.ok()) {
        status = replies.status();
      } else {
        const Reply& epoch = (*replies)[0];
        absl::MutexLock lock(&mu_);
        needs_load = epoch.type != Reply::Type::kString || epoch.str != state_.epoch;
        last_epoch_check = absl::Now();
        int64_t lag = 0;
        for (size_t i = 0; i < options_.services.size(); ++i) {
          const Reply& newest = (*replies)[i + 1];
          if (newest.type != Reply::Type::kArray || newest.elements.empty()) continue;
          const int64_t last = EntrySequence(newest.elements[0].elements[0].str);
          auto applied = state_.applied.find(options_.services[i]);
          lag += std::max<int64_t>(
              0, last - (applied == state_.applied.end() ? 0 : applied->second));
        }
        stream_lag_ = lag;
      }
    }
    if (status.ok() && needs_load) status = LoadFromRedis(*redis);
    if (status.ok()) {
      absl::StatusOr<bool> followed = FollowOnce(*redis);
      status = followed.status();
    }
    if (!status.ok()) {
      redis.reset();
      {
        absl::MutexLock lock(&mu_);
        if (redis_reachable_ || !reported_down) {
          Log(LogLevel::kWarning,
              "degraded: Redis unreachable; unary reads answer from a rebuild, watchers "
              "resume later",
              {{"error", status.ToString()}});
          reported_down = true;
        }
        redis_reachable_ = false;
        CloseWatchersLocked(WithReason(
            absl::UnavailableError("Redis is unreachable; resume with your last token"),
            "REDIS_UNAVAILABLE"));
        // When Redis returns, the epoch check (forced below) reloads unless it kept the
        // same generation; a state rebuilt without Redis (no epoch) is never followed.
        if (state_.epoch.empty()) state_.loaded = false;
      }
      last_epoch_check = absl::InfinitePast();
      absl::SleepFor(absl::Milliseconds(200));
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      if (!redis_reachable_ && reported_down) {
        Log(LogLevel::kInfo, "Redis reachable again; aggregates served from Redis");
      }
      redis_reachable_ = true;
      ready_ = true;
      reported_down = false;
    }
  }
}

// ------------------------------------------------------------------ applying the feed

absl::Status Analytics::ApplyBatch(redis::Connection& redis, State& working,
                                   const std::vector<ChangeEntry>& batch) {
  if (batch.empty()) return absl::OkStatus();
  // The fence: WATCH the lease, confirm it is still ours; if another replica takes it
  // before EXEC, EXEC writes nothing.
  absl::StatusOr<std::vector<Reply>> fence = redis.Pipeline({{"WATCH", kLeader}, {"GET", kLeader}});
  if (!fence.ok()) return fence.status();
  if ((*fence)[1].str != options_.replica_id) {
    redis.Command({"UNWATCH"}).IgnoreError();
    return absl::FailedPreconditionError("the leader lease was lost");
  }
  const AppliedBatch applied = ApplyChanges(batch, working);
  std::vector<std::vector<std::string>> commands = {{"MULTI"}};
  for (const auto& [service, sequence] : applied.applied) {
    commands.push_back({"HSET", kApplied, service, absl::StrCat(sequence)});
  }
  if (!applied.mirror.empty()) {
    std::vector<std::string> hset = {"HSET", kMirror};
    for (const auto& [name, record] : applied.mirror) {
      hset.push_back(name);
      hset.push_back(record);
    }
    commands.push_back(std::move(hset));
  }
  for (const AppliedBatch::Update& u : applied.updates) {
    commands.push_back({"XADD", kUpdates, "MAXLEN", absl::StrCat(options_.updates_kept),
                        absl::StrCat(u.useq, "-0"), "record", u.record, "update",
                        u.update.SerializeAsString()});
  }
  commands.push_back({"SET", kUseq, absl::StrCat(applied.useq)});
  for (std::vector<std::string>& ack : ChangeFeedConsumer::AckCommands(applied.acks)) {
    commands.push_back(std::move(ack));
  }
  commands.push_back({"EXEC"});
  absl::StatusOr<std::vector<Reply>> replies = redis.Pipeline(commands);
  if (!replies.ok()) return replies.status();
  const Reply& exec = replies->back();
  if (exec.type == Reply::Type::kNil) {
    return absl::FailedPreconditionError("the leader lease changed hands during the write");
  }
  if (exec.type != Reply::Type::kArray) return ReplyError(exec, "apply");
  for (const Reply& r : exec.elements) {
    if (IsError(r)) return ReplyError(r, "apply");
  }
  return absl::OkStatus();
}

absl::Status Analytics::ApplyOnce(redis::Connection& redis, ChangeFeedConsumer& feed,
                                  State& working) {
  absl::StatusOr<std::vector<ChangeEntry>> batch = feed.ReadNew(absl::Milliseconds(200));
  if (absl::IsNotFound(batch.status())) {
    working.loaded = false;  // the streams were lost: reload, recreate the group
    return absl::OkStatus();
  }
  if (!batch.ok()) return batch.status();
  return ApplyBatch(redis, working, *batch);
}

void Analytics::ApplyLoop() {
  std::unique_ptr<redis::Connection> redis;
  std::unique_ptr<RedisLeaseStore> lease_store;
  std::unique_ptr<Lease> lease;
  std::unique_ptr<ChangeFeedConsumer> feed;
  State working;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      leader_ = lease != nullptr && lease->held();
    }
    absl::Status status = absl::OkStatus();
    if (redis == nullptr) {
      auto connection = redis::Connection::Connect(options_.redis_address, options_.redis_timeout,
                                                options_.redis_credentials);
      if (!connection.ok()) {
        absl::SleepFor(absl::Milliseconds(200));
        continue;
      }
      redis = *std::move(connection);
      lease_store = std::make_unique<RedisLeaseStore>(redis.get(), kLeader);
      lease = std::make_unique<Lease>(lease_store.get(), options_.replica_id, options_.lease);
      feed = std::make_unique<ChangeFeedConsumer>(redis.get(), options_.services,
                                                  options_.replica_id);
    }
    // The lease: one applier at a time.
    absl::StatusOr<Lease::Outcome> outcome = lease->Check(absl::Now());
    status = outcome.status();
    if (status.ok() && !outcome->held) {
      absl::SleepFor(absl::Milliseconds(200));
      continue;
    }
    if (status.ok() && outcome->taken) working.loaded = false;
    if (status.ok() && working.loaded) {
      absl::StatusOr<Reply> epoch = redis->Command({"GET", kEpoch});
      status = epoch.status();
      if (status.ok() && (epoch->type != Reply::Type::kString || epoch->str != working.epoch)) {
        working.loaded = false;
      }
    }
    if (status.ok() && !working.loaded) {
      // Take over: load the state (rebuilding it if Redis lost it), make sure the groups
      // exist, then re-apply whatever an earlier leader left pending (idempotent).
      status = LoadFromRedis(*redis);
      if (status.ok()) {
        absl::MutexLock lock(&mu_);
        working = state_;
      }
      if (status.ok()) status = feed->EnsureGroups();
      if (status.ok()) {
        status = feed->ClaimPending([&](const std::vector<ChangeEntry>& batch) {
          return ApplyBatch(*redis, working, batch);
        });
      }
    }
    if (status.ok() && working.loaded) status = ApplyOnce(*redis, *feed, working);
    if (!status.ok()) {
      feed.reset();
      lease.reset();
      lease_store.reset();
      redis.reset();
      working.loaded = false;
      absl::SleepFor(absl::Milliseconds(200));
    }
  }
  // Hand the lease over at once rather than letting it expire.
  if (lease != nullptr) lease->Release();
}

// ------------------------------------------------------------------ unary reads

absl::Status Analytics::EnsureFreshWithoutRedis() {
  absl::MutexLock rebuild_lock(&rebuild_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (redis_reachable_ && state_.loaded) return absl::OkStatus();
  }
  // Whoever waited on the lock while another call rebuilt uses that rebuild.
  if (absl::Now() - last_local_rebuild_ < absl::Seconds(2)) return absl::OkStatus();
  absl::StatusOr<Mirror> mirror = LoadFromServices();
  if (!mirror.ok()) return mirror.status();
  ++rebuilds_;
  last_local_rebuild_ = absl::Now();
  absl::MutexLock lock(&mu_);
  if (redis_reachable_ && state_.loaded) return absl::OkStatus();
  state_.aggregator.Reset(*std::move(mirror));
  state_.applied_time = absl::Now();
  StateChangedLocked();
  // Not a Redis generation: the follower loads from Redis when it returns.
  state_.epoch.clear();
  state_.loaded = false;
  Log(LogLevel::kWarning, "degraded: answered from a rebuild from the services");
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const std::string>> Analytics::GetAggregatesSerialized(
    const v1::GetAggregatesRequest& request) {
  FieldViolations v;
  std::set<std::string> wanted;
  const google::protobuf::Descriptor* d = v1::Aggregates::descriptor();
  for (int i = 0; i < request.metrics_size(); ++i) {
    if (d->FindFieldByName(request.metrics(i)) == nullptr) {
      v.Add(absl::StrCat("metrics[", i, "]"),
            absl::StrCat(QuoteValue(request.metrics(i)), " is not a field of Aggregates"));
    }
    wanted.insert(request.metrics(i));
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  bool fresh;
  {
    absl::MutexLock lock(&mu_);
    fresh = redis_reachable_ && state_.loaded;
  }
  if (!fresh) {
    if (absl::Status s = EnsureFreshWithoutRedis(); !s.ok()) return s;
  }
  std::shared_ptr<const std::string> all;
  {
    absl::MutexLock lock(&mu_);
    all = AggregatesBytesLocked();
  }
  if (wanted.empty()) return all;
  v1::Aggregates out;
  out.ParseFromString(*all);
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    if (wanted.count(f->name()) == 0) out.GetReflection()->ClearField(&out, f);
  }
  return std::make_shared<const std::string>(out.SerializeAsString());
}

absl::StatusOr<v1::Aggregates> Analytics::GetAggregates(const v1::GetAggregatesRequest& request) {
  absl::StatusOr<std::shared_ptr<const std::string>> bytes = GetAggregatesSerialized(request);
  if (!bytes.ok()) return bytes.status();
  v1::Aggregates out;
  if (!out.ParseFromString(**bytes)) return absl::InternalError("aggregates unreadable");
  return out;
}

absl::StatusOr<v1::CouncilScorecard> Analytics::GetCouncilScorecard(
    const v1::GetCouncilScorecardRequest& request) {
  if (absl::Status s = ParseName(request.council(), "councils", "council").status(); !s.ok()) {
    return s;
  }
  bool fresh;
  {
    absl::MutexLock lock(&mu_);
    fresh = redis_reachable_ && state_.loaded;
  }
  if (!fresh) {
    if (absl::Status s = EnsureFreshWithoutRedis(); !s.ok()) return s;
  }
  absl::MutexLock lock(&mu_);
  return ComputeScorecard(state_.aggregator.mirror(), request.council());
}

absl::StatusOr<v1::Network> Analytics::GetNetwork(const v1::GetNetworkRequest& request) {
  if (request.top_complexes() < 0) return InvalidField("top_complexes", "must not be negative");
  bool fresh;
  {
    absl::MutexLock lock(&mu_);
    fresh = redis_reachable_ && state_.loaded;
  }
  if (!fresh) {
    if (absl::Status s = EnsureFreshWithoutRedis(); !s.ok()) return s;
  }
  absl::MutexLock lock(&mu_);
  return ComputeNetwork(state_.aggregator.mirror(), request.top_complexes());
}

// ------------------------------------------------------------------ watchers

absl::StatusOr<ResumePosition> ParseResumeToken(const std::string& token) {
  std::string raw;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, '|');
  ResumePosition position;
  if (parts.size() != 3 || parts[0] != kTokenVersion ||
      !absl::SimpleAtoi(parts[2], &position.useq) || position.useq < 0) {
    return InvalidField("resume_token", "is not a token this service issued");
  }
  position.epoch = std::move(parts[1]);
  return position;
}

absl::Status Analytics::Subscribe(Watcher* watcher, const std::string& resume_token) {
  std::string epoch;
  int64_t from = 0;
  if (!resume_token.empty()) {
    absl::StatusOr<ResumePosition> position = ParseResumeToken(resume_token);
    if (!position.ok()) return position.status();
    epoch = std::move(position->epoch);
    from = position->useq;
  }
  int64_t upto;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || !redis_reachable_) {
      return WithReason(absl::UnavailableError("the aggregates stream is unavailable (Redis "
                                               "unreachable); retry, resuming with your token"),
                        "REDIS_UNAVAILABLE");
    }
    // Redis is there, but this replica fell further behind than the kept updates (or the
    // aggregates were rebuilt) and is loading them again: a moment, not an outage.
    if (!state_.loaded) {
      return WithReason(absl::UnavailableError("this replica is reloading the aggregates; "
                                               "retry shortly, resuming with your token"),
                        "RELOADING");
    }
    if (resume_token.empty()) {
      hub_.Add(watcher, {SnapshotEventLocked()});
      return absl::OkStatus();
    }
    if (epoch != state_.epoch) return TokenExpired("the aggregates were rebuilt since");
    if (from > state_.useq) return TokenExpired("it is ahead of this generation");
    if (from == state_.useq) {
      hub_.Add(watcher, {});
      return absl::OkStatus();
    }
    // Registered now, so nothing published from here on is missed; held back until the
    // updates before it are delivered.
    upto = state_.useq;
    hub_.AddCatchingUp(watcher);
  }
  absl::StatusOr<std::vector<SharedEvent>> missed = ReadMissed(epoch, from, upto);
  if (!missed.ok()) {
    hub_.Remove(watcher);
    return missed.status();
  }
  // A no-op when it was closed meanwhile (Redis lost, a reload, shutdown): Close told it
  // why.
  hub_.CatchUp(watcher, *std::move(missed));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Analytics::SharedEvent>> Analytics::ReadMissed(
    const std::string& epoch, int64_t from, int64_t upto) {
  absl::MutexLock catchup(&catchup_mu_);
  if (catchup_redis_ == nullptr) {
    auto connection = redis::Connection::Connect(options_.redis_address, options_.redis_timeout,
                                                options_.redis_credentials);
    if (!connection.ok()) return connection.status();
    catchup_redis_ = *std::move(connection);
  }
  absl::StatusOr<Reply> missed = catchup_redis_->Command(
      {"XRANGE", kUpdates, absl::StrCat(from + 1, "-0"), absl::StrCat(upto, "-0")});
  if (!missed.ok()) {
    catchup_redis_.reset();
    return missed.status();
  }
  std::vector<SharedEvent> events;
  int64_t expected = from + 1;
  for (const Reply& entry : missed->elements) {
    if (EntrySequence(entry.elements[0].str) != expected) break;
    std::map<std::string, std::string> fields = EntryFields(entry);
    v1::AggregatesUpdate update;
    if (!update.ParseFromString(fields["update"])) break;
    ++expected;
    if (update.changed().empty()) continue;
    events.push_back(UpdateEventBytes(std::move(update), TokenFor(epoch, expected - 1)));
  }
  if (expected != upto + 1) return TokenExpired("the updates after it were trimmed");
  return events;
}

void Analytics::Unsubscribe(Watcher* watcher) { hub_.Remove(watcher); }

}  // namespace sanhak::analytics
