// The analytics model on its own (no servers): the aggregates computed from a Mirror built
// from change records, the Mirror's idempotence (replays, older revisions, tombstones),
// ChangedPaths, the scorecard and the network.
#include "services/analytics/model.h"

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "clients/analytics/aggregate_paths.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "sanhak/events/v1/events.pb.h"
#include "sanhak/registry/v1/registry.pb.h"

namespace sanhak::analytics {
namespace {

namespace rv1 = ::sanhak::registry::v1;
namespace ev1 = ::sanhak::events::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

changes::v1::ChangeRecord Record(const std::string& collection,
                                 const google::protobuf::Message& state, int64_t revision,
                                 changes::v1::ChangeKind kind = changes::v1::CREATED) {
  changes::v1::ChangeRecord r;
  const std::string name = state.GetReflection()->GetString(
      state, state.GetDescriptor()->FindFieldByName("name"));
  r.set_resource_name(name);
  r.set_collection(collection);
  r.set_kind(kind);
  r.set_revision(revision);
  r.mutable_state()->PackFrom(state);
  return r;
}

rv1::Field Field(const std::string& name, const std::string& label,
                 const std::string& parent = "") {
  rv1::Field f;
  f.set_name(name);
  f.set_display_name(label);
  f.set_parent(parent);
  return f;
}

rv1::Council Council(const std::string& name, const std::string& field, int session) {
  rv1::Council c;
  c.set_name(name);
  c.set_display_name(name.substr(9));
  c.set_field(field);
  c.set_forum_session(session);
  c.add_complexes("complexes/x");
  c.add_complexes("complexes/y");
  c.add_regions("regions/a");
  c.add_regions("regions/b");
  return c;
}

ev1::Activity Activity(const std::string& name, ev1::ActivityKind kind,
                       std::vector<std::string> councils, bool dated) {
  ev1::Activity a;
  a.set_name(name);
  a.set_kind(kind);
  a.set_title(name);
  for (const auto& c : councils) a.add_councils(c);
  if (dated) {
    absl::TimeZone seoul;
    EXPECT_TRUE(absl::LoadTimeZone("Asia/Seoul", &seoul));
    // 2025-10-01 01:00 KST, i.e. 2025-09-30 16:00 UTC: the month is the zone's.
    a.mutable_start_time()->set_seconds(
        absl::ToUnixSeconds(absl::FromCivil(absl::CivilMinute(2025, 10, 1, 1, 0), seoul)));
    a.set_time_zone("Asia/Seoul");
  }
  return a;
}

int64_t CountOf(const google::protobuf::RepeatedPtrField<v1::Count>& counts,
                const std::string& key) {
  for (const auto& c : counts) {
    if (c.key() == key) return c.value();
  }
  return -1;
}

// The same values and labels (a client's copy may hold an empty sub-message where the
// server's has none: no value differs).
bool SameValues(const v1::Aggregates& a, const v1::Aggregates& b) {
  std::map<std::string, std::string> la, lb;
  return FlattenAggregates(a, &la) == FlattenAggregates(b, &lb) && la == lb;
}

// A small world: 2 fields + 1 sub-field, 2 regions, 2 complexes, 2 councils, an
// organization and its membership, 2 activities, 2 registrations, 2 outcomes, 2 figures.
class AnalyticsModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int64_t rev = 1;
    for (const auto& f : {Field("fields/future-mobility", "미래 모빌리티"),
                          Field("fields/mobility-automotive", "자동차", "fields/future-mobility"),
                          Field("fields/display", "디스플레이")}) {
      Apply(Record("fields", f, rev++));
    }
    for (const auto& [name, label] : {std::pair{"regions/a", "가"}, {"regions/b", "나"}}) {
      rv1::Region r;
      r.set_name(name);
      r.set_short_name(label);
      Apply(Record("regions", r, rev++));
    }
    for (const auto& [name, label, region] :
         {std::tuple{"complexes/x", "엑스국가", "regions/a"}, {"complexes/y", "와이일반", "regions/b"}}) {
      rv1::IndustrialComplex c;
      c.set_name(name);
      c.set_display_name(label);
      c.set_region(region);
      Apply(Record("complexes", c, rev++));
    }
    rv1::Council c1 = Council("councils/c1", "fields/mobility-automotive", 1);
    rv1::MemberComposition* m = c1.mutable_reported_members();
    m->set_total(10);
    m->set_companies(6);
    m->set_universities(4);
    Apply(Record("councils", c1, rev++));
    Apply(Record("councils", Council("councils/c2", "fields/display", 4), rev++));
    rv1::Organization org;
    org.set_name("organizations/o1");
    org.set_kind(rv1::COMPANY);
    Apply(Record("organizations", org, rev++));
    rv1::Membership membership;
    membership.set_name("councils/c1/memberships/o1");
    membership.set_organization("organizations/o1");
    Apply(Record("memberships", membership, rev++));
    Apply(Record("activities", Activity("activities/a1", ev1::SEMINAR, {"councils/c1"}, true),
                 rev++));
    Apply(Record("activities",
                 Activity("activities/a2", ev1::FORUM, {"councils/c1", "councils/c2"}, false),
                 rev++));
    ev1::Registration r1;
    r1.set_name("activities/a1/registrations/r1");
    r1.set_organization("organizations/o1");
    r1.set_state(ev1::REGISTERED);
    Apply(Record("registrations", r1, rev++));
    ev1::Registration r2 = r1;
    r2.set_name("activities/a1/registrations/r2");
    r2.set_state(ev1::CANCELLED);
    Apply(Record("registrations", r2, rev++));
    ev1::Outcome o1;
    o1.set_name("outcomes/o1");
    o1.set_council("councils/c1");
    o1.set_category(ev1::NATIONAL_PROJECT_SELECTED);
    o1.set_total_budget_krw(100);
    o1.set_national_share_krw(60);
    Apply(Record("outcomes", o1, rev++));
    ev1::Outcome o2;
    o2.set_name("outcomes/o2");
    o2.set_council("councils/c2");
    o2.set_category(ev1::EXPORT_DEAL);
    o2.set_deal_amount_krw(30);
    Apply(Record("outcomes", o2, rev++));
    for (const auto& [name, metric, value, approx] :
         {std::tuple{"reportedFigures/councils", "councils", 25, false},
          {"reportedFigures/networking-activities", "networking_activities", 270, true}}) {
      rv1::ReportedFigure f;
      f.set_name(name);
      f.set_metric(metric);
      f.set_value(value);
      f.set_approximate(approx);
      Apply(Record("reportedFigures", f, rev++));
    }
    next_revision_ = rev;
  }

