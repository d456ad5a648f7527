// The storage contract (storage.h, state_store.h) checked twice with the same tests: on a
// real redis-server signed in as the analytics ACL user (RedisStorage, as deployed) and
// on the in-memory storage the engine's unit tests use, so the fake keeps what Redis
// promises: generations replaced whole, commits fenced by the lease and atomic, kept
// updates in order and trimmed, acknowledgements committed with the state.
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/analytics/change_applier.h"
#include "services/analytics/redis_storage.h"
#include "tests/analytics/change_records.h"
#include "tests/analytics/in_memory_storage.h"
#include "tests/support/redis_server.h"

namespace sanhak::analytics {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

constexpr size_t kKept = 3;

// One implementation under test, and how its feed is written to.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual Storage& storage() = 0;
  virtual void Append(const changes::v1::ChangeRecord& record) = 0;
};

class RedisBackend : public Backend {
 public:
  RedisBackend() {
    started_ = redis_.Start();
    EXPECT_TRUE(started_) << redis_.Log();
    storage_ = std::make_unique<RedisStorage>(RedisStorageOptions{
        redis_.address(), {"analytics", redis_.Password("analytics")}, absl::Seconds(5),
        {"registry", "events"}, "replica-a", kKept});
  }
  Storage& storage() override { return *storage_; }
  // As the events service's relay writes its stream.
  void Append(const changes::v1::ChangeRecord& record) override {
    std::optional<testing::RedisReply> r =
        redis_.Command({"XADD", "sanhak:changes:events", absl::StrCat(record.sequence(), "-0"),
                        "record", record.SerializeAsString()});
    ASSERT_TRUE(r.has_value());
    ASSERT_NE(r->type, testing::RedisReply::Type::kError) << r->str;
  }

 private:
  testing::RedisServer redis_{testing::RedisUsers::kSuite};
  bool started_ = false;
  std::unique_ptr<RedisStorage> storage_;
};

class InMemoryBackend : public Backend {
 public:
  Storage& storage() override { return storage_; }
  void Append(const changes::v1::ChangeRecord& record) override { storage_.AppendChange(record); }

 private:
  InMemoryStorage storage_{{"registry", "events"}, kKept};
};

class StorageContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") {
      backend_ = std::make_unique<RedisBackend>();
    } else {
      backend_ = std::make_unique<InMemoryBackend>();
    }
  }

  StorageSession Connect() {
    absl::StatusOr<StorageSession> s = backend_->storage().Connect();
    EXPECT_TRUE(s.ok()) << s.status();
    return *std::move(s);
  }

  // A batch as the applier makes it, from the next `n` seminars after `state`.
  AppliedBatch Batch(ApplierState& state, int64_t first, int64_t n) {
    std::vector<ChangeEntry> entries;
    for (int64_t i = first; i < first + n; ++i) {
      entries.push_back({"sanhak:changes:events", absl::StrCat(i, "-0"),
                         NumberedSeminar(i).SerializeAsString()});
    }
    return ApplyChanges(entries, state);
  }

  std::unique_ptr<Backend> backend_;
};

TEST_P(StorageContractTest, AnEmptyStoreHoldsNoGenerationUntilOneReplacesIt) {
  StorageSession s = Connect();
  EXPECT_TRUE(absl::IsNotFound(s.state->Epoch().status()));
  EXPECT_TRUE(absl::IsNotFound(s.state->Load().status()));
  Mirror mirror;
  mirror.Apply(NumberedSeminar(1));
  mirror.Apply(NumberedSeminar(2));
  absl::StatusOr<std::string> epoch = s.state->Replace(mirror);
  ASSERT_TRUE(epoch.ok()) << epoch.status();
  EXPECT_EQ(*s.state->Epoch(), *epoch);
  absl::StatusOr<StoredState> loaded = Connect().state->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->epoch, *epoch);
  EXPECT_EQ(loaded->useq, 0);
  EXPECT_THAT(loaded->applied, IsEmpty());
  EXPECT_EQ(loaded->mirror.entries().size(), 2u);
  EXPECT_EQ(loaded->mirror.live().activities.at("activities/seminar-2").title(), "세미나 activities/seminar-2");
  absl::StatusOr<std::string> next = s.state->Replace(Mirror());
  ASSERT_TRUE(next.ok());
  EXPECT_NE(*next, *epoch) << "each replacement is a new generation";
  EXPECT_THAT(s.state->Load()->mirror.entries(), IsEmpty());
}

TEST_P(StorageContractTest, OneRebuildHoldsTheLockUntilItsReplacementLands) {
  StorageSession a = Connect(), b = Connect();
  EXPECT_TRUE(*a.state->LockRebuild("a", absl::Seconds(30)));
  EXPECT_FALSE(*b.state->LockRebuild("b", absl::Seconds(30)));
  ASSERT_TRUE(a.state->Replace(Mirror()).ok());
  EXPECT_TRUE(*b.state->LockRebuild("b", absl::Seconds(30))) << "Replace drops the lock";
  ASSERT_TRUE(b.state->UnlockRebuild().ok());
  EXPECT_TRUE(*a.state->LockRebuild("a", absl::Seconds(30)));
}

