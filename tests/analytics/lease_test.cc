// The lease alone: its decisions on a fake store with a clock the test moves (no Redis),
// then RedisLeaseStore's atomic operations on a real redis-server signed in as the
// analytics ACL user, as deployed.
#include "services/analytics/lease.h"

#include <map>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/redis_server.h"

namespace sanhak::analytics {
namespace {

constexpr absl::Duration kTerm = absl::Seconds(3);

// A lease key with a time to live, on a clock the test sets.
class FakeLeaseStore : public LeaseStore {
 public:
  absl::StatusOr<bool> AcquireOrExtend(const std::string& holder, absl::Duration term) override {
    ++calls;
    if (!available) return absl::UnavailableError("store down");
    if (!holder_.empty() && now >= expires_) holder_.clear();
    if (holder_.empty() || holder_ == holder) {
      holder_ = holder;
      expires_ = now + term;
      return true;
    }
    return false;
  }
  absl::Status Release(const std::string& holder) override {
    if (holder_ == holder) holder_.clear();
    return absl::OkStatus();
  }
  std::string holder() const { return now < expires_ ? holder_ : ""; }

  absl::Time now = absl::FromUnixSeconds(1000);
  bool available = true;
  int calls = 0;

 private:
  std::string holder_;
  absl::Time expires_ = absl::InfinitePast();
};

TEST(LeaseTest, OneReplicaHoldsItAndTheOtherWaits) {
  FakeLeaseStore store;
  Lease a(&store, "a", kTerm), b(&store, "b", kTerm);
  absl::StatusOr<Lease::Outcome> first = a.Check(store.now);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->held);
  EXPECT_TRUE(first->taken) << "taking it over means loading the state first";
  absl::StatusOr<Lease::Outcome> second = b.Check(store.now);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->held);
  EXPECT_EQ(store.holder(), "a");
}

TEST(LeaseTest, TheHolderRenewsEveryThirdOfTheTermAndKeepsIt) {
  FakeLeaseStore store;
  Lease a(&store, "a", kTerm), b(&store, "b", kTerm);
  ASSERT_TRUE(a.Check(store.now)->held);
  const int asked = store.calls;
  store.now += kTerm / 6;
  EXPECT_TRUE(a.Check(store.now)->held);
  EXPECT_EQ(store.calls, asked) << "not due yet: answered from memory";
  for (int i = 0; i < 10; ++i) {
    store.now += kTerm / 3 + absl::Milliseconds(1);
    absl::StatusOr<Lease::Outcome> renewed = a.Check(store.now);
    ASSERT_TRUE(renewed.ok());
    EXPECT_TRUE(renewed->held);
    EXPECT_FALSE(renewed->taken) << "a renewal is not a takeover";
    EXPECT_FALSE(b.Check(store.now)->held);
  }
  EXPECT_EQ(store.holder(), "a");
}

TEST(LeaseTest, AHolderThatStallsPastTheTermLosesItAndLearnsSoAtItsNextCheck) {
  FakeLeaseStore store;
  Lease a(&store, "a", kTerm), b(&store, "b", kTerm);
  ASSERT_TRUE(a.Check(store.now)->held);
  store.now += kTerm + absl::Milliseconds(1);
  absl::StatusOr<Lease::Outcome> taken = b.Check(store.now);
  ASSERT_TRUE(taken.ok());
  EXPECT_TRUE(taken->held);
  EXPECT_TRUE(taken->taken);
  absl::StatusOr<Lease::Outcome> lost = a.Check(store.now);
  ASSERT_TRUE(lost.ok());
  EXPECT_FALSE(lost->held);
  EXPECT_FALSE(a.held());
  EXPECT_EQ(store.holder(), "b");
}

TEST(LeaseTest, ReleaseHandsItOverAtOnce) {
  FakeLeaseStore store;
  Lease a(&store, "a", kTerm), b(&store, "b", kTerm);
  ASSERT_TRUE(a.Check(store.now)->held);
  a.Release();
  EXPECT_FALSE(a.held());
  EXPECT_TRUE(b.Check(store.now)->held) << "no need to wait out the term";
  a.Release();  // not held: releases nothing of b's
  EXPECT_EQ(store.holder(), "b");
}