  void Apply(const changes::v1::ChangeRecord& r) {
    ASSERT_TRUE(mirror_.Apply(r)) << r.resource_name();
    records_.push_back(r);
  }

  // Every record the fixture applied, in order (to feed an Aggregator from nothing).
  std::vector<changes::v1::ChangeRecord> records_;

  Mirror mirror_;
  int64_t next_revision_ = 0;
};

TEST_F(AnalyticsModelTest, ComputesEveryAggregate) {
  v1::Aggregates a = ComputeAggregates(mirror_);
  EXPECT_EQ(a.councils(), 2);
  // A parent field counts the councils of its sub-fields.
  EXPECT_EQ(CountOf(a.councils_by_field(), "fields/future-mobility"), 1);
  EXPECT_EQ(CountOf(a.councils_by_field(), "fields/mobility-automotive"), 1);
  EXPECT_EQ(CountOf(a.councils_by_field(), "fields/display"), 1);
  EXPECT_EQ(a.councils_by_field_size(), 3);
  EXPECT_EQ(CountOf(a.councils_by_forum_session(), "1"), 1);
  EXPECT_EQ(CountOf(a.councils_by_forum_session(), "4"), 1);
  EXPECT_EQ(CountOf(a.councils_by_region(), "regions/a"), 2);
  EXPECT_EQ(CountOf(a.councils_by_region(), "regions/b"), 2);
  for (const auto& c : a.councils_by_region()) {
    if (c.key() == "regions/a") {
      EXPECT_EQ(c.label(), "가");
    }
  }

  ASSERT_EQ(a.members_by_council_size(), 2);
  const v1::MembersOf& c1 = a.members_by_council(0);
  EXPECT_EQ(c1.key(), "councils/c1");
  EXPECT_EQ(c1.reported().total(), 10);
  EXPECT_EQ(c1.reported().companies(), 6);
  EXPECT_EQ(c1.reported().universities(), 4);
  EXPECT_EQ(c1.registered().total(), 1);
  EXPECT_EQ(c1.registered().companies(), 1);
  EXPECT_EQ(a.members_by_council(1).reported().total(), 0);
  bool saw_parent = false;
  for (const auto& f : a.members_by_field()) {
    if (f.key() != "fields/future-mobility") continue;
    saw_parent = true;
    EXPECT_EQ(f.reported().total(), 10);
    EXPECT_EQ(f.registered().companies(), 1);
  }
  EXPECT_TRUE(saw_parent);

  EXPECT_EQ(a.activities(), 2);
  EXPECT_EQ(CountOf(a.activities_by_kind(), "SEMINAR"), 1);
  EXPECT_EQ(CountOf(a.activities_by_kind(), "FORUM"), 1);
  EXPECT_EQ(CountOf(a.activities_by_council(), "councils/c1"), 2);
  EXPECT_EQ(CountOf(a.activities_by_council(), "councils/c2"), 1);
  // 2025-10-01 01:00 KST is October in the activity's zone (September in UTC).
  EXPECT_EQ(CountOf(a.activities_by_month(), "2025-10"), 1);
  EXPECT_EQ(CountOf(a.activities_by_month(), "undated"), 1);
  EXPECT_EQ(a.activities_by_month_size(), 2);

  EXPECT_EQ(a.outcomes_total().outcomes(), 2);
  EXPECT_EQ(a.outcomes_total().total_budget_krw(), 100);
  EXPECT_EQ(a.outcomes_total().national_share_krw(), 60);
  EXPECT_EQ(a.outcomes_total().deal_amount_krw(), 30);
  ASSERT_EQ(a.outcomes_by_category_size(), 2);
  EXPECT_EQ(a.registrations(), 1);  // the cancelled one is not counted

  ASSERT_EQ(a.reported_vs_counted_size(), 2);
  for (const auto& r : a.reported_vs_counted()) {
    if (r.metric() == "councils") {
      EXPECT_EQ(r.reported(), 25);
      EXPECT_EQ(r.counted(), 2);
      EXPECT_FALSE(r.reported_approximate());
    } else {
      EXPECT_EQ(r.metric(), "networking_activities");
      EXPECT_EQ(r.reported(), 270);
      EXPECT_EQ(r.counted(), 2);
      EXPECT_TRUE(r.reported_approximate());
    }
  }
  EXPECT_TRUE(a.applied_sequences().empty());
  EXPECT_FALSE(a.has_computed_time());
}

