// The change feed end to end, with the binaries as operators run them: a redis-server,
// the registry (seeded, relaying its own feed) and the events service, each its own
// process. Clients create activities as fast as they are acknowledged while the events
// process is killed with SIGKILL, or while Redis dies and comes back empty; afterwards
// every acknowledged activity is stored and the stream `sanhak:changes:events` holds
// exactly one CREATED record for each, in sequence order without gaps.
//
// This binary links no server code: it talks to the processes over gRPC and Redis only.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "sanhak/changes/v1/changes.pb.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "tests/support/activity_writers.h"
#include "tests/support/await.h"
#include "tests/support/redis_server.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace sanhak::events {
namespace {

using ::sanhak::testing::ActivityWriters;
using ::sanhak::testing::Context;
using ::sanhak::testing::RedisReply;
using ::sanhak::testing::ServerProcess;
using ::sanhak::testing::StreamEntry;
using ::sanhak::testing::WaitUntil;

constexpr char kEventsStream[] = "sanhak:changes:events";

std::string EntryId(int64_t sequence) { return std::to_string(sequence) + "-0"; }

// Clients creating activities: each thread makes up to `per_thread` creates one after
// the other, or until stopped; a failed create is counted, not retried.
ActivityWriters::Options WritersOn(const std::string& address, int threads, int per_thread) {
  ActivityWriters::Options options;
  options.addresses = {address};
  options.threads = threads;
  options.per_thread = per_thread;
  options.council = "councils/display";
  options.title_prefix = "변경 피드 세미나 ";
  return options;
}

class ChangeFeedProcessTest : public ::testing::Test {
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

  std::unique_ptr<ServerProcess> StartEvents(const std::string& log) {
    auto events = std::make_unique<ServerProcess>(
        SANHAK_EVENTS_BINARY,
        std::vector<std::string>{"--db=" + dir_.File("events.db"),
                                 "--registry=" + registry_->address(),
                                 "--redis=" + redis_.address(), "--import="},
        log);
    EXPECT_TRUE(events->Start());
    return events;
  }

