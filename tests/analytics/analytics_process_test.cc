// Analytics as a real process, crashed with kill -9 while it applies a burst of changes:
// after a restart every change is applied exactly once (the updates stream holds each
// once, the aggregates equal a recount), and a watcher resuming with the token it held
// before the crash receives exactly the updates it missed, in order.
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "services/analytics/model.h"
#include "tests/analytics/analytics_fixture.h"
#include "tests/support/server_process.h"

namespace sanhak::analytics {
namespace {

using ::sanhak::testing::ServerProcess;

class AnalyticsProcessTest : public AnalyticsFixture {
 protected:
  std::unique_ptr<ServerProcess> StartProcess(const std::string& log) {
    auto process = std::make_unique<ServerProcess>(
        SANHAK_ANALYTICS_BINARY,
        std::vector<std::string>{"--registry=" + registry_->address(),
                                 "--events=" + events_->address(),
                                 "--redis=" + redis_.address(), "--replica=crashing",
                                 // Signed in as its own Redis user (read from a file).
                                 "--redis_user=analytics",
                                 "--redis_password_file=" + redis_.PasswordFile("analytics")},
        log);
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

}  // namespace
}  // namespace sanhak::analytics