TEST_F(AnalyticsModelTest, ApplyingTheSameRecordTwiceChangesNothing) {
  ev1::Activity a3 = Activity("activities/a3", ev1::SEMINAR, {"councils/c2"}, false);
  changes::v1::ChangeRecord record = Record("activities", a3, next_revision_);
  EXPECT_TRUE(mirror_.Apply(record));
  v1::Aggregates once = ComputeAggregates(mirror_);
  EXPECT_FALSE(mirror_.Apply(record));
  EXPECT_TRUE(MessageDifferencer::Equals(once, ComputeAggregates(mirror_)));
  EXPECT_EQ(once.activities(), 3);
}

TEST_F(AnalyticsModelTest, AnOlderRevisionIsIgnored) {
  rv1::Council newer = Council("councils/c2", "fields/display", 3);
  ASSERT_TRUE(mirror_.Apply(Record("councils", newer, next_revision_ + 5)));
  rv1::Council older = Council("councils/c2", "fields/display", 2);
  EXPECT_FALSE(mirror_.Apply(Record("councils", older, next_revision_ + 4)));
  EXPECT_FALSE(mirror_.Apply(Record("councils", older, next_revision_ + 5)));
  v1::Aggregates a = ComputeAggregates(mirror_);
  EXPECT_EQ(CountOf(a.councils_by_forum_session(), "3"), 1);
  EXPECT_EQ(CountOf(a.councils_by_forum_session(), "2"), -1);
}

