// The real binaries under more load than they admit, bounded to seconds: 8 connections
// each keeping 128 calls in flight (writes to events and registry, GetAggregates, and
// WatchAggregates opens on analytics). Afterwards every process is alive and inside its
// memory budget, every acknowledged write is readable, every refusal is
// RESOURCE_EXHAUSTED or UNAVAILABLE, and a normal call made during the attack answered
// within a second.
//
// Links no server code: the services run as processes (tests/support/server_process.h).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "tests/support/redis_server.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace sanhak {
namespace {

using ::sanhak::testing::RedisServer;
using ::sanhak::testing::ServerProcess;
using ::sanhak::testing::TempDir;

constexpr int kConnections = 8;
constexpr int kInFlightPerConnection = 128;
// The containers' memory limit (deploy/base/{registry,events}.yaml): the budget. Under
// AddressSanitizer (the test command's pass) shadow memory and the 256 MiB quarantine of
// freed blocks come on top, so the budget grows by what ASan itself holds.
#if defined(__SANITIZE_ADDRESS__)
constexpr int64_t kMemoryBudgetBytes = int64_t{512 + 768} << 20;
#else
constexpr int64_t kMemoryBudgetBytes = int64_t{512} << 20;
#endif
// A normal call made while the attack runs must answer within this.
constexpr absl::Duration kNormalCallLimit = absl::Seconds(1);

int64_t ResidentBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kb = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      if (absl::SimpleAtoi(digits, &kb)) return kb * 1024;
    }
  }
  return -1;
}

// A channel on a connection of its own (gRPC otherwise shares one between channels to
// the same address), so the load arrives over `kConnections` connections as it would
// from several clients.
std::shared_ptr<grpc::Channel> OwnConnection(const std::string& address, int index) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetString("sanhak.test.connection", absl::StrCat(index));
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

struct Outcome {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  // The name of what a write created, when it succeeded.
  std::string name;
};

// Starts one call on `channel`; calls `done` once with its outcome (from any thread).
using IssueFn = std::function<void(grpc::Channel* channel, int index,
                                   std::function<void(Outcome)> done)>;

// Keeps `in_flight` calls open on each of `connections` connections until `total` have
// completed (or `limit` passed). Returns every outcome.
std::vector<Outcome> Flood(const std::string& address, int connections, int in_flight, int total,
                           const IssueFn& issue, absl::Duration limit = absl::Seconds(60)) {
  struct State {
    absl::Mutex mu;
    std::vector<Outcome> outcomes;
    int issued = 0;
    int completed = 0;
    absl::Notification finished;
  };
  auto state = std::make_shared<State>();
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int c = 0; c < connections; ++c) channels.push_back(OwnConnection(address, c));
  // Each completion starts the next call on the same connection.
  std::function<void(grpc::Channel*)> next = [&, state](grpc::Channel* channel) {
    int index;
    {
      absl::MutexLock lock(&state->mu);
      if (state->issued == total) return;
      index = state->issued++;
    }
    issue(channel, index, [&, state, channel](Outcome outcome) {
      bool last;
      {
        absl::MutexLock lock(&state->mu);
        state->outcomes.push_back(std::move(outcome));
        last = ++state->completed == total;
      }
      if (last) {
        state->finished.Notify();
      } else {
        next(channel);
      }
    });
  };
  for (auto& channel : channels) {
    for (int i = 0; i < in_flight; ++i) next(channel.get());
  }
  EXPECT_TRUE(state->finished.WaitForNotificationWithTimeout(limit))
      << "the flood did not complete within " << limit;
  absl::MutexLock lock(&state->mu);
  return state->outcomes;
}

// Makes one normal call every 50 ms on a fresh connection until stopped; remembers the
// slowest answer and any failure.
class Prober {
 public:
  explicit Prober(std::function<grpc::Status(grpc::Channel*)> call, const std::string& address)
      : call_(std::move(call)), channel_(OwnConnection(address, 1000)) {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        absl::Time start = absl::Now();
        grpc::Status status = call_(channel_.get());
        absl::Duration took = absl::Now() - start;
        {
          absl::MutexLock lock(&mu_);
          slowest_ = std::max(slowest_, took);
          ++calls_;
          if (!status.ok()) failures_.push_back(status.error_message());
        }
        absl::SleepFor(absl::Milliseconds(50));
      }
    });
  }
  ~Prober() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  absl::Duration slowest() {
    absl::MutexLock lock(&mu_);
    return slowest_;
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<std::string> failures() {
    absl::MutexLock lock(&mu_);
    return failures_;
  }

 private:
  std::function<grpc::Status(grpc::Channel*)> call_;
  std::shared_ptr<grpc::Channel> channel_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  absl::Duration slowest_;
  int calls_ = 0;
  std::vector<std::string> failures_;
  std::thread thread_;
};

