// The analytics service as its clients meet it: a real redis-server (tests/support) with
// the suite's ACL users, each service signed in as its own (least privilege, as deployed), the
// registry and events services in process (seeded from data/, each on its own SQLite file
// in a temp dir, each relaying its change feed to that Redis), and one or more analytics
// servers in process on the same Redis, all over real gRPC on loopback ports the kernel
// picks. WatchClient reads a WatchAggregates stream on gRPC's callback client API, so a
// test can hold hundreds of them without a thread each.
#ifndef SANHAK_TESTS_ANALYTICS_ANALYTICS_FIXTURE_H_
#define SANHAK_TESTS_ANALYTICS_ANALYTICS_FIXTURE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "services/analytics/analytics_server.h"
#include "services/events/events_server.h"
#include "services/registry/registry_server.h"
#include "tests/support/redis_server.h"
#include "tests/support/await.h"
#include "tests/support/test_support.h"

namespace sanhak::analytics {

using ::sanhak::testing::WaitUntil;

// One WatchAggregates stream: every event received, and how it ended.
class WatchClient : public grpc::ClientReadReactor<v1::AggregatesEvent> {
 public:
  // `stall_after` > 0: stops reading after that many events, until ResumeReading().
  // `batches`: asks for AggregatesEvent.updates (accept_update_batches).
  WatchClient(v1::AnalyticsService::Stub* stub, const std::string& resume_token,
              absl::Duration deadline = absl::Seconds(120), size_t stall_after = 0,
              bool batches = false)
      : stall_after_(stall_after) {
    request_.set_resume_token(resume_token);
    request_.set_accept_update_batches(batches);
    context_.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    stub->async()->WatchAggregates(&context_, &request_, this);
    StartRead(&incoming_);
    StartCall();
  }
  // Cancels the call and waits for gRPC to let go of this object.
  ~WatchClient() override {
    ResumeReading();  // a stalled stream holds OnDone back until it reads again
    context_.TryCancel();
    EXPECT_TRUE(WaitDone(absl::Seconds(30))) << "the watch did not end after cancellation";
  }
  WatchClient(const WatchClient&) = delete;
  WatchClient& operator=(const WatchClient&) = delete;

  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone follows
    {
      absl::MutexLock lock(&mu_);
      events_.push_back(incoming_);
      if (stall_after_ > 0 && events_.size() >= stall_after_) {
        stalled_ = true;
        // With no read outstanding the call may otherwise end (the server closing a
        // watcher that fell behind) and free the stream before ResumeReading reads
        // again; the hold keeps it until then. Added inside a reaction, so OnDone
        // cannot have run.
        AddHold();
        return;
      }
    }
    StartRead(&incoming_);
  }