TEST(LeaseTest, AStoreErrorMeansNotHeldAndTheNextCheckAsksAgain) {
  FakeLeaseStore store;
  Lease a(&store, "a", kTerm);
  ASSERT_TRUE(a.Check(store.now)->held);
  store.now += kTerm / 2;
  store.available = false;
  EXPECT_FALSE(a.Check(store.now).ok());
  EXPECT_FALSE(a.held());
  store.available = true;
  absl::StatusOr<Lease::Outcome> back = a.Check(store.now);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->held);
  EXPECT_TRUE(back->taken) << "after an error the state is loaded again";
}

class RedisLeaseStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.Start()) << redis_.Log();
    auto a = redis::Connection::Connect(redis_.address(), absl::Seconds(5), Analytics());
    auto b = redis::Connection::Connect(redis_.address(), absl::Seconds(5), Analytics());
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    a_ = *std::move(a);
    b_ = *std::move(b);
  }
  redis::Credentials Analytics() const {
    return {"analytics", redis_.Password("analytics")};
  }
  int64_t TtlMs() {
    std::optional<testing::RedisReply> ttl = redis_.Command({"PTTL", kKey});
    return ttl.has_value() ? ttl->integer : -3;
  }
  std::string Holder() {
    std::optional<testing::RedisReply> holder = redis_.Command({"GET", kKey});
    return holder.has_value() ? holder->str : "?";
  }

  static constexpr char kKey[] = "sanhak:analytics:leader";
  testing::RedisServer redis_{testing::RedisUsers::kSuite};
  std::unique_ptr<redis::Connection> a_, b_;
};

TEST_F(RedisLeaseStoreTest, TakesExtendsAndReleasesAsTheAnalyticsUser) {
  RedisLeaseStore a(a_.get(), kKey), b(b_.get(), kKey);
  absl::StatusOr<bool> taken = a.AcquireOrExtend("a", absl::Seconds(30));
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_TRUE(*taken);
  EXPECT_EQ(Holder(), "a");
  EXPECT_GT(TtlMs(), 25000);
  EXPECT_FALSE(*b.AcquireOrExtend("b", absl::Seconds(30)));
  ASSERT_TRUE(redis_.Command({"PEXPIRE", kKey, "1000"}).has_value());
  EXPECT_TRUE(*a.AcquireOrExtend("a", absl::Seconds(30)));
  EXPECT_GT(TtlMs(), 25000) << "extended by its holder";
  ASSERT_TRUE(b.Release("b").ok());
  EXPECT_EQ(Holder(), "a") << "a release by another replica deletes nothing";
  ASSERT_TRUE(a.Release("a").ok());
  EXPECT_TRUE(*b.AcquireOrExtend("b", absl::Seconds(30)));
  EXPECT_EQ(Holder(), "b");
}

// The race a GET followed by a PEXPIRE loses: the lease expired and another replica took
// it between the two. One script cannot be interleaved, so the old holder's renewal must
// neither succeed nor touch the new holder's term.
TEST_F(RedisLeaseStoreTest, ARenewalNeverExtendsALeaseAnotherReplicaTook) {
  RedisLeaseStore a(a_.get(), kKey), b(b_.get(), kKey);
  ASSERT_TRUE(*a.AcquireOrExtend("a", absl::Milliseconds(200)));
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE(*b.AcquireOrExtend("b", absl::Seconds(2)));
  const int64_t before = TtlMs();
  absl::StatusOr<bool> renewed = a.AcquireOrExtend("a", absl::Seconds(60));
  ASSERT_TRUE(renewed.ok());
  EXPECT_FALSE(*renewed);
  EXPECT_EQ(Holder(), "b");
  EXPECT_LE(TtlMs(), before) << "the new holder's term was not extended by the old one";
}

}  // namespace
}  // namespace sanhak::analytics
