// The outbox relay against a real redis-server and a real SQLite store: records reach the
// stream `sanhak:changes:{service}` in order as entries `{sequence}-0` and leave the
// outbox; while Redis is down writes go on and records wait; after Redis returns (empty:
// nothing is persisted) they arrive exactly once, in order; a record already in the
// stream is not added twice; a stream holding history this store did not write stops the
// relay instead of being reordered.
//
// Waits are bounded polls; nothing asserts on a fixed sleep.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/outbox_relay.h"
#include "common/sqlite_resource_store.h"
#include "gmock/gmock.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"
#include "sanhak/changes/v1/changes.pb.h"
#include "tests/support/await.h"
#include "tests/support/redis_server.h"
#include "tests/support/test_support.h"

namespace sanhak {
namespace {

using ::sanhak::testing::RedisReply;
using ::sanhak::testing::StreamEntry;
using ::sanhak::testing::WaitUntil;
using store::OutboxEntry;
using store::Resource;
using store::WriteTransaction;

constexpr char kService[] = "unit";

// A real message type, so records carry a real state.
Resource Timestamp(const std::string& name, int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  t.set_nanos(nanos);
  Resource r;
  r.name = name;
  r.collection = "stamps";
  r.type = "google.protobuf.Timestamp";
  r.data = t.SerializeAsString();
  return r;
}

std::string EntryId(int64_t sequence) { return std::to_string(sequence) + "-0"; }

class OutboxRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.Start()) << redis_.Log();
    auto store = store::SqliteResourceStore::Open({dir_.File("s.db"), kService});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  void TearDown() override { StopRelay(); }

  // Short backoffs and timeouts keep the tests quick; `poll_interval` long by default,
  // so prompt delivery proves the commit listener wakes the relay.
  void StartRelay(absl::Duration poll_interval = absl::Minutes(1), int batch = 256) {
    RelayOptions options;
    options.redis_address = redis_.address();
    options.stream = stream_;
    options.batch = batch;
    options.io_timeout = absl::Seconds(1);
    options.min_backoff = absl::Milliseconds(10);
    options.max_backoff = absl::Milliseconds(200);
    options.poll_interval = poll_interval;
    relay_ = std::make_unique<OutboxRelay>(store_.get(), options);
    OutboxRelay* relay = relay_.get();
    store_->SetCommitListener([relay] { relay->Notify(); });
  }

  void StopRelay() {
    if (store_ != nullptr) store_->SetCommitListener(nullptr);
    relay_.reset();
  }

  absl::Status Put(const Resource& r) {
    return store_->Write([&](WriteTransaction& tx) { return tx.Put(r, {}, "").status(); });
  }

  int64_t Backlog() {
    absl::StatusOr<int64_t> backlog = store_->OutboxBacklog();
    EXPECT_TRUE(backlog.ok()) << backlog.status();
    return backlog.ok() ? *backlog : -1;
  }

  std::vector<OutboxEntry> Outbox() {
    auto entries = store_->ReadOutbox(100000);
    EXPECT_TRUE(entries.ok()) << entries.status();
    return entries.ok() ? *entries : std::vector<OutboxEntry>{};
  }

  std::vector<StreamEntry> Stream() {
    std::vector<StreamEntry> entries;
    redis_.ReadStream(stream_, &entries);
    return entries;
  }

  // The last id in the stream, "" when empty or unreachable.
  std::string LastId() {
    std::optional<RedisReply> reply = redis_.Command({"XREVRANGE", stream_, "+", "-", "COUNT", "1"});
    if (!reply.has_value() || reply->elements.empty()) return "";
    return reply->elements[0].elements[0].str;
  }

  // Until the outbox is empty and the stream ends at entry `sequence`.
  bool WaitDelivered(int64_t sequence) {
    return WaitUntil([&] { return LastId() == EntryId(sequence) && Backlog() == 0; });
  }

  // The stream's entries parsed; each entry's id must be its record's sequence.
  std::vector<changes::v1::ChangeRecord> StreamRecords() {
    std::vector<changes::v1::ChangeRecord> out;
    for (const StreamEntry& e : Stream()) {
      changes::v1::ChangeRecord record;
      EXPECT_TRUE(record.ParseFromString(e.record)) << e.id;
      EXPECT_EQ(e.id, EntryId(record.sequence()));
      out.push_back(record);
    }
    return out;
  }