TEST_F(AnalyticsModelTest, ATombstoneBlocksResurrection) {
  ev1::Activity a3 = Activity("activities/a3", ev1::SEMINAR, {"councils/c2"}, false);
  const int64_t created = next_revision_;
  ASSERT_TRUE(mirror_.Apply(Record("activities", a3, created)));
  ASSERT_TRUE(
      mirror_.Apply(Record("activities", a3, created + 1, changes::v1::DELETED)));
  EXPECT_EQ(ComputeAggregates(mirror_).activities(), 2);
  // The creation replayed after the deletion (a crash, a rebuild) does not bring it back.
  EXPECT_FALSE(mirror_.Apply(Record("activities", a3, created)));
  EXPECT_EQ(ComputeAggregates(mirror_).activities(), 2);
  // A deletion of something never seen still blocks its older creation.
  ev1::Activity a4 = Activity("activities/a4", ev1::SEMINAR, {"councils/c2"}, false);
  mirror_.Apply(Record("activities", a4, created + 3, changes::v1::DELETED));
  EXPECT_FALSE(mirror_.Apply(Record("activities", a4, created + 2)));
  EXPECT_EQ(ComputeAggregates(mirror_).activities(), 2);
  // A later re-creation (a new revision) does.
  EXPECT_TRUE(mirror_.Apply(Record("activities", a3, created + 4)));
  EXPECT_EQ(ComputeAggregates(mirror_).activities(), 3);
}

// The store writes a DELETED record with the revision of the last state (Delete does not
// take a new revision; see common/sqlite_resource_store.cc), so a deletion arrives with the
// same revision the mirror already holds. It must still delete.
TEST_F(AnalyticsModelTest, ADeletionWithTheLastStatesRevisionDeletes) {
  ev1::Activity a3 = Activity("activities/a3", ev1::SEMINAR, {"councils/c2"}, false);
  const int64_t created = next_revision_;
  ASSERT_TRUE(mirror_.Apply(Record("activities", a3, created)));
  EXPECT_TRUE(mirror_.Apply(Record("activities", a3, created, changes::v1::DELETED)));
  EXPECT_EQ(ComputeAggregates(mirror_).activities(), 2);
  // ...and is itself idempotent, and still blocks the replayed creation.
  EXPECT_FALSE(mirror_.Apply(Record("activities", a3, created, changes::v1::DELETED)));
  EXPECT_FALSE(mirror_.Apply(Record("activities", a3, created)));
  EXPECT_EQ(ComputeAggregates(mirror_).activities(), 2);
}

TEST_F(AnalyticsModelTest, ChangedPathsNamesWhatMoved) {
  v1::Aggregates before = ComputeAggregates(mirror_);
  EXPECT_THAT(ChangedPaths(before, before), IsEmpty());

  ev1::Activity a3 = Activity("activities/a3", ev1::TECHNOLOGY_EXCHANGE, {"councils/c2"}, false);
  ASSERT_TRUE(mirror_.Apply(Record("activities", a3, next_revision_)));
  v1::Aggregates after = ComputeAggregates(mirror_);
  EXPECT_THAT(ChangedPaths(before, after),
              UnorderedElementsAre("activities", "activities_by_kind[TECHNOLOGY_EXCHANGE]",
                                   "activities_by_council[councils/c2]",
                                   "activities_by_month[undated]",
                                   "reported_vs_counted[networking_activities].counted"));
  // A key that disappears is named too.
  EXPECT_THAT(ChangedPaths(after, before), Contains("activities_by_kind[TECHNOLOGY_EXCHANGE]"));

  // A change the aggregates do not see (a title) moves nothing.
  ev1::Activity retitled = a3;
  retitled.set_title("다른 제목");
  ASSERT_TRUE(mirror_.Apply(Record("activities", retitled, next_revision_ + 1,
                                   changes::v1::UPDATED)));
  EXPECT_THAT(ChangedPaths(after, ComputeAggregates(mirror_)), IsEmpty());

  // Nested values are named by their path.
  rv1::Membership m2;
  m2.set_name("councils/c2/memberships/o1");
  m2.set_organization("organizations/o1");
  ASSERT_TRUE(mirror_.Apply(Record("memberships", m2, next_revision_ + 2)));
  EXPECT_THAT(ChangedPaths(after, ComputeAggregates(mirror_)),
              Contains("members_by_council[councils/c2].registered.companies"));
}