grpc::Status GetCouncil(grpc::Channel* channel) {
  auto stub = registry::v1::RegistryService::NewStub(
      std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  registry::v1::GetCouncilRequest request;
  request.set_name("councils/special-purpose-ships");
  registry::v1::Council council;
  return stub->GetCouncil(&context, request, &council);
}

// Counts outcomes by code, and checks every failure is a refusal a client can retry.
std::map<grpc::StatusCode, int> Tally(const std::vector<Outcome>& outcomes) {
  std::map<grpc::StatusCode, int> by_code;
  for (const Outcome& o : outcomes) {
    ++by_code[o.code];
    if (o.code != grpc::StatusCode::OK) {
      EXPECT_TRUE(o.code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                  o.code == grpc::StatusCode::UNAVAILABLE)
          << "code " << o.code << ": " << o.message;
    }
  }
  return by_code;
}

std::string Describe(const std::map<grpc::StatusCode, int>& by_code) {
  std::string out;
  for (const auto& [code, n] : by_code) absl::StrAppend(&out, " code", code, "=", n);
  return out;
}

class OverloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.Start()) << redis_.Log();
    registry_ = std::make_unique<ServerProcess>(
        SANHAK_REGISTRY_BINARY,
        std::vector<std::string>{
            "--db=" + dir_.File("registry.db"),
            "--import=" + sanhak::testing::SourceDir() + "/data/registry.textproto",
            "--redis=" + redis_.address()},
        dir_.File("registry.log"));
    ASSERT_TRUE(registry_->Start());
    ASSERT_TRUE(registry_->WaitServing()) << registry_->Log();
  }

  // Events admits few writes at once here, so the flood is sure to meet the bound.
  void StartEvents() {
    events_ = std::make_unique<ServerProcess>(
        SANHAK_EVENTS_BINARY,
        std::vector<std::string>{"--db=" + dir_.File("events.db"),
                                 "--registry=" + registry_->address(),
                                 "--redis=" + redis_.address(), "--import=",
                                 "--max_writes_in_flight=200"},
        dir_.File("events.log"));
    ASSERT_TRUE(events_->Start());
    ASSERT_TRUE(events_->WaitServing()) << events_->Log();
  }

  void ExpectAliveAndInBudget(ServerProcess& process, const std::string& what) {
    EXPECT_EQ(process.WaitExit(std::chrono::milliseconds(0)), -1)
        << what << " died under load: " << process.Log();
    int64_t rss = ResidentBytes(process.pid());
    EXPECT_GT(rss, 0);
    EXPECT_LT(rss, kMemoryBudgetBytes) << what << " holds " << rss << " bytes";
    std::cout << what << " RSS after the attack: " << rss / (1 << 20) << " MiB\n";
  }

  TempDir dir_;
  RedisServer redis_;
  std::unique_ptr<ServerProcess> registry_;
  std::unique_ptr<ServerProcess> events_;
};

