#include "services/analytics/analytics.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/resource_names.h"
#include "common/status.h"
#include "common/time_proto.h"
#include "common/trace_context.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"

namespace sanhak::analytics {
namespace {

constexpr char kTokenVersion[] = "w1";
// A rebuild's mirror is written in slices by the store; a replica waiting on another's
// rebuild checks this often.
constexpr absl::Duration kRebuildPoll = absl::Milliseconds(50);
// Updates published and not yet taken by a delivery thread, at most (about; each read of
// the kept updates adds up to kFollowBatch).
constexpr size_t kMaxQueuedUpdates = 2000;
constexpr size_t kFollowBatch = 500;

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

Analytics::Analytics(AnalyticsOptions options, SourceOfTruth* source, Storage* storage)
    : options_(WithReplicaId(std::move(options))),
      source_(source),
      storage_(storage),
      hub_(WatchHubOptions{options_.watch_threads, options_.heartbeat_interval,
                           options_.watch_linger}) {
  follower_ = std::thread([this] { FollowLoop(); });
  // The applier loads through the engine, so a takeover also moves this replica's
  // watchers (LoadState), then works on its own copy.
  applier_ = std::make_unique<Applier>(
      Applier::Options{options_.replica_id, options_.lease}, storage_,
      [this](StateStore& store) -> absl::StatusOr<GenerationState> {
        if (absl::Status s = LoadState(store); !s.ok()) return s;
        absl::MutexLock lock(&mu_);
        return static_cast<const GenerationState&>(state_);
      });
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
  applier_->Stop();
}

Analytics::Stats Analytics::stats() {
  absl::MutexLock lock(&mu_);
  Stats stats;
  stats.rebuilds = rebuilds_.load();
  stats.applied = applied_count_;
  stats.watchers = hub_.size();
  stats.redis_reachable = redis_reachable_;
  stats.leader = applier_->leader();
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

absl::Status Analytics::Rebuild(StateStore& store) {
  // One trace for the rebuild: its calls to the services and its log lines.
  const TraceContext rebuild = TraceContext::NewRoot();
  ScopedTrace in_trace(&rebuild);
  absl::StatusOr<bool> locked = store.LockRebuild(options_.replica_id, options_.rebuild_deadline * 2);
  if (!locked.ok()) return locked.status();
  if (!*locked) {
    // Another replica is rebuilding: wait for its epoch.
    absl::Time until = absl::Now() + options_.rebuild_deadline * 2;
    while (absl::Now() < until) {
      absl::StatusOr<std::string> epoch = store.Epoch();
      if (epoch.ok()) return absl::OkStatus();
      if (!absl::IsNotFound(epoch.status())) return epoch.status();
      absl::SleepFor(kRebuildPoll);
    }
    return absl::UnavailableError("waited too long for another replica's rebuild");
  }
  // Another replica may have rebuilt and let go of the lock between this replica finding
  // the store empty and taking the lock: its generation stands, so read it instead of
  // reading the services a second time.
  if (absl::StatusOr<std::string> epoch = store.Epoch(); epoch.ok()) {
    store.UnlockRebuild().IgnoreError();
    return absl::OkStatus();
  } else if (!absl::IsNotFound(epoch.status())) {
    store.UnlockRebuild().IgnoreError();
    return epoch.status();
  }
  absl::StatusOr<Mirror> mirror = LoadFromServices();
  if (!mirror.ok()) {
    store.UnlockRebuild().IgnoreError();
    return mirror.status();
  }
  // A reader sees the old generation or the new, never half (StateStore::Replace).
  absl::StatusOr<std::string> epoch = store.Replace(*mirror);
  if (!epoch.ok()) return epoch.status();
  ++rebuilds_;
  Log(LogLevel::kInfo, "aggregates rebuilt from the services",
      {{"replica", options_.replica_id}, {"epoch", *epoch},
       {"resources", static_cast<int64_t>(mirror->entries().size())}});
  return absl::OkStatus();
}

absl::Status Analytics::LoadState(StateStore& store) {
  absl::StatusOr<StoredState> stored = store.Load();
  if (absl::IsNotFound(stored.status())) {
    if (absl::Status s = Rebuild(store); !s.ok()) return s;
    stored = store.Load();
  }
  if (!stored.ok()) return stored.status();
  // The mirror may hold entries newer than `useq` (the leader wrote while this replica
  // read): following replays every update after `useq` in order, so each resource ends
  // as its last update left it.
  State loaded;
  loaded.epoch = std::move(stored->epoch);
  loaded.useq = stored->useq;
  loaded.applied = std::move(stored->applied);
  loaded.aggregator.Reset(std::move(stored->mirror));
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

absl::StatusOr<bool> Analytics::FollowOnce(StateStore& store) {
  // Delivery slower than the feed: what is not yet read waits in the store, not in the
  // delivery queues.
  if (!hub_.WaitForRoom(kMaxQueuedUpdates, absl::Milliseconds(500))) return false;
  int64_t useq;
  {
    absl::MutexLock lock(&mu_);
    useq = state_.useq;
  }
  // Parsed before taking the lock, so readers and watchers wait only for the applying.
  absl::StatusOr<std::vector<KeptUpdate>> followed =
      store.ReadUpdates(useq, kFollowBatch, absl::Milliseconds(500));
  if (absl::IsDataLoss(followed.status())) {
    absl::MutexLock lock(&mu_);
    state_.loaded = false;  // an unreadable update: reload rather than skip it
    return true;
  }
  if (!followed.ok()) return followed.status();
  if (followed->empty()) return false;
  absl::MutexLock lock(&mu_);
  for (KeptUpdate& f : *followed) {
    if (f.useq != state_.useq + 1) {
      // A gap: the updates were trimmed or rebuilt under us. Reload.
      state_.loaded = false;
      return true;
    }
    state_.aggregator.Apply(f.record, nullptr);
    state_.applied[f.record.service()] =
        std::max(state_.applied[f.record.service()], f.record.sequence());
    state_.useq = f.useq;
    state_.applied_time = absl::Now();
    StateChangedLocked();
    ++applied_count_;
    // An update that moves no value is not sent, but heartbeats carry its position.
    hub_.Publish(f.update.changed().empty()
                     ? nullptr
                     : UpdateEventBytes(std::move(f.update), TokenFor(state_.epoch, f.useq)),
                 TokenFor(state_.epoch, f.useq));
  }
  return true;
}

absl::Status Analytics::CheckEpochAndLag(StorageSession& session, bool& needs_load) {
  absl::StatusOr<std::string> epoch = session.state->Epoch();
  if (!epoch.ok() && !absl::IsNotFound(epoch.status())) return epoch.status();
  absl::StatusOr<std::map<std::string, int64_t>> newest = session.feed->NewestSequences();
  if (!newest.ok()) return newest.status();
  absl::MutexLock lock(&mu_);
  needs_load = !epoch.ok() || *epoch != state_.epoch;
  int64_t lag = 0;
  for (const auto& [service, last] : *newest) {
    auto applied = state_.applied.find(service);
    lag += std::max<int64_t>(0, last - (applied == state_.applied.end() ? 0 : applied->second));
  }
  stream_lag_ = lag;
  return absl::OkStatus();
}

void Analytics::FollowLoop() {
  std::optional<StorageSession> session;
  absl::Time last_epoch_check = absl::InfinitePast();
  bool reported_down = false;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    absl::Status status = absl::OkStatus();
    if (!session.has_value()) {
      absl::StatusOr<StorageSession> connected = storage_->Connect();
      if (connected.ok()) {
        session = *std::move(connected);
      } else {
        status = connected.status();
      }
    }
    bool needs_load = false;
    if (status.ok()) {
      absl::MutexLock lock(&mu_);
      needs_load = !state_.loaded;
    }
    if (status.ok() && !needs_load && absl::Now() - last_epoch_check > absl::Seconds(1)) {
      status = CheckEpochAndLag(*session, needs_load);
      last_epoch_check = absl::Now();
    }
    if (status.ok() && needs_load) status = LoadState(*session->state);
    if (status.ok()) {
      absl::StatusOr<bool> followed = FollowOnce(*session->state);
      status = followed.status();
    }
    if (!status.ok()) {
      session.reset();
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
  if (!catchup_.has_value()) {
    absl::StatusOr<StorageSession> connected = storage_->Connect();
    if (!connected.ok()) return connected.status();
    catchup_ = *std::move(connected);
  }
  absl::StatusOr<std::vector<KeptUpdate>> missed =
      catchup_->state->ReadUpdates(from, static_cast<size_t>(upto - from), absl::ZeroDuration());
  if (absl::IsDataLoss(missed.status())) return TokenExpired("the updates after it are unreadable");
  if (!missed.ok()) {
    catchup_.reset();
    return missed.status();
  }
  std::vector<SharedEvent> events;
  int64_t expected = from + 1;
  for (KeptUpdate& kept : *missed) {
    if (kept.useq != expected || expected > upto) break;
    ++expected;
    if (kept.update.changed().empty()) continue;
    events.push_back(UpdateEventBytes(std::move(kept.update), TokenFor(epoch, kept.useq)));
  }
  if (expected != upto + 1) return TokenExpired("the updates after it were trimmed");
  return events;
}

void Analytics::Unsubscribe(Watcher* watcher) { hub_.Remove(watcher); }

}  // namespace sanhak::analytics