// The incremental aggregates equal a recount after every change of a long random run over
// every collection (creations, updates, deletions, replays), and a client that applies
// each update to its copy of the snapshot holds the same aggregates throughout.
TEST_F(AnalyticsModelTest, AggregatorEqualsRecountAndUpdatesRebuildTheSameCopy) {
  Aggregator aggregator;
  v1::Aggregates client = aggregator.aggregates();
  auto check = [&](const changes::v1::ChangeRecord& r, bool expect_change) {
    const v1::Aggregates before = aggregator.aggregates();
    v1::AggregatesUpdate update;
    ASSERT_EQ(aggregator.Apply(r, &update), expect_change) << r.ShortDebugString();
    const v1::Aggregates& now = aggregator.aggregates();
    const v1::Aggregates recount = ComputeAggregates(aggregator.mirror());
    ASSERT_TRUE(MessageDifferencer::Equals(now, recount))
        << r.resource_name() << "\nincremental: " << now.ShortDebugString()
        << "\nrecount: " << recount.ShortDebugString();
    std::vector<std::string> expected_changed = ChangedPaths(before, now);
    std::vector<std::string> changed(update.changed().begin(), update.changed().end());
    std::sort(changed.begin(), changed.end());
    ASSERT_EQ(changed, expected_changed) << r.resource_name();
    ASSERT_TRUE(ApplyUpdate(update, client).ok());
    ASSERT_TRUE(SameValues(client, now))
        << r.resource_name() << "\nupdate: " << update.ShortDebugString()
        << "\nclient: " << client.ShortDebugString() << "\nserver: " << now.ShortDebugString();
  };
  for (const auto& r : records_) check(r, true);

  std::mt19937 random(20250730);
  auto pick = [&](int n) { return static_cast<int>(random() % n); };
  const std::vector<std::string> councils = {"councils/c1", "councils/c2", "councils/c3"};
  const std::vector<ev1::ActivityKind> kinds = {ev1::SEMINAR, ev1::FORUM,
                                                ev1::TECHNOLOGY_EXCHANGE};
  const std::vector<ev1::OutcomeCategory> categories = {ev1::NATIONAL_PROJECT_SELECTED,
                                                        ev1::EXPORT_DEAL};
  int64_t revision = next_revision_;
  std::vector<changes::v1::ChangeRecord> history;
  for (int step = 0; step < 600; ++step) {
    changes::v1::ChangeRecord r;
    const int what = pick(7);
    const auto kind = pick(4) == 0 ? changes::v1::DELETED : changes::v1::UPDATED;
    if (what <= 2) {
      ev1::Activity a = Activity(absl::StrCat("activities/r", pick(12)), kinds[pick(3)],
                                 {councils[pick(3)]}, pick(2) == 0);
      if (pick(3) == 0) a.add_councils(councils[pick(3)]);
      if (pick(4) == 0) a.mutable_start_time()->set_seconds(1700000000 + pick(6) * 2600000);
      r = Record("activities", a, revision++, kind);
    } else if (what == 3) {
      ev1::Registration reg;
      reg.set_name(absl::StrCat("activities/a1/registrations/x", pick(5)));
      reg.set_state(pick(3) == 0 ? ev1::CANCELLED : ev1::CHECKED_IN);
      r = Record("registrations", reg, revision++, kind);
    } else if (what == 4) {
      ev1::Outcome o;
      o.set_name(absl::StrCat("outcomes/r", pick(6)));
      o.set_council(councils[pick(3)]);
      o.set_category(categories[pick(2)]);
      o.set_total_budget_krw(pick(1000));
      o.set_national_share_krw(pick(500));
      o.set_deal_amount_krw(pick(2) * 1000);
      r = Record("outcomes", o, revision++, kind);
    } else if (what == 5) {
      rv1::Council c = Council(councils[pick(3)], pick(2) ? "fields/display" : "fields/mobility-automotive",
                               1 + pick(4));
      c.set_display_name(absl::StrCat("협의체", pick(3)));
      c.mutable_reported_members()->set_total(pick(50));
      r = Record("councils", c, revision++, pick(6) == 0 ? changes::v1::DELETED : changes::v1::UPDATED);
    } else {
      rv1::Membership m;
      m.set_name(absl::StrCat(councils[pick(3)], "/memberships/o1"));
      m.set_organization("organizations/o1");
      r = Record("memberships", m, revision++, kind);
    }
    check(r, true);
    history.push_back(r);
    // A record delivered again (after a crash) changes nothing and moves nothing.
    if (pick(5) == 0) check(history[pick(static_cast<int>(history.size()))], false);
  }
  EXPECT_GT(aggregator.aggregates().activities(), 0);
}

