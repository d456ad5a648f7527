// Applying the change feed, alone: no Redis. Records stand for entries of the services'
// change streams; what a batch must make durable is checked as the state store would see it.
#include "services/analytics/change_applier.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sanhak/changes/v1/changes.pb.h"
#include "sanhak/events/v1/events.pb.h"
#include "tests/analytics/change_records.h"

namespace sanhak::analytics {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kEvents[] = "sanhak:changes:events";

// A seminar's change record, as the events service's relay writes it, as a stream entry.
ChangeEntry Seminar(const std::string& name, int64_t sequence, int64_t revision,
                    changes::v1::ChangeKind kind = changes::v1::CREATED) {
  return {kEvents, absl::StrCat(sequence, "-0"),
          SeminarChange(name, sequence, revision, kind).SerializeAsString()};
}

int64_t ValueAt(const v1::AggregatesUpdate& update, const std::string& path) {
  for (const v1::AggregateValue& v : update.values()) {
    if (v.path() == path) return v.value();
  }
  return -1;
}

TEST(ChangeApplierTest, EachChangeTakenIsNumberedAndCarriesWhatItMoved) {
  ApplierState state;
  state.useq = 7;
  AppliedBatch batch =
      ApplyChanges({Seminar("activities/a", 1, 1), Seminar("activities/b", 2, 1)}, state);
  ASSERT_EQ(batch.updates.size(), 2u);
  EXPECT_EQ(batch.updates[0].useq, 8);
  EXPECT_EQ(batch.updates[1].useq, 9);
  EXPECT_EQ(batch.useq, 9);
  EXPECT_EQ(state.useq, 9);
  EXPECT_EQ(batch.updates[1].update.change_id(), "events-2");
  EXPECT_EQ(batch.updates[1].update.resource_name(), "activities/b");
  EXPECT_EQ(ValueAt(batch.updates[1].update, "activities"), 2);
  EXPECT_THAT(batch.updates[1].update.applied_sequences(),
              UnorderedElementsAre(Pair("events", 2)));
  EXPECT_THAT(batch.applied, ElementsAre(Pair("events", 2)));
  EXPECT_EQ(batch.mirror.size(), 2u);
  EXPECT_THAT(batch.acks[kEvents], ElementsAre("1-0", "2-0"));
}

TEST(ChangeApplierTest, ARedeliveredOrUnreadableEntryIsAcknowledgedAndChangesNothing) {
  ApplierState state;
  ApplyChanges({Seminar("activities/a", 1, 1), Seminar("activities/b", 2, 1)}, state);
  const int64_t useq = state.useq;
  // After a crash between the write and the acknowledgement, the stream delivers the
  // same entries again; one entry is not a record at all.
  AppliedBatch again = ApplyChanges(
      {Seminar("activities/a", 1, 1), Seminar("activities/b", 2, 1),
       ChangeEntry{kEvents, "3-0", "\xff not a record"}},
      state);
  EXPECT_THAT(again.updates, IsEmpty());
  EXPECT_THAT(again.mirror, IsEmpty());
  EXPECT_THAT(again.applied, IsEmpty());
  EXPECT_THAT(again.acks[kEvents], ElementsAre("1-0", "2-0", "3-0"));
  EXPECT_EQ(again.useq, useq);
  EXPECT_EQ(state.aggregator.aggregates().activities(), 2);
}

TEST(ChangeApplierTest, AChangeThatMovesNoAggregateIsStillKeptForItsPosition) {
  ApplierState state;
  ApplyChanges({Seminar("activities/a", 1, 5)}, state);
  // A newer sequence with an older revision (the mirror keeps the newer state): taken,
  // numbered and kept so followers learn the position, but it moves nothing.
  AppliedBatch batch = ApplyChanges({Seminar("activities/a", 2, 4)}, state);
  ASSERT_EQ(batch.updates.size(), 1u);
  EXPECT_THAT(batch.updates[0].update.changed(), IsEmpty());
  EXPECT_THAT(batch.mirror, IsEmpty()) << "the mirror did not change";
  EXPECT_THAT(batch.applied, ElementsAre(Pair("events", 2)));
  EXPECT_THAT(batch.updates[0].update.applied_sequences(), ElementsAre(Pair("events", 2)));
}

TEST(ChangeApplierTest, TheLastChangeOfAResourceInABatchIsTheOneKept) {
  ApplierState state;
  AppliedBatch batch = ApplyChanges(
      {Seminar("activities/a", 1, 1), Seminar("activities/a", 2, 2, changes::v1::DELETED)},
      state);
  ASSERT_EQ(batch.updates.size(), 2u);
  changes::v1::ChangeRecord kept;
  ASSERT_TRUE(kept.ParseFromString(batch.mirror.at("activities/a")));
  EXPECT_EQ(kept.kind(), changes::v1::DELETED);
  EXPECT_EQ(ValueAt(batch.updates[1].update, "activities"), 0);
  EXPECT_EQ(state.aggregator.aggregates().activities(), 0);
}

}  // namespace
}  // namespace sanhak::analytics
