// The watch hub alone: no Redis, no gRPC. Fake watchers record what they are given and
// from which thread; events are strings standing for serialized AggregatesEvents.
#include "services/analytics/watch_hub.h"

#include <sched.h>

#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sanhak/analytics/v1/analytics.pb.h"
#include "tests/support/await.h"

namespace sanhak::analytics {
namespace {

using ::sanhak::testing::WaitUntil;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

SharedEvent Event(const std::string& text) { return MakeEvent(text); }

// Watchers are declared before the hub in each test: the hub may call them until it is
// stopped (its destructor), as the engine's watchers outlive its hub.
class FakeWatcher : public Watcher {
 public:
  void Deliver(SharedEvent event) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(event->bytes());
    raw_.push_back(event);
    threads_.insert(std::this_thread::get_id());
  }
  void DeliverAll(const EventRun& run) override {
    {
      absl::MutexLock lock(&mu_);
      runs_.push_back(run.events().size());
    }
    Watcher::DeliverAll(run);
  }
  void Close(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    closed_ = status;
    ++closes_;
  }
  // The sizes of the runs handed over at once (DeliverAll).
  std::vector<size_t> runs() {
    absl::MutexLock lock(&mu_);
    return runs_;
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  // Events that are not heartbeats (which parse as AggregatesEvent with a heartbeat).
  std::vector<std::string> updates() {
    std::vector<std::string> out;
    for (const std::string& e : events()) {
      if (!IsHeartbeat(e)) out.push_back(e);
    }
    return out;
  }
  std::vector<std::string> heartbeat_tokens() {
    std::vector<std::string> out;
    for (const std::string& e : events()) {
      v1::AggregatesEvent event;
      if (IsHeartbeat(e) && event.ParseFromString(e)) out.push_back(event.resume_token());
    }
    return out;
  }
  std::vector<SharedEvent> raw() {
    absl::MutexLock lock(&mu_);
    return raw_;
  }
  size_t count() {
    absl::MutexLock lock(&mu_);
    return events_.size();
  }
  std::set<std::thread::id> threads() {
    absl::MutexLock lock(&mu_);
    return threads_;
  }
  std::optional<absl::Status> closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }
  int closes() {
    absl::MutexLock lock(&mu_);
    return closes_;
  }