TEST_F(AnalyticsModelTest, ApplyUpdateRefusesAPathThatNamesNothingAndChangesNothing) {
  v1::Aggregates a = ComputeAggregates(mirror_);
  const v1::Aggregates before = a;
  v1::AggregatesUpdate update;
  v1::AggregateValue* good = update.add_values();
  good->set_path("activities");
  good->set_value(99);
  update.add_values()->set_path("no_such_metric[x]");
  absl::Status s = ApplyUpdate(update, a);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("no_such_metric"));
  EXPECT_TRUE(MessageDifferencer::Equals(a, before));

  v1::AggregatesUpdate add;
  v1::AggregateValue* month = add.add_values();
  month->set_path("activities_by_month[2024-01]");
  month->set_value(3);
  month->set_label("2024-01");
  v1::AggregateValue* nested = add.add_values();
  nested->set_path("members_by_council[councils/c0].registered.universities");
  nested->set_value(2);
  add.add_removed("activities_by_kind[SEMINAR]");
  ASSERT_TRUE(ApplyUpdate(add, a).ok());
  // New keyed entries land in key order.
  EXPECT_EQ(a.activities_by_month(0).key(), "2024-01");
  EXPECT_EQ(a.activities_by_month(0).value(), 3);
  EXPECT_EQ(a.members_by_council(0).key(), "councils/c0");
  EXPECT_EQ(a.members_by_council(0).registered().universities(), 2);
  EXPECT_EQ(CountOf(a.activities_by_kind(), "SEMINAR"), -1);
}