TEST_F(OverloadTest, EventsWritesFromEightConnections) {
  StartEvents();
  Prober prober(GetCouncil, registry_->address());
  Prober events_prober(
      [](grpc::Channel* channel) {
        auto stub = events::v1::EventsService::NewStub(
            std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        events::v1::ListActivitiesRequest request;
        request.set_page_size(5);
        events::v1::ListActivitiesResponse response;
        return stub->ListActivities(&context, request, &response);
      },
      events_->address());
  const int total = kConnections * kInFlightPerConnection * 3;
  std::vector<Outcome> outcomes = Flood(
      events_->address(), kConnections, kInFlightPerConnection, total,
      [](grpc::Channel* channel, int index, std::function<void(Outcome)> done) {
        struct Call {
          grpc::ClientContext context;
          events::v1::CreateActivityRequest request;
          events::v1::Activity response;
        };
        auto* call = new Call;
        call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        events::v1::Activity* activity = call->request.mutable_activity();
        activity->set_kind(events::v1::SEMINAR);
        activity->set_title("조선 기술 세미나");
        activity->add_councils("councils/special-purpose-ships");
        auto stub = events::v1::EventsService::NewStub(
            std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
        stub->async()->CreateActivity(&call->context, &call->request, &call->response,
                                      [call, done](grpc::Status status) {
                                        Outcome o{status.error_code(), status.error_message(),
                                                  call->response.name()};
                                        delete call;
                                        done(std::move(o));
                                      });
      });
  prober.Stop();
  events_prober.Stop();
  ASSERT_EQ(outcomes.size(), static_cast<size_t>(total));
  std::map<grpc::StatusCode, int> by_code = Tally(outcomes);
  std::cout << "CreateActivity x" << total << ":" << Describe(by_code) << "\n";
  EXPECT_GT(by_code[grpc::StatusCode::OK], 0);
  // The bound was met: some calls were refused, quickly, rather than queued.
  EXPECT_GT(by_code[grpc::StatusCode::RESOURCE_EXHAUSTED], 0);
  ExpectAliveAndInBudget(*events_, "events");
  ExpectAliveAndInBudget(*registry_, "registry");
  EXPECT_LT(prober.slowest(), kNormalCallLimit) << "GetCouncil during the attack";
  EXPECT_LT(events_prober.slowest(), kNormalCallLimit) << "ListActivities during the attack";
  EXPECT_TRUE(prober.failures().empty()) << prober.failures().front();
  EXPECT_TRUE(events_prober.failures().empty()) << events_prober.failures().front();

  // Every acknowledged write is there.
  auto stub = events::v1::EventsService::NewStub(sanhak::testing::Connect(events_->address()));
  int checked = 0;
  for (const Outcome& o : outcomes) {
    if (o.code != grpc::StatusCode::OK) continue;
    grpc::ClientContext context;
    events::v1::GetActivityRequest request;
    request.set_name(o.name);
    events::v1::Activity activity;
    grpc::Status status = stub->GetActivity(&context, request, &activity);
    EXPECT_TRUE(status.ok()) << o.name << ": " << status.error_message();
    ++checked;
  }
  EXPECT_EQ(checked, by_code[grpc::StatusCode::OK]);
}

TEST_F(OverloadTest, RegistryWritesFromEightConnections) {
  Prober prober(GetCouncil, registry_->address());
  const int total = kConnections * kInFlightPerConnection * 3;
  std::vector<Outcome> outcomes = Flood(
      registry_->address(), kConnections, kInFlightPerConnection, total,
      [](grpc::Channel* channel, int index, std::function<void(Outcome)> done) {
        struct Call {
          grpc::ClientContext context;
          registry::v1::CreateOrganizationRequest request;
          registry::v1::Organization response;
        };
        auto* call = new Call;
        call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        call->request.set_organization_id(absl::StrCat("load-", index));
        registry::v1::Organization* org = call->request.mutable_organization();
        org->set_display_name(absl::StrCat("부하 시험 기관 ", index));
        org->set_kind(registry::v1::COMPANY);
        auto stub = registry::v1::RegistryService::NewStub(
            std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
        stub->async()->CreateOrganization(&call->context, &call->request, &call->response,
                                          [call, done](grpc::Status status) {
                                            Outcome o{status.error_code(),
                                                      status.error_message(),
                                                      call->response.name()};
                                            delete call;
                                            done(std::move(o));
                                          });
      });
  prober.Stop();
  ASSERT_EQ(outcomes.size(), static_cast<size_t>(total));
  std::map<grpc::StatusCode, int> by_code = Tally(outcomes);
  std::cout << "CreateOrganization x" << total << ":" << Describe(by_code) << "\n";
  EXPECT_GT(by_code[grpc::StatusCode::OK], 0);
  ExpectAliveAndInBudget(*registry_, "registry");
  EXPECT_LT(prober.slowest(), kNormalCallLimit) << "GetCouncil during the attack";
  EXPECT_TRUE(prober.failures().empty()) << prober.failures().front();

  auto stub =
      registry::v1::RegistryService::NewStub(sanhak::testing::Connect(registry_->address()));
  for (const Outcome& o : outcomes) {
    if (o.code != grpc::StatusCode::OK) continue;
    grpc::ClientContext context;
    registry::v1::GetOrganizationRequest request;
    request.set_name(o.name);
    registry::v1::Organization org;
    grpc::Status status = stub->GetOrganization(&context, request, &org);
    EXPECT_TRUE(status.ok()) << o.name << ": " << status.error_message();
  }
}

TEST_F(OverloadTest, AnalyticsReadsAndWatchOpensFromEightConnections) {
  StartEvents();
  ServerProcess analytics(SANHAK_ANALYTICS_BINARY,
                          {"--registry=" + registry_->address(),
                           "--events=" + events_->address(), "--redis=" + redis_.address()},
                          dir_.File("analytics.log"));
  ASSERT_TRUE(analytics.Start());
  ASSERT_TRUE(analytics.WaitServing()) << analytics.Log();
  auto get_aggregates = [](grpc::Channel* channel) {
    auto stub = analytics::v1::AnalyticsService::NewStub(
        std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    analytics::v1::GetAggregatesRequest request;
    analytics::v1::Aggregates response;
    return stub->GetAggregates(&context, request, &response);
  };
  Prober prober(get_aggregates, analytics.address());
  const int total = kConnections * kInFlightPerConnection * 3;
  std::vector<Outcome> reads = Flood(
      analytics.address(), kConnections, kInFlightPerConnection, total,
      [](grpc::Channel* channel, int, std::function<void(Outcome)> done) {
        struct Call {
          grpc::ClientContext context;
          analytics::v1::GetAggregatesRequest request;
          analytics::v1::Aggregates response;
        };
        auto* call = new Call;
        call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        auto stub = analytics::v1::AnalyticsService::NewStub(
            std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
        stub->async()->GetAggregates(&call->context, &call->request, &call->response,
                                     [call, done](grpc::Status status) {
                                       Outcome o{status.error_code(), status.error_message(), ""};
                                       delete call;
                                       done(std::move(o));
                                     });
      });
  std::map<grpc::StatusCode, int> read_codes = Tally(reads);
  std::cout << "GetAggregates x" << total << ":" << Describe(read_codes) << "\n";
  EXPECT_GT(read_codes[grpc::StatusCode::OK], 0);

  // Watch opens: each opens a stream, reads its snapshot, and cancels.
  class OneWatch : public grpc::ClientReadReactor<analytics::v1::AggregatesEvent> {
   public:
    OneWatch(grpc::Channel* channel, std::function<void(Outcome)> done) : done_(std::move(done)) {
      context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      auto stub = analytics::v1::AnalyticsService::NewStub(
          std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
      stub->async()->WatchAggregates(&context_, &request_, this);
      StartRead(&event_);
      StartCall();
    }
    void OnReadDone(bool ok) override {
      if (ok) context_.TryCancel();
    }
    void OnDone(const grpc::Status& status) override {
      // Cancelled after the first event is how a successful open ends here.
      Outcome o{status.error_code() == grpc::StatusCode::CANCELLED ? grpc::StatusCode::OK
                                                                    : status.error_code(),
                status.error_message(), ""};
      auto done = std::move(done_);
      delete this;
      done(std::move(o));
    }

   private:
    grpc::ClientContext context_;
    analytics::v1::WatchAggregatesRequest request_;
    analytics::v1::AggregatesEvent event_;
    std::function<void(Outcome)> done_;
  };
  std::vector<Outcome> watches =
      Flood(analytics.address(), kConnections, kInFlightPerConnection, total,
            [](grpc::Channel* channel, int, std::function<void(Outcome)> done) {
              new OneWatch(channel, std::move(done));
            });
  prober.Stop();
  std::map<grpc::StatusCode, int> watch_codes = Tally(watches);
  std::cout << "WatchAggregates opens x" << total << ":" << Describe(watch_codes) << "\n";
  EXPECT_GT(watch_codes[grpc::StatusCode::OK], 0);
  ExpectAliveAndInBudget(analytics, "analytics");
  EXPECT_LT(prober.slowest(), kNormalCallLimit) << "GetAggregates during the attack";
  EXPECT_TRUE(prober.failures().empty()) << prober.failures().front();
}

}  // namespace
}  // namespace sanhak