  // Calls of `command` Redis has served since the last CONFIG RESETSTAT.
  int64_t CommandCalls(const std::string& command) {
    std::optional<RedisReply> info = redis_.Command({"INFO", "commandstats"});
    if (!info.has_value()) return -1;
    const std::string key = "cmdstat_" + command + ":calls=";
    size_t at = info->str.find(key);
    if (at == std::string::npos) return 0;
    return std::stoll(info->str.substr(at + key.size()));
  }

  sanhak::testing::TempDir dir_;
  sanhak::testing::RedisServer redis_;
  const std::string stream_ = ChangeStreamKey(kService);
  std::unique_ptr<store::SqliteResourceStore> store_;
  std::unique_ptr<OutboxRelay> relay_;  // destroyed before the store
};

// Sequences 1..n exactly once each, in order.
void ExpectGapFree(const std::vector<changes::v1::ChangeRecord>& records, int64_t n) {
  ASSERT_EQ(static_cast<int64_t>(records.size()), n);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(records[i].sequence(), i + 1) << "at position " << i;
  }
}

TEST(ChangeStreamKeyTest, NamesTheServiceStream) {
  EXPECT_EQ(ChangeStreamKey("events"), "sanhak:changes:events");
  EXPECT_EQ(ChangeStreamKey("registry"), "sanhak:changes:registry");
}

TEST_F(OutboxRelayTest, RecordsReachTheStreamInOrderAndTheOutboxEmpties) {
  // Three records wait before the relay starts.
  ASSERT_TRUE(Put(Timestamp("stamps/a", 1)).ok());
  ASSERT_TRUE(Put(Timestamp("stamps/a", 1, 5)).ok());
  ASSERT_TRUE(Put(Timestamp("stamps/b", 2)).ok());
  std::vector<OutboxEntry> waiting = Outbox();
  ASSERT_EQ(waiting.size(), 3u);

  StartRelay();
  ASSERT_TRUE(WaitDelivered(3)) << "last id " << LastId() << ", backlog " << Backlog();
  std::vector<StreamEntry> entries = Stream();
  ASSERT_EQ(entries.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(entries[i].id, EntryId(waiting[i].sequence));
    EXPECT_EQ(entries[i].record, waiting[i].record) << "the record as stored, byte for byte";
  }

  // With the relay running (and its poll a minute away), each commit wakes it.
  ASSERT_TRUE(store_->Write([](WriteTransaction& tx) { return tx.Delete("stamps/a"); }).ok());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Put(Timestamp("stamps/c" + std::to_string(i), i)).ok());
  }
  ASSERT_TRUE(WaitDelivered(24)) << "last id " << LastId() << ", backlog " << Backlog();

  std::vector<changes::v1::ChangeRecord> records = StreamRecords();
  ExpectGapFree(records, 24);
  EXPECT_EQ(records[0].kind(), changes::v1::CREATED);
  EXPECT_EQ(records[1].kind(), changes::v1::UPDATED);
  EXPECT_EQ(records[3].kind(), changes::v1::DELETED);
  EXPECT_EQ(records[3].resource_name(), "stamps/a");
  EXPECT_EQ(records[23].resource_name(), "stamps/c19");
  for (const auto& r : records) {
    EXPECT_EQ(r.service(), kService);
    EXPECT_EQ(r.id(), std::string(kService) + "-" + std::to_string(r.sequence()));
  }
  google::protobuf::Timestamp state;
  ASSERT_TRUE(records[1].state().UnpackTo(&state));
  EXPECT_EQ(state.nanos(), 5);

  OutboxRelay::Stats stats = relay_->stats();
  EXPECT_EQ(stats.relayed, 24);
  EXPECT_EQ(stats.last_sequence, 24);
  EXPECT_TRUE(stats.redis_reachable);
}