 private:
  static bool IsHeartbeat(const std::string& bytes) {
    v1::AggregatesEvent event;
    return event.ParseFromString(bytes) && event.has_heartbeat();
  }
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
  std::vector<SharedEvent> raw_ ABSL_GUARDED_BY(mu_);
  std::set<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
  int closes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<size_t> runs_ ABSL_GUARDED_BY(mu_);
};

// Stands for an update event: the leading 0xff is no valid protobuf tag, so it never
// parses as a heartbeat.
std::string Update(int i) { return absl::StrCat("\xff", "u", i); }

WatchHubOptions Quiet(int threads) {
  WatchHubOptions options;
  options.threads = threads;
  options.heartbeat_interval = absl::Hours(1);
  return options;
}

TEST(WatchHubTest, EveryWatcherOnEveryThreadGetsEveryEventOnceInOrder) {
  std::vector<std::unique_ptr<FakeWatcher>> watchers;
  WatchHub hub(Quiet(4));
  ASSERT_EQ(hub.threads(), 4);
  for (int i = 0; i < 64; ++i) {
    watchers.push_back(std::make_unique<FakeWatcher>());
    hub.Add(watchers.back().get(), {});
  }
  std::vector<std::string> expected;
  for (int i = 0; i < 500; ++i) {
    expected.push_back(Update(i));
    hub.Publish(Event(expected.back()), absl::StrCat("t", i));
  }
  ASSERT_TRUE(WaitUntil([&] {
    for (auto& w : watchers) {
      if (w->count() < expected.size()) return false;
    }
    return true;
  }));
  std::set<std::thread::id> threads;
  for (auto& w : watchers) {
    EXPECT_THAT(w->updates(), ElementsAreArray(expected));
    const std::set<std::thread::id> mine = w->threads();
    EXPECT_EQ(mine.size(), 1u) << "a watcher is served by one shard";
    threads.insert(mine.begin(), mine.end());
  }
  EXPECT_EQ(threads.size(), 4u) << "watchers are spread over every delivery thread";
  EXPECT_EQ(hub.size(), 64);
}

TEST(WatchHubTest, EveryWatcherIsHandedTheSameBytesNotACopy) {
  FakeWatcher a, b, c;
  WatchHub hub(Quiet(3));
  hub.Add(&a, {});
  hub.Add(&b, {});
  hub.Add(&c, {});
  SharedEvent event = Event(Update(1));
  hub.Publish(event, "t1");
  ASSERT_TRUE(WaitUntil([&] { return a.count() == 1 && b.count() == 1 && c.count() == 1; }));
  EXPECT_EQ(a.raw()[0].get(), event.get());
  EXPECT_EQ(b.raw()[0].get(), event.get());
  EXPECT_EQ(c.raw()[0].get(), event.get());
}

TEST(WatchHubTest, AWatcherGetsItsFirstEventsThenOnlyWhatWasPublishedAfterItWasAdded) {
  FakeWatcher early, late;
  WatchHub hub(Quiet(2));
  hub.Add(&early, {Event("snapshot-0")});
  hub.Publish(Event(Update(1)), "t1");
  hub.Publish(nullptr, "t2");  // a position without an event: nothing is sent
  hub.Add(&late, {Event("snapshot-2")});
  hub.Publish(Event(Update(3)), "t3");
  ASSERT_TRUE(WaitUntil([&] { return early.count() == 3 && late.count() == 2; }));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_THAT(early.events(), ElementsAre("snapshot-0", Update(1), Update(3)));
  EXPECT_THAT(late.events(), ElementsAre("snapshot-2", Update(3)));
}

TEST(WatchHubTest, ACatchingUpWatcherGetsWhatItMissedThenWhatWasHeldThenLiveEvents) {
  FakeWatcher resumer;
  WatchHub hub(Quiet(2));
  hub.AddCatchingUp(&resumer);
  hub.Publish(Event(Update(11)), "t11");
  hub.Publish(Event(Update(12)), "t12");
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_THAT(resumer.events(), IsEmpty()) << "live events wait until it caught up";
  hub.CatchUp(&resumer, {Event(Update(9)), Event(Update(10))});
  hub.Publish(Event(Update(13)), "t13");
  ASSERT_TRUE(WaitUntil([&] { return resumer.count() == 5; }));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_THAT(resumer.events(),
              ElementsAre(Update(9), Update(10), Update(11), Update(12), Update(13)));
}

TEST(WatchHubTest, NothingIsDeliveredAfterRemoveReturnsWhilePublishingGoesOn) {
  std::vector<std::unique_ptr<FakeWatcher>> watchers;
  WatchHub hub(Quiet(2));
  for (int i = 0; i < 16; ++i) {
    watchers.push_back(std::make_unique<FakeWatcher>());
    hub.Add(watchers.back().get(), {});
  }
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (int i = 0; !stop.load(); ++i) {
      hub.Publish(Event(Update(i)), absl::StrCat("t", i));
      // As the engine does: no further ahead of delivery than a bound.
      hub.WaitForRoom(100, absl::Seconds(1));
    }
  });
  ASSERT_TRUE(WaitUntil([&] { return watchers[0]->count() > 100; }));
  std::vector<size_t> at_removal;
  for (auto& w : watchers) {
    hub.Remove(w.get());
    at_removal.push_back(w->count());
  }
  absl::SleepFor(absl::Milliseconds(100));
  stop = true;
  publisher.join();
  for (size_t i = 0; i < watchers.size(); ++i) {
    EXPECT_EQ(watchers[i]->count(), at_removal[i]) << "watcher " << i;
  }
  EXPECT_EQ(hub.size(), 0);
}

TEST(WatchHubTest, ARemovedWatcherWhoseAddWasStillQueuedIsNeverCalled) {
  FakeWatcher gone, probe;
  WatchHub hub(Quiet(1));
  // Many queued items ahead, so the Add is still queued when Remove runs.
  for (int i = 0; i < 20000; ++i) hub.Publish(Event(Update(i)), "t");
  hub.AddCatchingUp(&gone);
  hub.Remove(&gone);
  hub.Publish(Event(Update(-1)), "t");
  hub.Add(&probe, {});
  hub.Publish(Event(Update(-2)), "t");
  ASSERT_TRUE(WaitUntil([&] { return probe.count() == 1; }));
  EXPECT_THAT(gone.events(), IsEmpty());
  EXPECT_FALSE(gone.closed().has_value());
}

