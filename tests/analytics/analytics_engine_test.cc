// The analytics engine's own loops (following, applying, rebuilding, catching watchers
// up) on in-memory storage and a fake source of truth: no Redis, no gRPC. What Redis and
// the services do to a replica (a store emptied or unreachable, a leader that crashed
// after reading, a lease taken by another) is driven by the test. analytics_test runs the
// same engine on a real Redis behind real gRPC.
#include "services/analytics/analytics.h"

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/analytics/change_records.h"
#include "tests/analytics/in_memory_storage.h"
#include "tests/support/await.h"

namespace sanhak::analytics {
namespace {

using ::sanhak::testing::WaitUntil;

// The services as analytics rebuilds from them: every record written so far.
class FakeSource : public SourceOfTruth {
 public:
  absl::StatusOr<Mirror> Load(absl::Time) override {
    absl::MutexLock lock(&mu_);
    ++loads_;
    if (!available_) return absl::UnavailableError("services down (test)");
    Mirror mirror;
    for (const changes::v1::ChangeRecord& r : records_) mirror.Apply(r);
    return mirror;
  }
  void Add(const changes::v1::ChangeRecord& r) {
    absl::MutexLock lock(&mu_);
    records_.push_back(r);
  }
  int loads() {
    absl::MutexLock lock(&mu_);
    return loads_;
  }

 private:
  absl::Mutex mu_;
  std::vector<changes::v1::ChangeRecord> records_ ABSL_GUARDED_BY(mu_);
  bool available_ ABSL_GUARDED_BY(mu_) = true;
  int loads_ ABSL_GUARDED_BY(mu_) = 0;
};

// A watch stream's client: every event parsed, and how the stream ended.
class RecordingWatcher : public Watcher {
 public:
  void Deliver(SharedEvent event) override {
    v1::AggregatesEvent parsed;
    ASSERT_TRUE(parsed.ParseFromString(event->bytes()));
    absl::MutexLock lock(&mu_);
    if (!parsed.has_heartbeat()) events_.push_back(std::move(parsed));
  }
  void Close(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    closed_ = status;
  }
  std::vector<v1::AggregatesEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  // The updates received, in order.
  std::vector<v1::AggregatesEvent> updates() {
    std::vector<v1::AggregatesEvent> out;
    for (v1::AggregatesEvent& e : events()) {
      if (e.has_update()) out.push_back(std::move(e));
    }
    return out;
  }
  std::optional<absl::Status> closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::AggregatesEvent> events_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
};

int64_t ActivitiesIn(const v1::AggregatesUpdate& update) {
  for (const v1::AggregateValue& v : update.values()) {
    if (v.path() == "activities") return v.value();
  }
  return -1;
}

class AnalyticsEngineTest : public ::testing::Test {
 protected:
  explicit AnalyticsEngineTest(size_t updates_kept = 10000)
      : storage_({"registry", "events"}, updates_kept) {}

  void TearDown() override {
    for (auto& engine : engines_) engine->Stop();
  }

  Analytics* Start(const std::string& replica) {
    AnalyticsOptions options;
    options.replica_id = replica;
    options.watch_threads = 2;
    options.lease = absl::Milliseconds(600);
    options.rebuild_deadline = absl::Seconds(10);
    engines_.push_back(std::make_unique<Analytics>(options, &source_, &storage_));
    return engines_.back().get();
  }

  // Following the store: loaded from it, not answering from a rebuild of its own.
  static bool Following(Analytics* engine) {
    Analytics::Stats s = engine->stats();
    return s.following && s.ready;
  }

  int64_t Activities(Analytics* engine) {
    absl::StatusOr<v1::Aggregates> a = engine->GetAggregates({});
    return a.ok() ? a->activities() : -1;
  }

  // Written by the events service: in its stream and in what a rebuild reads.
  void Write(const changes::v1::ChangeRecord& record) {
    source_.Add(record);
    storage_.AppendChange(record);
  }

  RecordingWatcher* NewWatcher() {
    watchers_.push_back(std::make_unique<RecordingWatcher>());
    return watchers_.back().get();
  }

  std::string LeaderOf() { return storage_.snapshot().leader; }

