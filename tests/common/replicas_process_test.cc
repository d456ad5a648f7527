// Several replicas on one PostgreSQL, as a cluster runs them: a real postgres (its own, so
// it can be crashed and restarted), a redis-server, three registry processes and three
// events processes, each replica its own process sharing its service's database and page
// token key. Clients write through every replica at once, retrying a failed create on
// another replica with the same request_id, as a client behind a load balancer would.
//
// What must hold: kill -9 of a replica mid-burst (the relay's lease holder) loses no
// acknowledged write and no change record, and the stream stays ordered and gap-free;
// PostgreSQL crashed mid-burst makes writes fail UNAVAILABLE, and after it returns they
// succeed, nothing lost or duplicated; two replicas updating with one etag: exactly one
// wins, the other gets ABORTED; a create retried on another replica returns the first
// result; a page token from one replica continues on another.
//
// This binary links no server code: it talks to the processes over gRPC and Redis only.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sanhak/changes/v1/changes.pb.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "tests/support/activity_writers.h"
#include "tests/support/await.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_server.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace sanhak {
namespace {

using ::sanhak::testing::ActivityWriters;
using ::sanhak::testing::Context;
using ::sanhak::testing::PostgresServer;
using ::sanhak::testing::RedisReply;
using ::sanhak::testing::ServerProcess;
using ::sanhak::testing::StreamEntry;
using ::sanhak::testing::WaitUntil;

constexpr int kReplicas = 3;
constexpr char kEventsStream[] = "sanhak:changes:events";
constexpr char kCouncil[] = "councils/display";
// Three replicas and PostgreSQL under a sanitizer on 2 cores take their time.
constexpr absl::Duration kWait = absl::Seconds(60);

std::string EntryId(int64_t sequence) { return absl::StrCat(sequence, "-0"); }

class ReplicasProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(postgres_.Start()) << postgres_.Log();
    ASSERT_TRUE(redis_.Start()) << redis_.Log();
    absl::StatusOr<std::string> registry_db = postgres_.CreateDatabase("registry");
    ASSERT_TRUE(registry_db.ok()) << registry_db.status();
    absl::StatusOr<std::string> events_db = postgres_.CreateDatabase("events");
    ASSERT_TRUE(events_db.ok()) << events_db.status();
    // All replicas start at once, each importing the seed: the import is idempotent and
    // the store serializes writes across replicas.
    for (int i = 0; i < kReplicas; ++i) {
      registry_.push_back(std::make_unique<ServerProcess>(
          SANHAK_REGISTRY_BINARY,
          std::vector<std::string>{
              "--db=" + *registry_db, "--page_token_key=" + dir_.File("registry.key"),
              "--import=" + sanhak::testing::SourceDir() + "/data/registry.textproto",
              "--redis=" + redis_.address()},
          dir_.File(absl::StrCat("registry", i, ".log"))));
      ASSERT_TRUE(registry_.back()->Start());
    }
    for (auto& r : registry_) ASSERT_TRUE(r->WaitServing()) << r->Log();
    for (int i = 0; i < kReplicas; ++i) {
      events_.push_back(std::make_unique<ServerProcess>(
          SANHAK_EVENTS_BINARY,
          std::vector<std::string>{"--db=" + *events_db,
                                   "--page_token_key=" + dir_.File("events.key"),
                                   "--registry=" + registry_[i]->address(),
                                   "--redis=" + redis_.address(), "--import="},
          dir_.File(absl::StrCat("events", i, ".log"))));
      ASSERT_TRUE(events_.back()->Start());
    }
    for (auto& e : events_) ASSERT_TRUE(e->WaitServing()) << e->Log();
  }

  // Clients creating activities through every replica: a create that fails is sent
  // again, with the same request_id, to the next replica until it succeeds.
  ActivityWriters::Options WritersOptions() {
    ActivityWriters::Options options;
    options.addresses = EventsAddresses();
    options.threads = 6;
    options.council = kCouncil;
    options.title_prefix = "복제본 세미나 ";
    options.request_id_prefix = "replicas-";
    options.deadline_s = 5;
    return options;
  }

  std::vector<std::string> EventsAddresses() {
    std::vector<std::string> out;
    for (auto& e : events_) out.push_back(e->address());
    return out;
  }

  // Every activity the events service holds (through `address`), name -> title.
  std::map<std::string, std::string> AllActivities(const std::string& address) {
    auto stub = events::v1::EventsService::NewStub(sanhak::testing::Connect(address));
    std::map<std::string, std::string> out;
    events::v1::ListActivitiesRequest request;
    request.set_page_size(100);
    while (true) {
      events::v1::ListActivitiesResponse response;
      grpc::Status status = stub->ListActivities(Context().get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      for (const auto& a : response.activities()) out[a.name()] = a.title();
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return out;
  }

  std::string LastId() {
    std::optional<RedisReply> reply =
        redis_.Command({"XREVRANGE", kEventsStream, "+", "-", "COUNT", "1"});
    if (!reply.has_value() || reply->elements.empty()) return "";
    return reply->elements[0].elements[0].str;
  }

  // After a burst: every acknowledged create is stored under the name it was answered
  // with, no title twice (no create ran twice), and the stream holds exactly one CREATED
  // record per stored activity, sequences 1..n without a gap.
  void ExpectNothingLostOrDuplicated(const std::map<std::string, std::string>& acknowledged,
                                     const std::string& reader) {
    std::map<std::string, std::string> activities = AllActivities(reader);
    std::set<std::string> titles;
    for (const auto& [name, title] : activities) {
      EXPECT_TRUE(titles.insert(title).second) << title << " stored twice";
    }
    for (const auto& [request_id, name] : acknowledged) {
      EXPECT_EQ(activities.count(name), 1u) << "acknowledged " << name << " (" << request_id
                                            << ") is not stored";
    }
    const int64_t n = activities.size();
    ASSERT_TRUE(WaitUntil([&] { return LastId() == EntryId(n); }, kWait))
        << "the stream ends at " << LastId() << ", " << n << " activities stored";
    std::vector<StreamEntry> entries;
    ASSERT_TRUE(redis_.ReadStream(kEventsStream, &entries));
    ASSERT_EQ(static_cast<int64_t>(entries.size()), n);
    std::map<std::string, int> records_per_name;
    int64_t expected = 1;
    for (const StreamEntry& e : entries) {
      changes::v1::ChangeRecord record;
      ASSERT_TRUE(record.ParseFromString(e.record)) << e.id;
      ASSERT_EQ(record.sequence(), expected++) << "gap or disorder at " << e.id;
      ASSERT_EQ(e.id, EntryId(record.sequence()));
      EXPECT_EQ(record.kind(), changes::v1::CREATED);
      ++records_per_name[record.resource_name()];
    }
    for (const auto& [name, title] : activities) {
      EXPECT_EQ(records_per_name[name], 1) << name;
    }
  }

  sanhak::testing::TempDir dir_;
  PostgresServer postgres_;
  sanhak::testing::RedisServer redis_;
  std::vector<std::unique_ptr<ServerProcess>> registry_;
  std::vector<std::unique_ptr<ServerProcess>> events_;
};

TEST_F(ReplicasProcessTest, KillDashNineOfOneReplicaMidBurstLosesNothing) {
  std::map<std::string, std::string> acknowledged;
  {
    ActivityWriters writers(WritersOptions());
    ASSERT_TRUE(WaitUntil([&] { return writers.acknowledged_count() >= 150; }, kWait))
        << writers.acknowledged_count() << " acknowledged; " << events_[0]->Log();
    // Replica 0 started first, so it most likely holds the relay lease: the others
    // must take the relaying over.
    events_[0]->Kill();
    const size_t at_kill = writers.acknowledged_count();
    ASSERT_TRUE(
        WaitUntil([&] { return writers.acknowledged_count() >= at_kill + 150; }, kWait))
        << "writes stopped after the kill; " << events_[1]->Log();
    writers.Stop();
    writers.Join();
    EXPECT_EQ(writers.abandoned(), 0);
    acknowledged = writers.acknowledged();
    std::cout << acknowledged.size() << " creates acknowledged, " << at_kill
              << " before kill -9 of replica 0\n";
  }
  ExpectNothingLostOrDuplicated(acknowledged, events_[1]->address());
}

TEST_F(ReplicasProcessTest, PostgresCrashedMidBurstFailsUnavailableThenNothingIsLost) {
  std::map<std::string, std::string> acknowledged;
  std::map<grpc::StatusCode, int> failures;
  {
    ActivityWriters writers(WritersOptions());
    ASSERT_TRUE(WaitUntil([&] { return writers.acknowledged_count() >= 100; }, kWait))
        << writers.acknowledged_count() << " acknowledged; " << events_[0]->Log();
    postgres_.Kill();
    const size_t at_kill = writers.acknowledged_count();
    // Writes fail while it is down...
    ASSERT_TRUE(WaitUntil(
        [&] {
          auto f = writers.failures();
          return f[grpc::StatusCode::UNAVAILABLE] >= 30;
        },
        kWait))
        << "no UNAVAILABLE while PostgreSQL is down";
    EXPECT_LE(writers.acknowledged_count(), at_kill + 6) << "writes acknowledged with no database";
    ASSERT_TRUE(postgres_.Restart()) << postgres_.Log();
    // ...and succeed once it is back.
    ASSERT_TRUE(
        WaitUntil([&] { return writers.acknowledged_count() >= at_kill + 100; }, kWait))
        << "writes did not resume; " << events_[0]->Log();
    writers.Stop();
    writers.Join();
    EXPECT_EQ(writers.abandoned(), 0);
    acknowledged = writers.acknowledged();
    failures = writers.failures();
  }
  // A caller's retry is all an outage asks for: it is told UNAVAILABLE, never INTERNAL
  // or UNKNOWN (DEADLINE_EXCEEDED only for a call cut at the moment of the crash).
  for (const auto& [code, count] : failures) {
    EXPECT_TRUE(code == grpc::StatusCode::UNAVAILABLE ||
                code == grpc::StatusCode::DEADLINE_EXCEEDED)
        << count << " failures with code " << code;
  }
  ExpectNothingLostOrDuplicated(acknowledged, events_[2]->address());
}

TEST_F(ReplicasProcessTest, ConcurrentUpdatesWithOneEtagFromTwoReplicasExactlyOneWins) {
  auto a = registry::v1::RegistryService::NewStub(
      sanhak::testing::Connect(registry_[0]->address()));
  auto b = registry::v1::RegistryService::NewStub(
      sanhak::testing::Connect(registry_[1]->address()));
  for (int round = 0; round < 20; ++round) {
    registry::v1::GetCouncilRequest get;
    get.set_name(kCouncil);
    registry::v1::Council council;
    ASSERT_TRUE(a->GetCouncil(Context().get(), get, &council).ok());
    grpc::Status results[2];
    std::thread threads[2];
    for (int i = 0; i < 2; ++i) {
      threads[i] = std::thread([&, i] {
        registry::v1::UpdateCouncilRequest update;
        *update.mutable_council() = council;
        update.mutable_council()->set_description(absl::StrCat("round ", round, " by ", i));
        update.mutable_update_mask()->add_paths("description");
        registry::v1::Council updated;
        results[i] = (i == 0 ? a : b)->UpdateCouncil(Context().get(), update, &updated);
      });
    }
    for (auto& t : threads) t.join();
    const int wins = results[0].ok() + results[1].ok();
    ASSERT_EQ(wins, 1) << "round " << round << ": " << results[0].error_message() << " / "
                       << results[1].error_message();
    const grpc::Status& lost = results[0].ok() ? results[1] : results[0];
    EXPECT_EQ(lost.error_code(), grpc::StatusCode::ABORTED) << lost.error_message();
    // What the winner wrote is what every replica reads.
    registry::v1::Council after_a, after_b;
    ASSERT_TRUE(a->GetCouncil(Context().get(), get, &after_a).ok());
    ASSERT_TRUE(b->GetCouncil(Context().get(), get, &after_b).ok());
    EXPECT_EQ(after_a.description(), absl::StrCat("round ", round, " by ",
                                                  results[0].ok() ? 0 : 1));
    EXPECT_EQ(after_a.etag(), after_b.etag());
    EXPECT_EQ(after_a.description(), after_b.description());
    // So do both replicas' list pages, each cached since the previous round's read until
    // a commit of either replica.
    for (auto* stub : {a.get(), b.get()}) {
      registry::v1::ListCouncilsRequest list;
      list.set_page_size(100);
      registry::v1::ListCouncilsResponse page;
      ASSERT_TRUE(stub->ListCouncils(Context().get(), list, &page).ok());
      auto it = std::find_if(page.councils().begin(), page.councils().end(),
                             [](const registry::v1::Council& c) { return c.name() == kCouncil; });
      ASSERT_NE(it, page.councils().end());
      EXPECT_EQ(it->description(), after_a.description()) << "round " << round;
      EXPECT_EQ(it->etag(), after_a.etag());
    }
  }
}

TEST_F(ReplicasProcessTest, ACreateRetriedOnAnotherReplicaReturnsTheFirstResult) {
  events::v1::CreateActivityRequest request;
  request.set_request_id("retried-on-another-replica");
  request.mutable_activity()->set_kind(events::v1::FORUM);
  request.mutable_activity()->set_title("재시도 포럼");
  request.mutable_activity()->add_councils(kCouncil);
  std::vector<events::v1::Activity> answers(kReplicas);
  for (int i = 0; i < kReplicas; ++i) {
    auto stub =
        events::v1::EventsService::NewStub(sanhak::testing::Connect(events_[i]->address()));
    grpc::Status status = stub->CreateActivity(Context().get(), request, &answers[i]);
    ASSERT_TRUE(status.ok()) << i << ": " << status.error_message();
  }
  for (int i = 1; i < kReplicas; ++i) {
    EXPECT_EQ(answers[i].name(), answers[0].name());
    EXPECT_EQ(answers[i].etag(), answers[0].etag());
  }
  EXPECT_EQ(AllActivities(events_[2]->address()).size(), 1u);
}

TEST_F(ReplicasProcessTest, APageTokenFromOneReplicaContinuesOnAnother) {
  std::vector<std::string> names;
  registry::v1::ListCouncilsRequest request;
  request.set_page_size(4);
  for (int page = 0; page < 20; ++page) {
    auto stub = registry::v1::RegistryService::NewStub(
        sanhak::testing::Connect(registry_[page % kReplicas]->address()));
    registry::v1::ListCouncilsResponse response;
    grpc::Status status = stub->ListCouncils(Context().get(), request, &response);
    ASSERT_TRUE(status.ok()) << "page " << page << ": " << status.error_message();
    for (const auto& c : response.councils()) names.push_back(c.name());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(names.size(), 25u);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), 25u);
}

}  // namespace
}  // namespace sanhak