TEST_F(OutboxRelayTest, SmallBatchesStillArriveInOrder) {
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(Put(Timestamp("stamps/s" + std::to_string(i), i)).ok());
  StartRelay(absl::Minutes(1), /*batch=*/7);
  ASSERT_TRUE(WaitDelivered(50)) << "last id " << LastId() << ", backlog " << Backlog();
  ExpectGapFree(StreamRecords(), 50);
}

TEST_F(OutboxRelayTest, WritesWhileRedisIsDownWaitInTheOutboxThenArriveOnceInOrder) {
  StartRelay();
  redis_.Kill();
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(Put(Timestamp("stamps/d" + std::to_string(i), i)).ok()) << "write " << i;
  }
  // The relay notices it cannot reach Redis; the records wait.
  ASSERT_TRUE(WaitUntil([&] { return !relay_->stats().redis_reachable; }));
  EXPECT_EQ(Backlog(), 40);
  std::vector<OutboxEntry> waiting = Outbox();
  ASSERT_EQ(waiting.size(), 40u);

  ASSERT_TRUE(redis_.Restart()) << redis_.Log();
  // The relay comes back by itself (its backoff, not a commit, wakes it).
  ASSERT_TRUE(WaitDelivered(40)) << "last id " << LastId() << ", backlog " << Backlog();
  std::vector<StreamEntry> entries = Stream();
  ASSERT_EQ(entries.size(), 40u);
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].id, EntryId(i + 1));
    EXPECT_EQ(entries[i].record, waiting[i].record);
  }
  ExpectGapFree(StreamRecords(), 40);
  EXPECT_TRUE(relay_->stats().redis_reachable);

  // And it goes on relaying new writes.
  ASSERT_TRUE(Put(Timestamp("stamps/after", 1)).ok());
  ASSERT_TRUE(WaitDelivered(41));
}

