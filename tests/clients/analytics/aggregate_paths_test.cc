// The client library alone: the AggregateValue path grammar, and an update (single or a
// batch's, in order) bringing a copy of the aggregates to what the server holds.
#include "clients/analytics/aggregate_paths.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace sanhak::analytics {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;

v1::Count* AddCount(google::protobuf::RepeatedPtrField<v1::Count>* to, const std::string& key,
                    const std::string& label, int64_t value) {
  v1::Count* c = to->Add();
  c->set_key(key);
  c->set_label(label);
  c->set_value(value);
  return c;
}

TEST(AggregatePathsTest, PathsAreTakenApartAsTheContractWritesThem) {
  absl::StatusOr<AggregatePath> p =
      ParseAggregatePath("members_by_council[councils/x].registered.companies");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->list, "members_by_council");
  EXPECT_TRUE(p->keyed);
  EXPECT_EQ(p->key, "councils/x");
  EXPECT_THAT(p->rest, ElementsAre("registered", "companies"));
  p = ParseAggregatePath("outcomes_total.deal_amount_krw");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->keyed);
  EXPECT_THAT(p->rest, ElementsAre("deal_amount_krw"));
  EXPECT_EQ(ParseAggregatePath("activities_by_kind[SEMINAR").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseAggregatePath("activities_by_kind[SEMINAR]x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EntryOfPath("activities_by_council[councils/x]"), "activities_by_council[councils/x]");
  EXPECT_EQ(EntryOfPath("members_by_council[councils/x].registered.total"),
            "members_by_council[councils/x]");
  EXPECT_EQ(EntryOfPath("activities"), "");
}

TEST(AggregatePathsTest, UpdatesAppliedInOrderReproduceTheServersAggregates) {
  v1::Aggregates first;
  first.set_activities(10);
  AddCount(first.mutable_activities_by_kind(), "SEMINAR", "세미나", 4);
  AddCount(first.mutable_activities_by_month(), "2025-07", "2025-07", 2);
  v1::Aggregates second = first;
  second.set_activities(11);
  second.mutable_activities_by_kind(0)->set_value(5);
  AddCount(second.mutable_activities_by_council(), "councils/x", "반도체 협의체", 1);
  v1::Aggregates third = second;
  third.set_activities(9);
  third.clear_activities_by_month();
  (*third.mutable_applied_sequences())["events"] = 42;

  // What the server sends: one update per change (or the same updates in one batch).
  v1::AggregatesUpdateBatch batch;
  DiffAggregates(first, second, batch.add_updates());
  DiffAggregates(second, third, batch.add_updates());
  (*batch.mutable_updates(1)->mutable_applied_sequences())["events"] = 42;
  EXPECT_THAT(batch.updates(1).removed(), ElementsAre("activities_by_month[2025-07]"));

  v1::Aggregates copy = first;
  for (const v1::AggregatesUpdate& u : batch.updates()) ASSERT_TRUE(ApplyUpdate(u, copy).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(copy, third)) << copy.DebugString();
  EXPECT_EQ(FlattenAggregates(copy), FlattenAggregates(third));
  std::map<std::string, std::string> labels;
  FlattenAggregates(copy, &labels);
  EXPECT_EQ(labels["activities_by_council[councils/x]"], "반도체 협의체");
  EXPECT_THAT(ChangedPaths(first, second),
              ElementsAre("activities", "activities_by_council[councils/x]",
                          "activities_by_kind[SEMINAR]"));
}

TEST(AggregatePathsTest, AnUpdateNamingNoValueIsRefusedAndChangesNothing) {
  v1::Aggregates aggregates;
  aggregates.set_activities(3);
  const v1::Aggregates before = aggregates;
  v1::AggregatesUpdate update;
  v1::AggregateValue* fine = update.add_values();
  fine->set_path("activities");
  fine->set_value(4);
  v1::AggregateValue* bad = update.add_values();
  bad->set_path("no_such_list[x]");
  bad->set_value(1);
  absl::Status s = ApplyUpdate(update, aggregates);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageDifferencer::Equals(aggregates, before));
}

}  // namespace
}  // namespace sanhak::analytics