TEST(WatchHubTest, CloseAllClosesTheWatchersRegisteredBeforeItAndNoneAfter) {
  FakeWatcher a, b, c, after;
  WatchHub hub(Quiet(3));
  hub.Add(&a, {});
  hub.Add(&b, {});
  hub.AddCatchingUp(&c);
  hub.CloseAll(absl::UnavailableError("reloaded"));
  hub.Add(&after, {});
  hub.Publish(Event(Update(1)), "t1");
  ASSERT_TRUE(WaitUntil([&] { return after.count() == 1; }));
  for (FakeWatcher* w : {&a, &b, &c}) {
    ASSERT_TRUE(w->closed().has_value());
    EXPECT_EQ(w->closed()->code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(w->events(), IsEmpty());
  }
  EXPECT_FALSE(after.closed().has_value());
  EXPECT_TRUE(WaitUntil([&] { return hub.size() == 1; }));
  // A catch-up for a watcher closed meanwhile delivers nothing.
  hub.CatchUp(&c, {Event(Update(0))});
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_THAT(c.events(), IsEmpty());
}

TEST(WatchHubTest, AQuietWatcherGetsHeartbeatsCarryingTheLastPositionOfItsShard) {
  WatchHubOptions options;
  options.threads = 2;
  options.heartbeat_interval = absl::Milliseconds(40);
  FakeWatcher quiet, resuming;
  WatchHub hub(options);
  hub.Publish(nullptr, "position-7");
  hub.Add(&quiet, {});
  hub.AddCatchingUp(&resuming);
  ASSERT_TRUE(WaitUntil([&] { return quiet.heartbeat_tokens().size() >= 2; }));
  EXPECT_EQ(quiet.heartbeat_tokens().back(), "position-7");
  hub.Publish(nullptr, "position-8");
  ASSERT_TRUE(WaitUntil([&] { return quiet.heartbeat_tokens().back() == "position-8"; }));
  EXPECT_THAT(resuming.events(), IsEmpty()) << "no heartbeat while catching up";
}

TEST(WatchHubTest, StopClosesEveryWatcherOnceAndLaterOnesAtOnce) {
  FakeWatcher a, b, later;
  {
    WatchHub hub(Quiet(2));
    hub.Add(&a, {});
    hub.AddCatchingUp(&b);
    hub.Stop(absl::UnavailableError("shutting down"));
    ASSERT_TRUE(a.closed().has_value());
    ASSERT_TRUE(b.closed().has_value());
    EXPECT_EQ(a.closed()->message(), "shutting down");
    hub.Add(&later, {Event("snapshot")});
    ASSERT_TRUE(later.closed().has_value());
    EXPECT_THAT(later.events(), IsEmpty());
    EXPECT_EQ(hub.size(), 0);
  }  // the destructor stops again: nothing is closed twice
  EXPECT_EQ(a.closes(), 1);
  EXPECT_EQ(b.closes(), 1);
}

TEST(WatchHubTest, APublisherCanWaitUntilTheDeliveryThreadsCatchUp) {
  FakeWatcher w;
  WatchHub hub(Quiet(2));
  hub.Add(&w, {});
  for (int i = 0; i < 5000; ++i) hub.Publish(Event(Update(i)), "t");
  EXPECT_TRUE(hub.WaitForRoom(10, absl::Seconds(30)));
  EXPECT_LE(hub.backlog(), 10u);
  ASSERT_TRUE(WaitUntil([&] { return w.count() == 5000; }));
  EXPECT_TRUE(hub.WaitForRoom(0, absl::Seconds(30)));
}

TEST(WatchHubTest, EventsPublishedWithinTheLingerReachEachWatcherTogether) {
  FakeWatcher a, b;
  WatchHubOptions options = Quiet(2);
  options.linger = absl::Milliseconds(300);
  WatchHub hub(options);
  hub.Add(&a, {});
  hub.Add(&b, {});
  ASSERT_TRUE(WaitUntil([&] { return hub.backlog() == 0; }));
  const absl::Time start = absl::Now();
  for (int i = 1; i <= 3; ++i) hub.Publish(Event(Update(i)), absl::StrCat("t", i));
  ASSERT_TRUE(WaitUntil([&] { return a.count() == 3 && b.count() == 3; }));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250)) << "held for the linger";
  for (FakeWatcher* w : {&a, &b}) {
    EXPECT_THAT(w->runs(), ElementsAre(3u)) << "one hand-over of the three";
    EXPECT_THAT(w->updates(), ElementsAre(Update(1), Update(2), Update(3)));
  }
  // A lone event is held no longer than the linger either.
  hub.Publish(Event(Update(4)), "t4");
  ASSERT_TRUE(WaitUntil([&] { return a.count() == 4; }, absl::Seconds(2)));
  EXPECT_THAT(a.runs(), ElementsAre(3u));
}

TEST(WatchHubTest, WithoutALingerEachEventIsHandedOverOnItsOwn) {
  FakeWatcher a;
  WatchHub hub(Quiet(1));
  hub.Add(&a, {});
  for (int i = 1; i <= 50; ++i) hub.Publish(Event(Update(i)), absl::StrCat("t", i));
  ASSERT_TRUE(WaitUntil([&] { return a.count() == 50; }));
  EXPECT_THAT(a.runs(), IsEmpty());
}

TEST(WatchHubTest, ThreadsDefaultToTheCoresThisProcessMayUse) {
  WatchHubOptions options;
  options.threads = 0;
  WatchHub hub(options);
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(hub.threads(), CPU_COUNT(&set));
}

}  // namespace
}  // namespace sanhak::analytics
