// Analytics as a real process, crashed with kill -9 while it applies a burst of changes:
// after a restart every change is applied exactly once (the updates stream holds each
// once, the aggregates equal a recount), and a watcher resuming with the token it held
// before the crash receives exactly the updates it missed, in order. And the binary, on
// its defaults, admits as many watches as it promises without gRPC resetting any.
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/analytics/analytics.h"
#include "services/analytics/model.h"
#include "tests/analytics/analytics_fixture.h"
#include "tests/support/server_process.h"

namespace sanhak::analytics {
namespace {

using ::sanhak::testing::ServerProcess;

class AnalyticsProcessTest : public AnalyticsFixture {
 protected:
  std::unique_ptr<ServerProcess> StartProcess(const std::string& log,
                                              const std::vector<std::string>& more_flags = {}) {
    std::vector<std::string> flags{"--registry=" + registry_->address(),
                                   "--events=" + events_->address(),
                                   "--redis=" + redis_.address(), "--replica=crashing",
                                   // Signed in as its own Redis user (read from a file).
                                   "--redis_user=analytics",
                                   "--redis_password_file=" + redis_.PasswordFile("analytics")};
    flags.insert(flags.end(), more_flags.begin(), more_flags.end());
    auto process = std::make_unique<ServerProcess>(SANHAK_ANALYTICS_BINARY, flags, log);
    EXPECT_TRUE(process->Start());
    EXPECT_TRUE(process->WaitServing()) << process->Log();
    return process;
  }
};

TEST_F(AnalyticsProcessTest, KillDashNineMidBurstAppliesEveryChangeOnce) {
  const int64_t seeded = TrueActivityCount();
  std::unique_ptr<ServerProcess> first = StartProcess(dir_.File("analytics1.log"));
  auto stub = v1::AnalyticsService::NewStub(sanhak::testing::Connect(first->address()));
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded));
  ASSERT_TRUE(WaitChangesApplied());
  auto watch = std::make_unique<WatchClient>(stub.get(), "");
  ASSERT_TRUE(watch->WaitForSnapshot());

  constexpr int kCreates = 60;
  std::vector<std::string> created(kCreates);
  std::thread creator([&] {
    for (int i = 0; i < kCreates; ++i) created[i] = CreateActivity(absl::StrCat("burst-", i));
  });
  // Mid-burst: the process dies without a chance to finish anything it was doing.
  const bool some = watch->WaitForUpdates(5);
  first->Kill();
  EXPECT_TRUE(some);
  ASSERT_TRUE(watch->WaitDone());
  std::vector<v1::AggregatesUpdate> seen = watch->updates();
  const std::string token = watch->last_token();
  watch.reset();

  std::unique_ptr<ServerProcess> second = StartProcess(dir_.File("analytics2.log"));
  creator.join();
  auto second_stub = v1::AnalyticsService::NewStub(sanhak::testing::Connect(second->address()));
  WatchClient resumed(second_stub.get(), token);
  const size_t remaining = kCreates - seen.size();
  ASSERT_TRUE(resumed.WaitForUpdates(remaining, absl::Seconds(30)))
      << resumed.updates().size() << " of " << remaining << "; "
      << (resumed.status() ? resumed.status()->error_message() : "") << second->Log();
  for (const auto& u : resumed.updates()) seen.push_back(u);

  // Every change once, in order, each moving the count by one.
  ASSERT_EQ(seen.size(), static_cast<size_t>(kCreates));
  for (int i = 0; i < kCreates; ++i) {
    EXPECT_EQ(seen[i].resource_name(), created[i]) << i;
    int64_t activities = -1;
    for (const auto& v : seen[i].values()) {
      if (v.path() == "activities") activities = v.value();
    }
    EXPECT_EQ(activities, seeded + i + 1) << i;
  }
  ASSERT_TRUE(WaitChangesApplied());
  EXPECT_TRUE(WaitForActivities(second_stub.get(), seeded + kCreates));
  EXPECT_EQ(TrueActivityCount(), seeded + kCreates);

  // The updates stream holds each change once.
  auto entries = redis_.Command({"XRANGE", "sanhak:analytics:updates", "-", "+"});
  ASSERT_TRUE(entries.has_value());
  std::map<std::string, int> times;
  for (const auto& entry : entries->elements) {
    const auto& kv = entry.elements[1].elements;
    for (size_t i = 0; i + 1 < kv.size(); i += 2) {
      if (kv[i].str != "update") continue;
      v1::AggregatesUpdate u;
      ASSERT_TRUE(u.ParseFromString(kv[i + 1].str));
      ++times[u.change_id()];
    }
  }
  for (const auto& [id, n] : times) EXPECT_EQ(n, 1) << id;
}

// The binary's defaults admit max_watchers (20,000) watch streams, and gRPC must not reset
// any of them below that: its resource quota is charged for every stream's buffers and,
// when it runs short, resets streams with RST_STREAM ENHANCE_YOUR_CALM. With the 64 MiB
// quota of the other services, 256 of 20,000 were reset as they opened; analytics has
// its own (kAnalyticsMemoryQuotaMb). 64 streams per connection, as bench/fanout.cc.
TEST_F(AnalyticsProcessTest, AsManyWatchesAsItAdmitsOpenWithoutResets) {
  // Every watch here comes from one plaintext caller; the per-caller cap (1,000) is not
  // what this is about.
  std::unique_ptr<ServerProcess> analytics =
      StartProcess(dir_.File("analytics.log"), {"--max_watches_per_caller=0"});
  const int watches = static_cast<int>(AnalyticsOptions().max_watchers);
  constexpr int kPerConnection = 64;
  std::vector<std::unique_ptr<v1::AnalyticsService::Stub>> stubs;
  for (int i = 0; i < (watches + kPerConnection - 1) / kPerConnection; ++i) {
    grpc::ChannelArguments args;
    // A connection of its own for each (no shared subchannel).
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(v1::AnalyticsService::NewStub(grpc::CreateCustomChannel(
        analytics->address(), grpc::InsecureChannelCredentials(), args)));
  }
  ASSERT_TRUE(WaitForActivities(stubs[0].get(), TrueActivityCount()));
  std::vector<std::unique_ptr<WatchClient>> watchers;
  for (int i = 0; i < watches; ++i) {
    watchers.push_back(
        std::make_unique<WatchClient>(stubs[i / kPerConnection].get(), "", absl::Minutes(5)));
  }
  int with_snapshot = 0;
  std::string first_failure;
  for (int i = 0; i < watches; ++i) {
    if (watchers[i]->WaitForSnapshot(absl::Seconds(120))) {
      ++with_snapshot;
    } else if (first_failure.empty()) {
      const std::optional<grpc::Status> status = watchers[i]->status();
      first_failure = absl::StrCat("watch ", i, ": ",
                                   status ? absl::StrCat(status->error_code(), " ",
                                                         status->error_message())
                                          : "no snapshot, still open");
    }
  }
  EXPECT_EQ(with_snapshot, watches) << first_failure;
  // Still open, all of them, a moment later.
  absl::SleepFor(absl::Seconds(1));
  int ended = 0;
  for (const auto& w : watchers) ended += w->done();
  EXPECT_EQ(ended, 0);
  watchers.clear();
  // -1: still running.
  EXPECT_EQ(analytics->WaitExit(std::chrono::milliseconds(0)), -1) << analytics->Log();
}

}  // namespace
}  // namespace sanhak::analytics