TEST_P(StorageContractTest, ACommitLandsWholeOnlyUnderTheLease) {
  StorageSession s = Connect();
  ASSERT_TRUE(s.state->Replace(Mirror()).ok());
  ApplierState state;
  AppliedBatch batch = Batch(state, 1, 2);
  absl::Status refused = s.state->Commit("replica-a", batch);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_EQ(s.state->Load()->useq, 0) << "nothing written without the lease";
  ASSERT_TRUE(*s.lease->AcquireOrExtend("replica-a", absl::Seconds(30)));
  StorageSession other = Connect();
  EXPECT_FALSE(*other.lease->AcquireOrExtend("replica-b", absl::Seconds(30)));
  EXPECT_TRUE(absl::IsFailedPrecondition(other.state->Commit("replica-b", batch)));
  ASSERT_TRUE(s.state->Commit("replica-a", batch).ok());
  absl::StatusOr<StoredState> loaded = other.state->Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->useq, 2);
  EXPECT_THAT(loaded->applied, ElementsAre(Pair("events", 2)));
  EXPECT_EQ(loaded->mirror.live().activities.size(), 2u);
  absl::StatusOr<std::vector<KeptUpdate>> kept = other.state->ReadUpdates(0, 10, absl::ZeroDuration());
  ASSERT_TRUE(kept.ok()) << kept.status();
  ASSERT_EQ(kept->size(), 2u);
  EXPECT_EQ((*kept)[0].useq, 1);
  EXPECT_EQ((*kept)[1].record.resource_name(), "activities/seminar-2");
  EXPECT_EQ((*kept)[1].update.change_id(), "events-2");
}

TEST_P(StorageContractTest, KeptUpdatesAreReadInOrderAfterAPositionAndTrimmedToTheBound) {
  StorageSession s = Connect();
  ASSERT_TRUE(s.state->Replace(Mirror()).ok());
  ASSERT_TRUE(*s.lease->AcquireOrExtend("replica-a", absl::Seconds(30)));
  ApplierState state;
  ASSERT_TRUE(s.state->Commit("replica-a", Batch(state, 1, 5)).ok());
  auto numbers = [&](int64_t after, size_t max) {
    std::vector<int64_t> out;
    absl::StatusOr<std::vector<KeptUpdate>> kept =
        s.state->ReadUpdates(after, max, absl::ZeroDuration());
    EXPECT_TRUE(kept.ok()) << kept.status();
    if (kept.ok()) {
      for (const KeptUpdate& u : *kept) out.push_back(u.useq);
    }
    return out;
  };
  EXPECT_THAT(numbers(0, 10), ElementsAre(3, 4, 5)) << "kept: the last " << kKept;
  EXPECT_THAT(numbers(3, 10), ElementsAre(4, 5));
  EXPECT_THAT(numbers(0, 1), ElementsAre(3));
  EXPECT_THAT(numbers(5, 10), IsEmpty());
}

TEST_P(StorageContractTest, AWaitingReaderGetsTheNextCommitAsItLands) {
  StorageSession s = Connect(), reader = Connect();
  ASSERT_TRUE(s.state->Replace(Mirror()).ok());
  ASSERT_TRUE(*s.lease->AcquireOrExtend("replica-a", absl::Seconds(30)));
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(200));
    ApplierState state;
    EXPECT_TRUE(s.state->Commit("replica-a", Batch(state, 1, 1)).ok());
  });
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<KeptUpdate>> got =
      reader.state->ReadUpdates(0, 10, absl::Seconds(10));
  writer.join();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "woken by the commit, not the limit";
  absl::StatusOr<std::vector<KeptUpdate>> none =
      reader.state->ReadUpdates(1, 10, absl::Milliseconds(50));
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());
}

TEST_P(StorageContractTest, EntriesAcknowledgedByACommitAreNotClaimedAgain) {
  StorageSession a = Connect();
  ASSERT_TRUE(a.state->Replace(Mirror()).ok());
  ASSERT_TRUE(a.feed->EnsureGroups().ok());
  for (int i = 1; i <= 4; ++i) backend_->Append(NumberedSeminar(i));
  absl::StatusOr<std::vector<ChangeEntry>> read = a.feed->ReadNew(absl::Milliseconds(100));
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 4u);
  // Two of them committed (with their acknowledgements); then the reader dies.
  ASSERT_TRUE(*a.lease->AcquireOrExtend("replica-a", absl::Seconds(30)));
  ApplierState state;
  ASSERT_TRUE(a.state->Commit("replica-a", ApplyChanges({(*read)[0], (*read)[1]}, state)).ok());
  StorageSession b = Connect();
  std::vector<std::string> claimed;
  ASSERT_TRUE(b.feed
                  ->ClaimPending([&](const std::vector<ChangeEntry>& batch) {
                    for (const ChangeEntry& e : batch) claimed.push_back(e.entry_id);
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_THAT(claimed, ElementsAre("3-0", "4-0"));
  absl::StatusOr<std::map<std::string, int64_t>> newest = b.feed->NewestSequences();
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_THAT(*newest, ElementsAre(Pair("events", 4)));
}

INSTANTIATE_TEST_SUITE_P(Storages, StorageContractTest, ::testing::Values("redis", "in_memory"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace sanhak::analytics