  // Every activity the events service holds, by paging through ListActivities.
  std::set<std::string> AllActivities(const std::string& address) {
    auto stub = v1::EventsService::NewStub(sanhak::testing::Connect(address));
    std::set<std::string> names;
    v1::ListActivitiesRequest request;
    request.set_page_size(100);
    while (true) {
      v1::ListActivitiesResponse response;
      grpc::Status status = stub->ListActivities(Context().get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      for (const auto& a : response.activities()) names.insert(a.name());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return names;
  }

  // The last entry id of the events stream, "" when empty or unreachable.
  std::string LastId() {
    std::optional<RedisReply> reply =
        redis_.Command({"XREVRANGE", kEventsStream, "+", "-", "COUNT", "1"});
    if (!reply.has_value() || reply->elements.empty()) return "";
    return reply->elements[0].elements[0].str;
  }

  sanhak::testing::TempDir dir_;
  sanhak::testing::RedisServer redis_;
  std::unique_ptr<ServerProcess> registry_;
};

// Checks `records` (the union of what the stream held, by sequence) against the
// activities: sequences 1..n, each a CREATED record of one activity, no activity twice,
// and exactly the activities the service holds.
void ExpectOneCreatedRecordPerActivity(const std::map<int64_t, changes::v1::ChangeRecord>& records,
                                       const std::set<std::string>& activities,
                                       const std::vector<std::string>& acknowledged) {
  ASSERT_EQ(records.size(), activities.size());
  int64_t expected = 1;
  std::map<std::string, int> per_name;
  for (const auto& [sequence, record] : records) {
    ASSERT_EQ(sequence, expected++) << "gap or disorder in the sequence";
    EXPECT_EQ(record.sequence(), sequence);
    EXPECT_EQ(record.id(), "events-" + std::to_string(sequence));
    EXPECT_EQ(record.service(), "events");
    EXPECT_EQ(record.collection(), "activities");
    EXPECT_EQ(record.kind(), changes::v1::CREATED) << record.resource_name();
    EXPECT_TRUE(record.state().Is<v1::Activity>()) << record.state().type_url();
    ++per_name[record.resource_name()];
  }
  for (const auto& [name, count] : per_name) {
    EXPECT_EQ(count, 1) << name << " has " << count << " records";
    EXPECT_EQ(activities.count(name), 1u) << name << " has a record but is not stored";
  }
  for (const std::string& name : acknowledged) {
    EXPECT_EQ(per_name.count(name), 1u) << "acknowledged " << name << " has no record";
  }
}

// Parses a stream's entries into `out` by sequence; an id seen before must hold the same
// record. The entries of one stream must be consecutive.
void Collect(const std::vector<StreamEntry>& entries,
             std::map<int64_t, changes::v1::ChangeRecord>* out,
             std::map<int64_t, std::string>* bytes) {
  int64_t previous = 0;
  for (const StreamEntry& e : entries) {
    changes::v1::ChangeRecord record;
    ASSERT_TRUE(record.ParseFromString(e.record)) << e.id;
    ASSERT_EQ(e.id, EntryId(record.sequence()));
    if (previous != 0) {
      ASSERT_EQ(record.sequence(), previous + 1) << "gap at " << e.id;
    }
    previous = record.sequence();
    auto [it, inserted] = bytes->emplace(record.sequence(), e.record);
    if (!inserted) {
      EXPECT_EQ(it->second, e.record) << e.id << " holds two different records";
      continue;
    }
    (*out)[record.sequence()] = record;
  }
}

TEST_F(ChangeFeedProcessTest, KillDashNineOfEventsLosesNoRecordAndDuplicatesNone) {
  std::unique_ptr<ServerProcess> events = StartEvents(dir_.File("events.log"));
  ASSERT_TRUE(events->WaitServing()) << events->Log();

  std::vector<std::string> acknowledged;
  {
    ActivityWriters writers(WritersOn(events->address(), 4, 1000000));
    ASSERT_TRUE(WaitUntil([&] { return writers.acknowledged_count() >= 150; }))
        << writers.acknowledged_count() << " creates acknowledged; " << events->Log();
    events->Kill();
    writers.Stop();
    writers.Join();
    acknowledged = writers.acknowledged_names();
  }
  ASSERT_GE(acknowledged.size(), 50u) << "too few writes before the kill to mean anything";
  std::cout << acknowledged.size() << " creates acknowledged before kill -9, "
            << LastId() << " last in the stream\n";

  std::unique_ptr<ServerProcess> restarted = StartEvents(dir_.File("events2.log"));
  ASSERT_TRUE(restarted->WaitServing()) << restarted->Log();
  auto stub = v1::EventsService::NewStub(sanhak::testing::Connect(restarted->address()));
  for (const std::string& name : acknowledged) {
    v1::GetActivityRequest get;
    get.set_name(name);
    v1::Activity activity;
    grpc::Status status = stub->GetActivity(Context().get(), get, &activity);
    EXPECT_TRUE(status.ok()) << name << " lost: " << status.error_message();
  }
  // Creates under way at the kill may have committed unacknowledged: they count too.
  std::set<std::string> activities = AllActivities(restarted->address());
  ASSERT_GE(activities.size(), acknowledged.size());

  const int64_t n = activities.size();
  ASSERT_TRUE(WaitUntil([&] { return LastId() == EntryId(n); }))
      << "the stream ends at " << LastId() << ", " << n << " activities; "
      << restarted->Log();
  std::vector<StreamEntry> entries;
  ASSERT_TRUE(redis_.ReadStream(kEventsStream, &entries));
  ASSERT_EQ(static_cast<int64_t>(entries.size()), n);
  std::map<int64_t, changes::v1::ChangeRecord> records;
  std::map<int64_t, std::string> bytes;
  Collect(entries, &records, &bytes);
  ExpectOneCreatedRecordPerActivity(records, activities, acknowledged);
}

// Redis dies during a burst of creates and comes back empty. Every create still
// succeeds; the records wait in the events outbox and then arrive, each exactly once in
// effect (an id both Redis lives hold carries the same record), in order.
//
// To know what the first Redis held when it died, its writes are paused (CLIENT PAUSE
// WRITE: the relay's XADDs hang as on a dead server) and the stream read before the kill.
TEST_F(ChangeFeedProcessTest, RedisKilledMidBurstStillDeliversEveryRecordOnceInOrder) {
  std::unique_ptr<ServerProcess> events = StartEvents(dir_.File("events.log"));
  ASSERT_TRUE(events->WaitServing()) << events->Log();

  constexpr int kThreads = 4, kPerThread = 100;
  std::vector<StreamEntry> first_life;
  std::vector<std::string> acknowledged;
  size_t at_kill = 0, while_down = 0;
  {
    ActivityWriters writers(WritersOn(events->address(), kThreads, kPerThread));
    ASSERT_TRUE(WaitUntil([&] { return writers.acknowledged_count() >= 100; }))
        << writers.acknowledged_count() << " creates acknowledged; " << events->Log();
    std::optional<RedisReply> paused = redis_.Command({"CLIENT", "PAUSE", "60000", "WRITE"});
    ASSERT_TRUE(paused.has_value() && paused->type == RedisReply::Type::kStatus);
    ASSERT_TRUE(redis_.ReadStream(kEventsStream, &first_life));
    redis_.Kill();
    at_kill = writers.acknowledged_count();
    WaitUntil([&] {
      return writers.acknowledged_count() >= at_kill + 100 ||
             writers.acknowledged_count() + writers.failure_messages().size() ==
                 static_cast<size_t>(kThreads * kPerThread);
    });
    while_down = writers.acknowledged_count() - at_kill;
    ASSERT_TRUE(redis_.Restart()) << redis_.Log();
    writers.Join();
    EXPECT_THAT(writers.failure_messages(), ::testing::IsEmpty());
    acknowledged = writers.acknowledged_names();
  }
  ASSERT_EQ(acknowledged.size(), static_cast<size_t>(kThreads * kPerThread));
  std::cout << at_kill << " creates acknowledged before Redis died, " << first_life.size()
            << " records in the first Redis, " << while_down << " creates while it was down\n";

  const int64_t n = acknowledged.size();
  ASSERT_TRUE(WaitUntil([&] { return LastId() == EntryId(n); }))
      << "the stream ends at " << LastId() << "; " << events->Log();
  std::vector<StreamEntry> second_life;
  ASSERT_TRUE(redis_.ReadStream(kEventsStream, &second_life));

  std::map<int64_t, changes::v1::ChangeRecord> records;
  std::map<int64_t, std::string> bytes;
  Collect(first_life, &records, &bytes);
  Collect(second_life, &records, &bytes);
  std::set<std::string> activities = AllActivities(events->address());
  ASSERT_EQ(static_cast<int64_t>(activities.size()), n);
  ExpectOneCreatedRecordPerActivity(records, activities, acknowledged);
}

}  // namespace
}  // namespace sanhak::events
