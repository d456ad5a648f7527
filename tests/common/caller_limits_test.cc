#include "common/caller_limits.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/overload.h"
#include "common/status.h"
#include "gtest/gtest.h"

namespace sanhak {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(PerCallerRateTest, ACallerOverItsRateIsRefusedWithRetryInfoWhileOthersAreServed) {
  PerCallerRate rate(/*per_second=*/10, /*burst=*/5);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rate.Admit("alice", kStart).ok()) << i;
  absl::Status refused = rate.Admit("alice", kStart);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(GetReason(refused), kCallerLimitReason);
  EXPECT_NE(refused.message().find("alice"), absl::string_view::npos) << refused;
  // One token comes back every 100 ms: that is what the caller is told to wait.
  EXPECT_EQ(RetryDelayOf(refused), absl::Milliseconds(100));
  EXPECT_TRUE(rate.Admit("bob", kStart).ok());
  EXPECT_FALSE(rate.Admit("alice", kStart + absl::Milliseconds(99)).ok());
  EXPECT_TRUE(rate.Admit("alice", kStart + absl::Milliseconds(100)).ok());
}

TEST(PerCallerRateTest, SustainedRateIsTheConfiguredOne) {
  PerCallerRate rate(/*per_second=*/20, /*burst=*/1);
  int admitted = 0;
  // 10 seconds of attempts every millisecond.
  for (int ms = 0; ms < 10'000; ++ms) {
    if (rate.Admit("alice", kStart + absl::Milliseconds(ms)).ok()) ++admitted;
  }
  EXPECT_GE(admitted, 199);
  EXPECT_LE(admitted, 201);
}

TEST(PerCallerRateTest, ManyCallersNeverGrowTheTableBeyondItsBound) {
  PerCallerRate rate(/*per_second=*/1, /*burst=*/2, /*max_callers=*/100);
  int refused = 0;
  for (int i = 0; i < 1000; ++i) {
    if (!rate.Admit(absl::StrCat("caller-", i), kStart).ok()) ++refused;
  }
  EXPECT_LE(rate.tracked(), 100u);
  EXPECT_EQ(refused, 900);
  // Once they are idle (buckets full again) new callers take their places.
  EXPECT_TRUE(rate.Admit("late", kStart + absl::Seconds(2)).ok());
  EXPECT_LE(rate.tracked(), 100u);
}

TEST(PerCallerRateTest, ZeroRateMeansNoLimit) {
  PerCallerRate rate(0, 1);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(rate.Admit("alice", kStart).ok());
  EXPECT_EQ(rate.tracked(), 0u);
}

TEST(PerCallerCountTest, CapsOpenWatchesPerCaller) {
  PerCallerCount watches(2, "open watches");
  ASSERT_TRUE(watches.Acquire("alice").ok());
  ASSERT_TRUE(watches.Acquire("alice").ok());
  absl::Status refused = watches.Acquire("alice");
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(GetReason(refused), kCallerLimitReason);
  EXPECT_GT(RetryDelayOf(refused), absl::ZeroDuration());
  EXPECT_TRUE(watches.Acquire("bob").ok());
  watches.Release("alice");
  EXPECT_EQ(watches.open("alice"), 1);
  EXPECT_TRUE(watches.Acquire("alice").ok());
}

TEST(PerCallerCountTest, CountsStayExactUnderConcurrentAcquireAndRelease) {
  PerCallerCount watches(1000, "open watches");
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        if (watches.Acquire("alice").ok()) watches.Release("alice");
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(watches.open("alice"), 0);
}

}  // namespace
}  // namespace sanhak