// Redis dies while the relay holds a connection to it, and the next batch is large (a
// megabyte, more than one write to the socket): sending it to the dead peer must fail
// as an error, and the records wait, not kill the process with SIGPIPE. Run in a child
// process (a death test that expects no death), so a SIGPIPE fails this test alone.
// Returns what went wrong, "" when nothing did.
std::string LargeBatchAfterRedisDiedUnderAnOpenConnection() {
  sanhak::testing::TempDir dir;
  sanhak::testing::RedisServer redis;
  if (!redis.Start()) return "redis-server did not start: " + redis.Log();
  auto opened = store::SqliteResourceStore::Open({dir.File("s.db"), kService});
  if (!opened.ok()) return opened.status().ToString();
  std::unique_ptr<store::SqliteResourceStore> store = *std::move(opened);
  RelayOptions options;
  options.redis_address = redis.address();
  options.stream = ChangeStreamKey(kService);
  options.io_timeout = absl::Seconds(1);
  options.min_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(200);
  options.poll_interval = absl::Minutes(1);
  auto relay = std::make_unique<OutboxRelay>(store.get(), options);
  OutboxRelay* raw = relay.get();
  store->SetCommitListener([raw] { raw->Notify(); });
  auto backlog = [&] {
    absl::StatusOr<int64_t> n = store->OutboxBacklog();
    return n.ok() ? *n : -1;
  };
  auto last_id = [&] {
    std::optional<RedisReply> r =
        redis.Command({"XREVRANGE", options.stream, "+", "-", "COUNT", "1"});
    return r.has_value() && !r->elements.empty() ? r->elements[0].elements[0].str : "";
  };

  auto put = [&](const Resource& r) {
    return store->Write([&](WriteTransaction& tx) { return tx.Put(r, {}, "").status(); });
  };
  if (!put(Timestamp("stamps/first", 1)).ok()) return "first write failed";
  if (!WaitUntil([&] { return last_id() == "1-0" && backlog() == 0; })) return "1 not relayed";
  if (!relay->stats().redis_reachable) return "relay does not report Redis reachable";
  redis.Kill();
  // 256 records of about 4 kB in one commit: one wake-up, one batch.
  const std::string padding(4000, 'x');
  absl::Status written = store->Write([&](WriteTransaction& tx) {
    for (int i = 0; i < 256; ++i) {
      absl::Status s =
          tx.Put(Timestamp("stamps/" + padding + std::to_string(i), i), {}, "").status();
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  });
  if (!written.ok()) return written.ToString();
  if (!WaitUntil([&] { return !relay->stats().redis_reachable; })) {
    return "relay never noticed Redis is gone";
  }
  if (backlog() != 256) return "backlog " + std::to_string(backlog()) + ", not 256";
  if (!redis.Restart()) return "redis-server did not restart: " + redis.Log();
  if (!WaitUntil([&] { return last_id() == "257-0" && backlog() == 0; })) {
    return "not delivered after the restart: last id " + last_id() + ", backlog " +
           std::to_string(backlog());
  }
  std::vector<StreamEntry> entries;
  if (!redis.ReadStream(options.stream, &entries) || entries.size() != 256 ||
      entries.front().id != "2-0") {
    return "the stream does not hold 2..257 once each";
  }
  store->SetCommitListener(nullptr);
  relay.reset();
  return "";
}

TEST(OutboxRelayDeathTest, RedisKilledUnderAnOpenConnectionThenALargeBatch) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The child's temp dirs go inside this one, so they go even if the child is killed.
  sanhak::testing::TempDir parent;
  const char* old_tmpdir = std::getenv("TEST_TMPDIR");
  const std::string saved = old_tmpdir != nullptr ? old_tmpdir : "";
  setenv("TEST_TMPDIR", parent.path().c_str(), 1);
  EXPECT_EXIT(
      {
        std::string error = LargeBatchAfterRedisDiedUnderAnOpenConnection();
        if (!error.empty()) std::fprintf(stderr, "%s\n", error.c_str());
        std::fflush(stderr);
        std::exit(error.empty() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "")
      << "signal 13 is SIGPIPE: the relay wrote to a connection Redis had closed";
  if (old_tmpdir != nullptr) {
    setenv("TEST_TMPDIR", saved.c_str(), 1);
  } else {
    unsetenv("TEST_TMPDIR");
  }
}

// Four writers, 200 writes each; Redis dies in the middle and comes back empty. Every
// acknowledged write has exactly one record in effect (an id Redis holds twice across
// its two lives must hold the same bytes), the union is 1..N in order, and each writer's
// writes appear in the order it made them.
//
// To know what the first Redis held when it died, its writes are paused (CLIENT PAUSE
// WRITE: the relay's XADDs hang as on a dead server) and the stream read just before the
// kill.
TEST_F(OutboxRelayTest, RedisKilledMidBurstLosesNoRecordAndDuplicatesNone) {
  StartRelay(absl::Milliseconds(200));
  constexpr int kWriters = 4, kWrites = 200;
  std::atomic<int> acknowledged{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kWrites; ++i) {
        std::string name = "stamps/w" + std::to_string(w) + "-" + std::to_string(i);
        if (Put(Timestamp(name, i)).ok()) {
          ++acknowledged;
        } else {
          ++failed;
        }
      }
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return acknowledged.load() >= 150; }));
  std::optional<RedisReply> paused = redis_.Command({"CLIENT", "PAUSE", "60000", "WRITE"});
  ASSERT_TRUE(paused.has_value() && paused->type == RedisReply::Type::kStatus)
      << (paused.has_value() ? paused->str : "unreachable");
  std::vector<StreamEntry> first_life = Stream();
  redis_.Kill();
  const int at_kill = acknowledged.load();
  // Writes go on while Redis is down.
  WaitUntil([&] {
    return acknowledged.load() >= at_kill + 200 || acknowledged.load() == kWriters * kWrites;
  });
  const int while_down = acknowledged.load() - at_kill;
  ASSERT_TRUE(redis_.Restart()) << redis_.Log();
  for (auto& t : writers) t.join();
  ASSERT_EQ(failed.load(), 0);
  ASSERT_EQ(acknowledged.load(), kWriters * kWrites);
  std::cout << at_kill << " writes acknowledged before the kill, " << first_life.size()
            << " records in the first Redis, " << while_down << " writes while it was down\n";

  const int64_t n = kWriters * kWrites;
  ASSERT_TRUE(WaitDelivered(n)) << "last id " << LastId() << ", backlog " << Backlog();
  std::vector<StreamEntry> second_life = Stream();

  // Each life holds a gap-free run of entries; together they hold 1..n.
  auto check_run = [](const std::vector<StreamEntry>& run, const char* which) {
    for (size_t i = 1; i < run.size(); ++i) {
      changes::v1::ChangeRecord a, b;
      ASSERT_TRUE(a.ParseFromString(run[i - 1].record));
      ASSERT_TRUE(b.ParseFromString(run[i].record));
      ASSERT_EQ(b.sequence(), a.sequence() + 1) << which << " life, position " << i;
    }
  };
  check_run(first_life, "first");
  check_run(second_life, "second");
  std::map<int64_t, std::string> by_sequence;
  for (const auto* life : {&first_life, &second_life}) {
    for (const StreamEntry& e : *life) {
      changes::v1::ChangeRecord record;
      ASSERT_TRUE(record.ParseFromString(e.record));
      ASSERT_EQ(e.id, EntryId(record.sequence()));
      auto [it, inserted] = by_sequence.emplace(record.sequence(), e.record);
      if (!inserted) {
        EXPECT_EQ(it->second, e.record) << "entry " << e.id << " differs between lives";
      }
    }
  }
  ASSERT_EQ(static_cast<int64_t>(by_sequence.size()), n);
  EXPECT_EQ(by_sequence.begin()->first, 1);
  EXPECT_EQ(by_sequence.rbegin()->first, n);

  // One record per acknowledged write, and each writer's in its own order.
  std::set<std::string> names;
  std::map<int, int> last_index;  // writer -> index of its last record seen
  for (const auto& [sequence, bytes] : by_sequence) {
    changes::v1::ChangeRecord record;
    ASSERT_TRUE(record.ParseFromString(bytes));
    EXPECT_EQ(record.kind(), changes::v1::CREATED);
    EXPECT_TRUE(names.insert(record.resource_name()).second) << record.resource_name();
    int w = 0, i = 0;
    ASSERT_EQ(std::sscanf(record.resource_name().c_str(), "stamps/w%d-%d", &w, &i), 2);
    auto seen = last_index.find(w);
    if (seen != last_index.end()) {
      EXPECT_GT(i, seen->second) << record.resource_name();
    }
    last_index[w] = i;
  }
  EXPECT_EQ(static_cast<int64_t>(names.size()), n);
  EXPECT_EQ(Backlog(), 0);
}