  InMemoryStorage storage_;
  FakeSource source_;
  // Declared before the engines, so engines (which call watchers) go first.
  std::deque<std::unique_ptr<RecordingWatcher>> watchers_;
  std::vector<std::unique_ptr<Analytics>> engines_;
};

TEST_F(AnalyticsEngineTest, OnAnEmptyStoreOneReplicaRebuildsFromTheServicesAndBothFollow) {
  for (int i = 1; i <= 3; ++i) source_.Add(NumberedSeminar(i));
  Analytics* a = Start("a");
  Analytics* b = Start("b");
  ASSERT_TRUE(WaitUntil([&] { return Following(a) && Following(b); }));
  EXPECT_EQ(source_.loads(), 1) << "the rebuild lock lets one replica read the services";
  EXPECT_EQ(Activities(a), 3);
  EXPECT_EQ(Activities(b), 3);
  EXPECT_TRUE(storage_.snapshot().epoch.has_value());
}

// The race CI caught: replica b finds the store empty, then a rebuilds, replaces and lets
// go of the lock before b asks for it. b takes the lock on a store that holds a's
// generation, and must read that instead of the services.
TEST_F(AnalyticsEngineTest, AReplicaThatTakesTheLockAfterAnotherRebuiltReadsTheServicesNoMore) {
  for (int i = 1; i <= 3; ++i) source_.Add(NumberedSeminar(i));
  absl::Notification b_found_empty;
  // Each replica may ask from two threads (its applier and its follow loop).
  std::atomic<bool> b_asked{false};
  storage_.BeforeLockRebuild([&](const std::string& holder) {
    if (holder == "a") {
      b_found_empty.WaitForNotificationWithTimeout(absl::Seconds(10));
    } else {
      if (!b_asked.exchange(true)) b_found_empty.Notify();
      WaitUntil([&] { return storage_.snapshot().epoch.has_value(); });
    }
  });
  Analytics* a = Start("a");
  Analytics* b = Start("b");
  ASSERT_TRUE(WaitUntil([&] { return Following(a) && Following(b); }));
  EXPECT_TRUE(b_found_empty.HasBeenNotified());
  EXPECT_EQ(source_.loads(), 1) << "b read a's generation, not the services";
  EXPECT_EQ(Activities(a), 3);
  EXPECT_EQ(Activities(b), 3);
}

TEST_F(AnalyticsEngineTest, EveryChangeIsAppliedOnceAndEveryReplicaDeliversEveryUpdateInOrder) {
  Analytics* a = Start("a");
  Analytics* b = Start("b");
  ASSERT_TRUE(WaitUntil([&] { return Following(a) && Following(b); }));
  RecordingWatcher* on_a = NewWatcher();
  RecordingWatcher* on_b = NewWatcher();
  ASSERT_TRUE(a->Subscribe(on_a, "").ok());
  ASSERT_TRUE(b->Subscribe(on_b, "").ok());
  constexpr int kChanges = 300;
  for (int i = 1; i <= kChanges; ++i) Write(NumberedSeminar(i));
  ASSERT_TRUE(WaitUntil([&] {
    return on_a->updates().size() == kChanges && on_b->updates().size() == kChanges;
  })) << on_a->updates().size() << " and " << on_b->updates().size() << " of " << kChanges;
  for (RecordingWatcher* w : {on_a, on_b}) {
    std::vector<v1::AggregatesEvent> updates = w->updates();
    for (int i = 0; i < kChanges; ++i) {
      EXPECT_EQ(updates[i].update().change_id(), absl::StrCat("events-", i + 1));
      EXPECT_EQ(ActivitiesIn(updates[i].update()), i + 1);
    }
    EXPECT_EQ(w->events().front().snapshot().activities(), 0);
  }
  InMemoryStorage::Snapshot s = storage_.snapshot();
  EXPECT_EQ(s.useq, kChanges) << "each change numbered once, by one leader";
  EXPECT_EQ(s.kept.size(), static_cast<size_t>(kChanges));
  EXPECT_EQ(s.applied["events"], kChanges);
  EXPECT_EQ(s.pending, 0u) << "every entry acknowledged with its commit";
  EXPECT_EQ(Activities(a), kChanges);
  EXPECT_EQ(Activities(b), kChanges);
}

TEST_F(AnalyticsEngineTest, WhatACrashedLeaderReadIsClaimedAndAppliedOnce) {
  Analytics* a = Start("a");
  ASSERT_TRUE(WaitUntil([&] { return Following(a) && LeaderOf() == "a"; }));
  // Another replica takes the lease, reads ten changes and dies before committing them.
  storage_.StealLease("ghost", absl::Milliseconds(800));
  for (int i = 1; i <= 10; ++i) Write(NumberedSeminar(i));
  storage_.ReadAndCrash("ghost", 10);
  EXPECT_EQ(storage_.snapshot().pending, 10u);
  // Its lease runs out; "a" takes it back, claims the ten and applies them.
  ASSERT_TRUE(WaitUntil([&] { return Activities(a) == 10; })) << Activities(a);
  ASSERT_TRUE(WaitUntil([&] { return storage_.snapshot().pending == 0; }));
  EXPECT_EQ(storage_.snapshot().useq, 10);
  // The same entries again (a redelivery after a crash between commit and acknowledge
  // looks like this): acknowledged, nothing moves.
  for (int i = 1; i <= 10; ++i) storage_.AppendChange(NumberedSeminar(i));
  Write(NumberedSeminar(11));
  ASSERT_TRUE(WaitUntil([&] { return Activities(a) == 11; }));
  EXPECT_EQ(storage_.snapshot().useq, 11) << "a redelivered sequence gets no new update";
  EXPECT_EQ(storage_.snapshot().applied["events"], 11);
}

TEST_F(AnalyticsEngineTest, ALeaderFencedOutByANewerLeaseWritesNothing) {
  Analytics* a = Start("a");
  ASSERT_TRUE(WaitUntil([&] { return Following(a) && LeaderOf() == "a"; }));
  // "a" still believes it leads (it renews every third of the term) when another takes
  // the lease: whatever it reads meanwhile must not be committed by it.
  storage_.StealLease("other", absl::Seconds(30));
  for (int i = 1; i <= 5; ++i) Write(NumberedSeminar(i));
  absl::SleepFor(absl::Seconds(1));
  InMemoryStorage::Snapshot s = storage_.snapshot();
  EXPECT_EQ(s.useq, 0) << "nothing committed under someone else's lease";
  EXPECT_EQ(s.commits, 0);
  EXPECT_EQ(Activities(a), 0);
  EXPECT_FALSE(a->stats().leader);
}

TEST_F(AnalyticsEngineTest, TheStreamLagCountsChangesNotYetApplied) {
  Analytics* a = Start("a");
  ASSERT_TRUE(WaitUntil([&] { return Following(a); }));
  storage_.StealLease("stalled", absl::Seconds(30));
  for (int i = 1; i <= 7; ++i) Write(NumberedSeminar(i));
  EXPECT_TRUE(WaitUntil([&] { return a->stats().stream_lag == 7; }, absl::Seconds(5)))
      << a->stats().stream_lag;
}

TEST_F(AnalyticsEngineTest, StoppingTheLeaderHandsTheLeaseOverWithoutWaitingOutItsTerm) {
  Analytics* a = Start("a");
  Analytics* b = Start("b");
  ASSERT_TRUE(WaitUntil([&] { return Following(a) && Following(b) && !LeaderOf().empty(); }));
  Analytics* leader = LeaderOf() == "a" ? a : b;
  Analytics* other = leader == a ? b : a;
  leader->Stop();
  Write(NumberedSeminar(1));
  EXPECT_TRUE(WaitUntil([&] { return Activities(other) == 1; }, absl::Seconds(5)));
  EXPECT_EQ(LeaderOf(), other == a ? "a" : "b");
}

TEST_F(AnalyticsEngineTest, WithTheStoreUnreachableWatchersCloseAndReadsAnswerFromTheServices) {
  for (int i = 1; i <= 2; ++i) Write(NumberedSeminar(i));
  Analytics* a = Start("a");
  ASSERT_TRUE(WaitUntil([&] { return Following(a) && Activities(a) == 2; }));
  RecordingWatcher* w = NewWatcher();
  ASSERT_TRUE(a->Subscribe(w, "").ok());
  storage_.SetReachable(false);
  ASSERT_TRUE(WaitUntil([&] { return w->closed().has_value(); }));
  EXPECT_TRUE(absl::IsUnavailable(*w->closed())) << *w->closed();
  EXPECT_EQ(GetReason(*w->closed()), "REDIS_UNAVAILABLE");
  // The services still answer: so does analytics, from a rebuild of its own.
  source_.Add(NumberedSeminar(3));
  EXPECT_EQ(Activities(a), 3);
  EXPECT_TRUE(a->Serving().ok());
  absl::Status refused = a->Subscribe(NewWatcher(), "");
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  // Back: it follows the store again (which has not seen change 3 yet).
  storage_.SetReachable(true);
  ASSERT_TRUE(WaitUntil([&] { return Following(a); }));
  storage_.AppendChange(NumberedSeminar(3));
  EXPECT_TRUE(WaitUntil([&] { return Activities(a) == 3; }));
  EXPECT_TRUE(a->Subscribe(NewWatcher(), "").ok());
}

TEST_F(AnalyticsEngineTest, AnEmptiedStoreIsRebuiltAndTheOldGenerationsTokensExpire) {
  for (int i = 1; i <= 3; ++i) Write(NumberedSeminar(i));
  Analytics* a = Start("a");
  ASSERT_TRUE(WaitUntil([&] { return Following(a) && Activities(a) == 3; }));
  RecordingWatcher* w = NewWatcher();
  ASSERT_TRUE(a->Subscribe(w, "").ok());
  const std::string token = w->events().front().resume_token();
  const std::string epoch = *storage_.snapshot().epoch;
  storage_.Empty();
  ASSERT_TRUE(WaitUntil([&] { return w->closed().has_value(); }));
  EXPECT_TRUE(absl::IsOutOfRange(*w->closed())) << *w->closed();
  EXPECT_EQ(GetReason(*w->closed()), "RESUME_TOKEN_EXPIRED");
  ASSERT_TRUE(WaitUntil([&] {
    return Following(a) && storage_.snapshot().epoch.has_value() &&
           *storage_.snapshot().epoch != epoch;
  }));
  EXPECT_EQ(Activities(a), 3) << "rebuilt from the services";
  absl::Status old = a->Subscribe(NewWatcher(), token);
  EXPECT_TRUE(absl::IsOutOfRange(old)) << old;
  EXPECT_EQ(GetReason(old), "RESUME_TOKEN_EXPIRED");
  // The feed goes on from the services' next change.
  Write(NumberedSeminar(4));
  EXPECT_TRUE(WaitUntil([&] { return Activities(a) == 4; }));
}

TEST_F(AnalyticsEngineTest, AWatcherResumesFromItsTokenWithExactlyTheUpdatesItMissed) {
  Analytics* a = Start("a");
  ASSERT_TRUE(WaitUntil([&] { return Following(a); }));
  RecordingWatcher* first = NewWatcher();
  ASSERT_TRUE(a->Subscribe(first, "").ok());
  for (int i = 1; i <= 5; ++i) Write(NumberedSeminar(i));
  ASSERT_TRUE(WaitUntil([&] { return first->updates().size() == 5; }));
  // Disconnected after the second update; back with its token.
  const std::string token = first->updates()[1].resume_token();
  RecordingWatcher* again = NewWatcher();
  ASSERT_TRUE(a->Subscribe(again, token).ok());
  Write(NumberedSeminar(6));
  ASSERT_TRUE(WaitUntil([&] { return again->updates().size() == 4; }))
      << again->updates().size();
  std::vector<v1::AggregatesEvent> got = again->updates();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(got[i].update().change_id(), absl::StrCat("events-", i + 3));
  }
  EXPECT_FALSE(again->events().front().has_snapshot()) << "a resume sends no snapshot";
  absl::Status bad = a->Subscribe(NewWatcher(), "not-a-token");
  EXPECT_TRUE(absl::IsInvalidArgument(bad)) << bad;
}

class AnalyticsEngineFewKeptTest : public AnalyticsEngineTest {
 protected:
  AnalyticsEngineFewKeptTest() : AnalyticsEngineTest(3) {}
};

TEST_F(AnalyticsEngineFewKeptTest, ATokenOlderThanTheKeptUpdatesIsExpired) {
  Analytics* a = Start("a");
  ASSERT_TRUE(WaitUntil([&] { return Following(a); }));
  RecordingWatcher* w = NewWatcher();
  ASSERT_TRUE(a->Subscribe(w, "").ok());
  Write(NumberedSeminar(1));
  ASSERT_TRUE(WaitUntil([&] { return w->updates().size() == 1; }));
  const std::string token = w->updates()[0].resume_token();
  for (int i = 2; i <= 8; ++i) Write(NumberedSeminar(i));
  ASSERT_TRUE(WaitUntil([&] { return a->stats().useq == 8; }));
  EXPECT_EQ(storage_.snapshot().kept, (std::vector<int64_t>{6, 7, 8}));
  absl::Status expired = a->Subscribe(NewWatcher(), token);
  EXPECT_TRUE(absl::IsOutOfRange(expired)) << expired;
  EXPECT_EQ(GetReason(expired), "RESUME_TOKEN_EXPIRED");
}

}  // namespace
}  // namespace sanhak::analytics