  // Reads on after a stall.
  void ResumeReading() {
    {
      absl::MutexLock lock(&mu_);
      stall_after_ = 0;
      if (!stalled_) return;
      stalled_ = false;
    }
    StartRead(&incoming_);
    RemoveHold();
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  // Waits until `enough(events so far)` holds or the stream ended; returns whether it
  // holds.
  bool WaitFor(const std::function<bool(const std::vector<v1::AggregatesEvent>&)>& enough,
               absl::Duration limit = absl::Seconds(20)) {
    absl::MutexLock lock(&mu_);
    auto ready = [&] { return done_ || enough(events_); };
    mu_.AwaitWithTimeout(absl::Condition(&ready), limit);
    return enough(events_);
  }
  // At least `n` updates (snapshots and heartbeats not counted).
  bool WaitForUpdates(size_t n, absl::Duration limit = absl::Seconds(20)) {
    return WaitFor([n](const auto& events) { return UpdatesIn(events).size() >= n; }, limit);
  }
  bool WaitForSnapshot(absl::Duration limit = absl::Seconds(20)) {
    return WaitFor([](const auto& events) { return !events.empty(); }, limit) &&
           events().front().has_snapshot();
  }
  // Waits for the stream to end.
  bool WaitDone(absl::Duration limit = absl::Seconds(20)) {
    absl::MutexLock lock(&mu_);
    auto ready = [&] { return done_; };
    return mu_.AwaitWithTimeout(absl::Condition(&ready), limit);
  }

  std::vector<v1::AggregatesEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::vector<v1::AggregatesUpdate> updates() { return UpdatesIn(events()); }
  // The token of the last message received; empty when none.
  std::string last_token() {
    absl::MutexLock lock(&mu_);
    return events_.empty() ? "" : events_.back().resume_token();
  }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  std::optional<grpc::Status> status() {
    absl::MutexLock lock(&mu_);
    if (!done_) return std::nullopt;
    return status_;
  }

  // Every update, those of batches included, in order.
  static std::vector<v1::AggregatesUpdate> UpdatesIn(
      const std::vector<v1::AggregatesEvent>& events) {
    std::vector<v1::AggregatesUpdate> out;
    for (const auto& e : events) {
      if (e.has_update()) out.push_back(e.update());
      for (const auto& u : e.updates().updates()) out.push_back(u);
    }
    return out;
  }

 private:
  grpc::ClientContext context_;
  v1::WatchAggregatesRequest request_;
  v1::AggregatesEvent incoming_;
  absl::Mutex mu_;
  std::vector<v1::AggregatesEvent> events_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  size_t stall_after_ ABSL_GUARDED_BY(mu_) = 0;
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

class AnalyticsFixture : public ::testing::Test {
 protected:
  static constexpr char kCouncil[] = "councils/special-purpose-ships";

  static std::string RegistrySeedPath() {
    return sanhak::testing::SourceDir() + "/data/registry.textproto";
  }
  static std::string EventsSeedPath() {
    return sanhak::testing::SourceDir() + "/data/events.textproto";
  }

  // `service`'s Redis user, with the password the fixture's Redis gave it.
  redis::Credentials RedisCredentials(const std::string& service) const {
    return {service, redis_.Password(service)};
  }

  void SetUp() override {
    ASSERT_TRUE(redis_.Start()) << redis_.Log();
    registry::RegistryConfig rc;
    rc.server.listen_address = "127.0.0.1:0";
    rc.server.log_calls = false;
    rc.server.drain_deadline = absl::Seconds(2);
    sanhak::testing::UseTestDatabase(dir_, rc, "registry.db");
    rc.import_path = RegistrySeedPath();
    rc.redis_address = redis_.address();
    rc.redis_credentials = RedisCredentials("registry");
    auto registry = registry::RegistryServer::Start(rc);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);

    events::EventsConfig ec;
    ec.server.listen_address = "127.0.0.1:0";
    ec.server.log_calls = false;
    ec.server.drain_deadline = absl::Seconds(2);
    sanhak::testing::UseTestDatabase(dir_, ec, "events.db");
    ec.registry_address = registry_->address();
    ec.import_path = EventsSeedPath();
    ec.redis_address = redis_.address();
    ec.redis_credentials = RedisCredentials("events");
    auto events = events::EventsServer::Start(ec);
    ASSERT_TRUE(events.ok()) << events.status();
    events_ = *std::move(events);
    events_stub_ = events::v1::EventsService::NewStub(sanhak::testing::Connect(events_->address()));
  }

  void TearDown() override {
    for (auto& server : analytics_) {
      if (server != nullptr) server->Shutdown();
    }
    analytics_.clear();
    if (events_ != nullptr) events_->Shutdown();
    if (registry_ != nullptr) registry_->Shutdown();
  }

  // Starts an analytics server on the fixture's Redis and services; `tweak` may change
  // its configuration. The fixture owns it (Shutdown() may be called early).
  AnalyticsServer* StartAnalytics(const std::function<void(AnalyticsConfig&)>& tweak = {}) {
    AnalyticsConfig config;
    config.server.listen_address = "127.0.0.1:0";
    config.server.log_calls = false;
    config.server.drain_deadline = absl::Seconds(2);
    config.registry_address = registry_->address();
    config.events_address = events_->address();
    config.engine.redis_address = redis_.address();
    config.engine.redis_credentials = RedisCredentials("analytics");
    config.engine.replica_id = "replica-" + std::to_string(analytics_.size());
    if (tweak) tweak(config);
    auto server = AnalyticsServer::Start(config);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    analytics_.push_back(*std::move(server));
    AnalyticsServer* started = analytics_.back().get();
    // Ready once the engine has loaded the state from Redis and follows the updates.
    // Until then a watch is refused with UNAVAILABLE (see the report) and a unary read
    // answers from a rebuild of its own.
    EXPECT_TRUE(WaitUntil([&] { return started->analytics().stats().redis_reachable; }))
        << "analytics did not load its state from Redis";
    return started;
  }

  static std::unique_ptr<v1::AnalyticsService::Stub> StubFor(AnalyticsServer* server) {
    return v1::AnalyticsService::NewStub(sanhak::testing::Connect(server->address()));
  }
  // A stub on a channel without BDP probing, which keeps the HTTP/2 window small (16 KiB):
  // the server's writes stall soon after the client stops reading.
  static std::unique_ptr<v1::AnalyticsService::Stub> SmallWindowStubFor(AnalyticsServer* server) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024);
    return v1::AnalyticsService::NewStub(grpc::CreateCustomChannel(
        server->address(), grpc::InsecureChannelCredentials(), args));
  }

  static grpc::Status GetAggregates(v1::AnalyticsService::Stub* stub, v1::Aggregates* out,
                                    const std::vector<std::string>& metrics = {}) {
    v1::GetAggregatesRequest request;
    for (const auto& m : metrics) request.add_metrics(m);
    return stub->GetAggregates(sanhak::testing::Context().get(), request, out);
  }

  // The aggregates, failing the test when the call fails.
  static v1::Aggregates MustGetAggregates(v1::AnalyticsService::Stub* stub) {
    v1::Aggregates out;
    grpc::Status status = GetAggregates(stub, &out);
    EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    return out;
  }

  // Until `server` follows the leader's updates up to the newest one in Redis: a replica
  // that fell further behind than the kept updates reloads first, refusing watches
  // meanwhile (UNAVAILABLE, reason RELOADING).
  bool WaitFollowing(AnalyticsServer* server, absl::Duration limit = absl::Seconds(20)) {
    return WaitUntil(
        [&] {
          auto useq = redis_.Command({"GET", "sanhak:analytics:useq"});
          if (!useq || useq->type != sanhak::testing::RedisReply::Type::kString) return false;
          const Analytics::Stats stats = server->analytics().stats();
          return stats.following && absl::StrCat(stats.useq) == useq->str;
        },
        limit);
  }

  // Waits until the service reports `n` activities; returns whether it did.
  static bool WaitForActivities(v1::AnalyticsService::Stub* stub, int64_t n,
                                absl::Duration limit = absl::Seconds(20)) {
    return WaitUntil(
        [&] {
          v1::Aggregates a;
          return GetAggregates(stub, &a, {"activities"}).ok() && a.activities() == n;
        },
        limit);
  }

  // Activities as the events service holds them.
  int64_t TrueActivityCount() {
    events::v1::ListActivitiesRequest request;
    request.set_page_size(1);
    events::v1::ListActivitiesResponse response;
    grpc::Status status =
        events_stub_->ListActivities(sanhak::testing::Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.total_size();
  }

  // Creates a one-council technology exchange through the events API; returns its name.
  std::string CreateActivity(const std::string& id) {
    events::v1::CreateActivityRequest request;
    events::v1::Activity* a = request.mutable_activity();
    a->set_kind(events::v1::TECHNOLOGY_EXCHANGE);
    a->set_title("기술교류회 " + id);
    a->add_councils(kCouncil);
    request.set_activity_id(id);
    events::v1::Activity out;
    grpc::Status status =
        events_stub_->CreateActivity(sanhak::testing::Context().get(), request, &out);
    EXPECT_TRUE(status.ok()) << id << ": " << status.error_message();
    return out.name();
  }

  void DeleteActivity(const std::string& name) {
    events::v1::DeleteActivityRequest request;
    request.set_name(name);
    google::protobuf::Empty out;
    grpc::Status status =
        events_stub_->DeleteActivity(sanhak::testing::Context().get(), request, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
  }

  // Until both services have relayed every change record they committed (an empty stream
  // may only mean the relay has not started yet: on PostgreSQL it first takes the relay
  // lease) and the analytics consumer group has taken and acknowledged each of them.
  bool WaitChangesApplied(absl::Duration limit = absl::Seconds(20)) {
    return WaitUntil(
        [&] {
          for (store::ResourceStore* store : {&registry_->store(), &events_->store()}) {
            absl::StatusOr<int64_t> backlog = store->OutboxBacklog();
            if (!backlog.ok() || *backlog != 0) return false;
          }
          for (const std::string service : {"registry", "events"}) {
            const std::string key = "sanhak:changes:" + service;
            auto last = redis_.Command({"XREVRANGE", key, "+", "-", "COUNT", "1"});
            if (!last || last->type != sanhak::testing::RedisReply::Type::kArray) return false;
            if (last->elements.empty()) continue;
            const std::string last_id = last->elements[0].elements[0].str;
            auto groups = redis_.Command({"XINFO", "GROUPS", key});
            if (!groups || groups->type != sanhak::testing::RedisReply::Type::kArray) {
              return false;
            }
            bool caught_up = false;
            for (const auto& group : groups->elements) {
              std::string name, delivered;
              int64_t pending = -1;
              for (size_t i = 0; i + 1 < group.elements.size(); i += 2) {
                const std::string& field = group.elements[i].str;
                if (field == "name") name = group.elements[i + 1].str;
                if (field == "last-delivered-id") delivered = group.elements[i + 1].str;
                if (field == "pending") pending = group.elements[i + 1].integer;
              }
              caught_up |= name == "analytics" && delivered == last_id && pending == 0;
            }
            if (!caught_up) return false;
          }
          return true;
        },
        limit);
  }

  sanhak::testing::TempDir dir_;
  sanhak::testing::RedisServer redis_{sanhak::testing::RedisUsers::kSuite};
  std::unique_ptr<registry::RegistryServer> registry_;
  std::unique_ptr<events::EventsServer> events_;
  std::unique_ptr<events::v1::EventsService::Stub> events_stub_;
  std::vector<std::unique_ptr<AnalyticsServer>> analytics_;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_TESTS_ANALYTICS_ANALYTICS_FIXTURE_H_