// The relay crashed after XADD and before dropping the records: they are in the stream
// already. Relaying them again adds nothing, and the relay moves on past them.
TEST_F(OutboxRelayTest, ARecordAlreadyInTheStreamIsNotAddedTwice) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Put(Timestamp("stamps/e" + std::to_string(i), i)).ok());
  std::vector<OutboxEntry> waiting = Outbox();
  ASSERT_EQ(waiting.size(), 5u);
  for (int i = 0; i < 2; ++i) {
    std::optional<RedisReply> added = redis_.Command(
        {"XADD", stream_, EntryId(waiting[i].sequence), "record", waiting[i].record});
    ASSERT_TRUE(added.has_value());
    ASSERT_EQ(added->str, EntryId(waiting[i].sequence));
  }

  StartRelay();
  ASSERT_TRUE(WaitDelivered(5)) << "last id " << LastId() << ", backlog " << Backlog();
  std::vector<StreamEntry> entries = Stream();
  ASSERT_EQ(entries.size(), 5u);
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].id, EntryId(i + 1));
    EXPECT_EQ(entries[i].record, waiting[i].record);
  }
  EXPECT_EQ(relay_->stats().relayed, 5);
  EXPECT_EQ(relay_->stats().last_sequence, 5);

  ASSERT_TRUE(Put(Timestamp("stamps/e-next", 9)).ok());
  ASSERT_TRUE(WaitDelivered(6));
  ExpectGapFree(StreamRecords(), 6);
}