TEST_F(AnalyticsModelTest, Scorecard) {
  absl::StatusOr<v1::CouncilScorecard> card = ComputeScorecard(mirror_, "councils/c1");
  ASSERT_TRUE(card.ok()) << card.status();
  EXPECT_EQ(card->display_name(), "c1");
  EXPECT_EQ(card->field(), "fields/mobility-automotive");
  EXPECT_THAT(card->regions(), ElementsAre("regions/a", "regions/b"));
  EXPECT_EQ(card->reported_members().total(), 10);
  EXPECT_EQ(card->registered_members().total(), 1);
  EXPECT_EQ(card->activities(), 2);
  EXPECT_EQ(card->registrations(), 1);
  EXPECT_EQ(card->outcomes(), 1);
  EXPECT_EQ(card->total_budget_krw(), 100);
  EXPECT_EQ(card->national_share_krw(), 60);
  EXPECT_EQ(card->deal_amount_krw(), 0);

  EXPECT_EQ(ComputeScorecard(mirror_, "councils/none").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(AnalyticsModelTest, Network) {
  v1::Network n = ComputeNetwork(mirror_, 0);
  ASSERT_EQ(n.links_size(), 1);
  EXPECT_EQ(n.links(0).region_a(), "regions/a");
  EXPECT_EQ(n.links(0).region_b(), "regions/b");
  EXPECT_THAT(n.links(0).councils(), ElementsAre("councils/c1", "councils/c2"));
  ASSERT_EQ(n.hub_complexes_size(), 2);
  EXPECT_EQ(n.hub_complexes(0).key(), "complexes/x");
  EXPECT_EQ(n.hub_complexes(0).label(), "엑스국가");
  EXPECT_EQ(n.hub_complexes(0).value(), 2);
  EXPECT_EQ(ComputeNetwork(mirror_, 1).hub_complexes_size(), 1);
  EXPECT_EQ(n.hub_regions_size(), 2);
}

// Observation 4 of issue #10: two outcomes of total_budget_krw = INT64_MAX (accepted before
// the events service capped amounts, so a store may still hold them) summed to -2, a
// signed overflow. Sums are exact in 128 bits and reported saturated at INT64_MAX, in the
// recount, the scorecard and the incremental aggregator alike; taking the big ones away
// again gives the exact small sum back.
TEST_F(AnalyticsModelTest, HugeAmountsSaturateInsteadOfWrapping) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  Aggregator aggregator(mirror_);
  std::vector<changes::v1::ChangeRecord> big;
  for (const char* name : {"outcomes/huge-1", "outcomes/huge-2"}) {
    ev1::Outcome o;
    o.set_name(name);
    o.set_council("councils/c1");
    o.set_category(ev1::NATIONAL_PROJECT_SELECTED);
    o.set_total_budget_krw(kMax);
    o.set_national_share_krw(kMax);
    big.push_back(Record("outcomes", o, next_revision_++));
    aggregator.Apply(big.back(), nullptr);
    Apply(big.back());
  }
  const v1::Aggregates recount = ComputeAggregates(mirror_);
  EXPECT_EQ(recount.outcomes_total().total_budget_krw(), kMax);
  EXPECT_EQ(recount.outcomes_total().national_share_krw(), kMax);
  EXPECT_EQ(recount.outcomes_total().deal_amount_krw(), 30);  // untouched, exact
  EXPECT_EQ(recount.outcomes_total().outcomes(), 4);
  EXPECT_TRUE(MessageDifferencer::Equals(aggregator.aggregates(), recount))
      << aggregator.aggregates().ShortDebugString();
  absl::StatusOr<v1::CouncilScorecard> card = ComputeScorecard(mirror_, "councils/c1");
  ASSERT_TRUE(card.ok());
  EXPECT_EQ(card->total_budget_krw(), kMax);
  EXPECT_EQ(card->outcomes(), 3);

  for (const auto& record : big) {
    changes::v1::ChangeRecord gone = record;
    gone.set_kind(changes::v1::DELETED);
    gone.set_revision(next_revision_++);
    v1::AggregatesUpdate update;
    ASSERT_TRUE(aggregator.Apply(gone, &update));
    Apply(gone);
  }
  EXPECT_EQ(aggregator.aggregates().outcomes_total().total_budget_krw(), 100);
  EXPECT_EQ(aggregator.aggregates().outcomes_total().national_share_krw(), 60);
  EXPECT_TRUE(MessageDifferencer::Equals(aggregator.aggregates(), ComputeAggregates(mirror_)));
}

TEST(SaturatedSumTest, ExactInsideInt64BoundsOutside) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(SaturatedSum(0), 0);
  EXPECT_EQ(SaturatedSum(absl::int128(kMax)), kMax);
  EXPECT_EQ(SaturatedSum(absl::int128(kMax) + kMax), kMax);
  EXPECT_EQ(SaturatedSum(absl::int128(kMin) - 1), kMin);
  EXPECT_EQ(SaturatedSum(absl::int128(-5)), -5);
}

}  // namespace
}  // namespace sanhak::analytics
