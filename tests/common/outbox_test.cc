// The outbox and group commit of the SQLite store, on real files: every Put and Delete
// leaves exactly one change record in the same transaction, in order, and nothing when
// the write is rolled back; concurrent writers share commits without losing or mixing
// anything.
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/sqlite_resource_store.h"
#include "gmock/gmock.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"
#include "sanhak/changes/v1/changes.pb.h"
#include "tests/support/test_support.h"

namespace sanhak::store {
namespace {

using ::testing::ElementsAre;

// A real message type, so change records can name changed fields.
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

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteResourceStore::Open({dir_.File("s.db"), "unit"});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  absl::Status Put(const Resource& r) {
    return store_->Write([&](WriteTransaction& tx) { return tx.Put(r, {}, "").status(); });
  }

  std::vector<changes::v1::ChangeRecord> Records() {
    auto entries = store_->ReadOutbox(10000);
    EXPECT_TRUE(entries.ok()) << entries.status();
    std::vector<changes::v1::ChangeRecord> out;
    for (const OutboxEntry& e : *entries) {
      changes::v1::ChangeRecord record;
      EXPECT_TRUE(record.ParseFromString(e.record));
      EXPECT_EQ(record.sequence(), e.sequence);
      out.push_back(record);
    }
    return out;
  }

  sanhak::testing::TempDir dir_;
  std::unique_ptr<SqliteResourceStore> store_;
};

TEST_F(OutboxTest, CreateUpdateDeleteEachLeaveOneRecordInOrder) {
  ASSERT_TRUE(Put(Timestamp("stamps/a", 1)).ok());
  ASSERT_TRUE(Put(Timestamp("stamps/a", 1, 5)).ok());
  ASSERT_TRUE(store_->Write([](WriteTransaction& tx) { return tx.Delete("stamps/a"); }).ok());

  std::vector<changes::v1::ChangeRecord> records = Records();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].kind(), changes::v1::CREATED);
  EXPECT_EQ(records[1].kind(), changes::v1::UPDATED);
  EXPECT_EQ(records[2].kind(), changes::v1::DELETED);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(records[i].sequence(), i + 1);
    EXPECT_EQ(records[i].id(), "unit-" + std::to_string(i + 1));
    EXPECT_EQ(records[i].service(), "unit");
    EXPECT_EQ(records[i].resource_name(), "stamps/a");
    EXPECT_EQ(records[i].collection(), "stamps");
  }
  // The update changed nanos only, and says so; the state is the new value.
  EXPECT_THAT(records[1].changed_fields(), ElementsAre("nanos"));
  google::protobuf::Timestamp state;
  ASSERT_TRUE(records[1].state().UnpackTo(&state));
  EXPECT_EQ(state.nanos(), 5);
  EXPECT_LT(records[0].revision(), records[1].revision());
}

TEST_F(OutboxTest, ARolledBackWriteLeavesNoRecord) {
  absl::Status status = store_->Write([](WriteTransaction& tx) {
    absl::Status put = tx.Put(Timestamp("stamps/b", 2), {}, "").status();
    if (!put.ok()) return put;
    return absl::InvalidArgumentError("refused after the put");
  });
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(Records().empty());
  auto backlog = store_->OutboxBacklog();
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(*backlog, 0);
}

TEST_F(OutboxTest, AckDropsRelayedRecordsAndSequencesContinue) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Put(Timestamp("stamps/c" + std::to_string(i), i)).ok());
  ASSERT_TRUE(store_->AckOutbox(3).ok());
  std::vector<changes::v1::ChangeRecord> left = Records();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].sequence(), 4);
  ASSERT_TRUE(Put(Timestamp("stamps/d", 9)).ok());
  EXPECT_EQ(Records().back().sequence(), 6);
}

TEST_F(OutboxTest, RecordsSurviveReopening) {
  ASSERT_TRUE(Put(Timestamp("stamps/e", 1)).ok());
  store_.reset();
  auto reopened = SqliteResourceStore::Open({dir_.File("s.db"), "unit"});
  ASSERT_TRUE(reopened.ok());
  store_ = *std::move(reopened);
  ASSERT_EQ(Records().size(), 1u);
}

TEST_F(OutboxTest, CommitListenerHearsWritesWithRecords) {
  std::atomic<int> calls{0};
  store_->SetCommitListener([&] { ++calls; });
  ASSERT_TRUE(Put(Timestamp("stamps/f", 1)).ok());
  EXPECT_EQ(calls.load(), 1);
  // A write that changes nothing visible (a reindex) has no record and wakes nobody.
  ASSERT_TRUE(store_->Write([](WriteTransaction& tx) {
                      return tx.Reindex("stamps/f", {{"k", "v"}}, "x");
                    }).ok());
  EXPECT_EQ(calls.load(), 1);
}

// Eight writers, each failing every fifth write on purpose: the successful writes all
// land, with unique revisions and one record each, in a gap-free sequence.
TEST_F(OutboxTest, ConcurrentWritersShareCommitsWithoutLosingOrMixingWrites) {
  constexpr int kThreads = 8, kWrites = 60;
  std::atomic<int> succeeded{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        bool fail = i % 5 == 0;
        absl::Status status = store_->Write([&](WriteTransaction& tx) {
          absl::Status put =
              tx.Put(Timestamp("stamps/t" + std::to_string(t) + "-" + std::to_string(i), i),
                     {}, "")
                  .status();
          if (!put.ok()) return put;
          return fail ? absl::FailedPreconditionError("on purpose") : absl::OkStatus();
        });
        EXPECT_EQ(status.ok(), !fail);
        if (status.ok()) ++succeeded;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<changes::v1::ChangeRecord> records = Records();
  ASSERT_EQ(static_cast<int>(records.size()), succeeded.load());
  std::set<int64_t> revisions;
  std::set<std::string> names;
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].sequence(), static_cast<int64_t>(i + 1));
    revisions.insert(records[i].revision());
    names.insert(records[i].resource_name());
  }
  EXPECT_EQ(revisions.size(), records.size());
  EXPECT_EQ(names.size(), records.size());
  EXPECT_EQ(names.count("stamps/t3-5"), 0u);  // a failed one
  EXPECT_EQ(names.count("stamps/t3-6"), 1u);
}

}  // namespace
}  // namespace sanhak::store