// Every record of the outbox already in the stream: all dropped, nothing added.
TEST_F(OutboxRelayTest, AWholeBatchAlreadyInTheStreamIsDroppedFromTheOutbox) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Put(Timestamp("stamps/f" + std::to_string(i), i)).ok());
  for (const OutboxEntry& e : Outbox()) {
    ASSERT_TRUE(redis_.Command({"XADD", stream_, EntryId(e.sequence), "record", e.record}));
  }
  StartRelay();
  ASSERT_TRUE(WaitUntil([&] { return Backlog() == 0; }));
  ExpectGapFree(StreamRecords(), 4);
}

// Redis holds a newer entry this store did not write (say, a stream kept from another
// database). Relaying on would put records after it, out of order: the relay stops and
// the records stay in the outbox.
TEST_F(OutboxRelayTest, ANewerForeignEntryStopsTheRelayAndRecordsStayInTheOutbox) {
  StartRelay(absl::Milliseconds(50));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Put(Timestamp("stamps/g" + std::to_string(i), i)).ok());
  ASSERT_TRUE(WaitDelivered(3));
  std::optional<RedisReply> foreign =
      redis_.Command({"XADD", stream_, "100-0", "record", "not this store's"});
  ASSERT_TRUE(foreign.has_value());
  ASSERT_EQ(foreign->str, "100-0");
  ASSERT_TRUE(redis_.Command({"CONFIG", "RESETSTAT"}));

  for (int i = 3; i < 6; ++i) ASSERT_TRUE(Put(Timestamp("stamps/g" + std::to_string(i), i)).ok());
  // The relay looks up the clashing entry each time it tries; wait for two tries.
  ASSERT_TRUE(WaitUntil([&] { return CommandCalls("xrange") >= 2; }))
      << "the relay never met the foreign entry";

  EXPECT_EQ(Backlog(), 3);
  std::vector<StreamEntry> entries = Stream();
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].id, "1-0");
  EXPECT_EQ(entries[2].id, "3-0");
  EXPECT_EQ(entries[3].id, "100-0");
  EXPECT_EQ(entries[3].record, "not this store's");
  EXPECT_EQ(relay_->stats().last_sequence, 3);
  EXPECT_FALSE(relay_->stats().redis_reachable);
}

// The foreign entry sits among the ids of the waiting records (3-0 of 1..5): the relay
// must stop at record 1 without adding records 4 and 5 after the foreign entry, which
// would leave 4 and 5 in the stream ahead of 1..3 that never arrive.
TEST_F(OutboxRelayTest, AForeignEntryAmidTheBacklogStopsTheRelayBeforeAnyRecord) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Put(Timestamp("stamps/h" + std::to_string(i), i)).ok());
  std::optional<RedisReply> foreign =
      redis_.Command({"XADD", stream_, "3-0", "record", "not this store's"});
  ASSERT_TRUE(foreign.has_value());
  ASSERT_EQ(foreign->str, "3-0");
  ASSERT_TRUE(redis_.Command({"CONFIG", "RESETSTAT"}));

  StartRelay(absl::Milliseconds(50));
  ASSERT_TRUE(WaitUntil([&] { return CommandCalls("xrange") >= 2; }))
      << "the relay never met the foreign entry";
  EXPECT_EQ(Backlog(), 5);
  std::vector<StreamEntry> entries = Stream();
  std::vector<std::string> ids;
  for (const StreamEntry& e : entries) ids.push_back(e.id);
  EXPECT_THAT(ids, ::testing::ElementsAre("3-0"))
      << "records were added after an entry this store did not write";
}

// Same id, other bytes: not this store's history either.
TEST_F(OutboxRelayTest, AnotherRecordUnderTheSameIdStopsTheRelay) {
  ASSERT_TRUE(Put(Timestamp("stamps/i", 1)).ok());
  ASSERT_TRUE(redis_.Command({"XADD", stream_, "1-0", "record", "something else"}));
  ASSERT_TRUE(redis_.Command({"CONFIG", "RESETSTAT"}));
  StartRelay(absl::Milliseconds(50));
  ASSERT_TRUE(WaitUntil([&] { return CommandCalls("xrange") >= 2; }));
  EXPECT_EQ(Backlog(), 1);
  std::vector<StreamEntry> entries = Stream();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].record, "something else");
}

}  // namespace
}  // namespace sanhak
