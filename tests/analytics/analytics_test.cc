// The analytics service end to end: real Redis (tests/support/redis_server.h), the
// registry and events services in process, seeded from data/ and relaying their change
// feeds to that Redis, and analytics servers on the same Redis, over real gRPC on
// loopback. What is checked: every aggregate against a recount of the source data, the
// watch stream (snapshot, live updates, resume, expiry, heartbeats, scale), and the
// failures the design notes promise to survive (Redis flushed or killed, a replica killed
// mid-stream, two replicas).
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "httplib.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "clients/analytics/aggregate_paths.h"
#include "common/caller_limits.h"
#include "common/overload.h"
#include "common/status.h"
#include "tests/analytics/analytics_fixture.h"

namespace sanhak::analytics {
namespace {

namespace rv1 = ::sanhak::registry::v1;
namespace ev1 = ::sanhak::events::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::sanhak::testing::Context;
using ::sanhak::testing::ReasonOf;
using ::sanhak::testing::ViolatedFields;
using ::testing::Contains;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kPetrochemical[] = "councils/petrochemical-core-materials";

const v1::Count* Find(const google::protobuf::RepeatedPtrField<v1::Count>& counts,
                      const std::string& key) {
  for (const auto& c : counts) {
    if (c.key() == key) return &c;
  }
  return nullptr;
}

int64_t ValueOf(const google::protobuf::RepeatedPtrField<v1::Count>& counts,
                const std::string& key) {
  const v1::Count* c = Find(counts, key);
  return c == nullptr ? 0 : c->value();
}

// The new value an update carries for `path`; -1 when it carries none.
int64_t ValueAt(const v1::AggregatesUpdate& update, const std::string& path) {
  for (const v1::AggregateValue& v : update.values()) {
    if (v.path() == path) return v.value();
  }
  return -1;
}

const v1::MembersOf* FindMembers(const google::protobuf::RepeatedPtrField<v1::MembersOf>& list,
                                 const std::string& key) {
  for (const auto& m : list) {
    if (m.key() == key) return &m;
  }
  return nullptr;
}

// Without what differs by when and how the aggregates were computed.
v1::Aggregates Comparable(v1::Aggregates a) {
  a.clear_applied_sequences();
  a.clear_computed_time();
  return a;
}

std::string Diff(const v1::Aggregates& a, const v1::Aggregates& b) {
  MessageDifferencer differencer;
  std::string report;
  differencer.ReportDifferencesToString(&report);
  differencer.Compare(Comparable(a), Comparable(b));
  return report;
}

// A watcher that was sent `n` changes after its snapshot, counting up from `base`: it saw
// every one in order, or it was ended (UNAVAILABLE) and resuming from its last token gives
// the rest in order, or says the token expired. Never an open stream that skipped some.
void ExpectNothingSkipped(WatchClient& watch, v1::AnalyticsService::Stub* stub, int64_t base,
                          size_t n) {
  watch.WaitFor([n](const auto& events) { return WatchClient::UpdatesIn(events).size() >= n; });
  std::vector<v1::AggregatesUpdate> updates = watch.updates();
  if (!watch.done()) {
    EXPECT_EQ(updates.size(), n) << "the watcher is open but missed changes";
  } else if (updates.size() < n) {
    EXPECT_EQ(watch.status()->error_code(), grpc::StatusCode::UNAVAILABLE)
        << watch.status()->error_message();
    WatchClient resumed(stub, watch.last_token());
    resumed.WaitFor([&](const auto& events) {
      return WatchClient::UpdatesIn(events).size() >= n - updates.size();
    });
    if (resumed.done() && resumed.status()->error_code() == grpc::StatusCode::OUT_OF_RANGE) {
      EXPECT_EQ(ReasonOf(*resumed.status()), "RESUME_TOKEN_EXPIRED");
    } else {
      for (const auto& u : resumed.updates()) updates.push_back(u);
      EXPECT_EQ(updates.size(), n) << "resuming did not give the rest";
    }
  }
  for (size_t i = 0; i < updates.size(); ++i) {
    EXPECT_EQ(ValueAt(updates[i], "activities"), base + 1 + static_cast<int64_t>(i))
        << "update " << i << " (" << updates[i].resource_name() << ") skipped or repeated some";
  }
}

class AnalyticsTest : public AnalyticsFixture {
 protected:
  void SetUp() override {
    AnalyticsFixture::SetUp();
    if (HasFatalFailure()) return;
    auto registry_data = registry::LoadRegistryData(RegistrySeedPath());
    ASSERT_TRUE(registry_data.ok()) << registry_data.status();
    registry_data_ = *std::move(registry_data);
    auto events_data = events::LoadEventsData(EventsSeedPath());
    ASSERT_TRUE(events_data.ok()) << events_data.status();
    events_data_ = *std::move(events_data);
    seeded_activities_ = events_data_.activities_size();
  }

  rv1::RegistryData registry_data_;
  ev1::EventsData events_data_;
  int64_t seeded_activities_ = 0;
};

// ------------------------------------------------------------------ the aggregates

TEST_F(AnalyticsTest, EveryAggregateEqualsARecountOfTheSourceData) {
  AnalyticsServer* server = StartAnalytics();
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  const v1::Aggregates a = MustGetAggregates(stub.get());

  // Councils: 25 as table 3 lists them, 7/5/7/6 by session as the forum plan says.
  EXPECT_EQ(a.councils(), registry_data_.councils_size());
  EXPECT_EQ(a.councils(), 25);
  std::map<std::string, int64_t> by_session;
  for (const auto& c : registry_data_.councils()) ++by_session[absl::StrCat(c.forum_session())];
  for (const auto& [session, n] : by_session) {
    EXPECT_EQ(ValueOf(a.councils_by_forum_session(), session), n) << session;
  }
  EXPECT_EQ(a.councils_by_forum_session_size(), static_cast<int>(by_session.size()));
  EXPECT_EQ(ValueOf(a.councils_by_forum_session(), "1"), 7);
  EXPECT_EQ(ValueOf(a.councils_by_forum_session(), "2"), 5);
  EXPECT_EQ(ValueOf(a.councils_by_forum_session(), "3"), 7);
  EXPECT_EQ(ValueOf(a.councils_by_forum_session(), "4"), 6);

  // By field, a parent field counting its sub-fields' councils.
  std::map<std::string, std::string> parent;
  for (const auto& f : registry_data_.fields()) parent[f.name()] = f.parent();
  std::map<std::string, int64_t> by_field;
  for (const auto& c : registry_data_.councils()) {
    for (std::string f = c.field(); !f.empty(); f = parent[f]) ++by_field[f];
  }
  for (const auto& [field, n] : by_field) {
    EXPECT_EQ(ValueOf(a.councils_by_field(), field), n) << field;
  }
  EXPECT_EQ(a.councils_by_field_size(), static_cast<int>(by_field.size()));
  EXPECT_EQ(ValueOf(a.councils_by_field(), "fields/future-mobility"), 7);
  EXPECT_EQ(ValueOf(a.councils_by_field(), "fields/mobility-automotive"), 4);
  EXPECT_EQ(ValueOf(a.councils_by_field(), "fields/mobility-shipbuilding"), 3);
  ASSERT_NE(Find(a.councils_by_field(), "fields/future-mobility"), nullptr);
  EXPECT_EQ(Find(a.councils_by_field(), "fields/future-mobility")->label(), "미래 모빌리티");

  // By region: each council once per region its complexes lie in.
  std::map<std::string, std::string> region_of;
  for (const auto& c : registry_data_.complexes()) region_of[c.name()] = c.region();
  std::map<std::string, int64_t> by_region;
  for (const auto& c : registry_data_.councils()) {
    std::set<std::string> regions;
    for (const auto& complex : c.complexes()) regions.insert(region_of[complex]);
    for (const auto& r : regions) ++by_region[r];
  }
  for (const auto& [region, n] : by_region) {
    EXPECT_EQ(ValueOf(a.councils_by_region(), region), n) << region;
  }
  EXPECT_EQ(a.councils_by_region_size(), static_cast<int>(by_region.size()));

  // The four cards' reported compositions, as the cards print them.
  struct Card {
    const char* council;
    int64_t total, companies, universities, institutes, agencies;
  };
  for (const Card& card : {Card{kPetrochemical, 103, 73, 6, 7, 17},
                           Card{"councils/special-purpose-ships", 104, 66, 15, 6, 17},
                           Card{"councils/advanced-manufacturing-dx", 126, 95, 11, 4, 16},
                           Card{"councils/gdx-small-medium-ships", 111, 80, 4, 5, 22}}) {
    const v1::MembersOf* m = FindMembers(a.members_by_council(), card.council);
    ASSERT_NE(m, nullptr) << card.council;
    EXPECT_EQ(m->reported().total(), card.total) << card.council;
    EXPECT_EQ(m->reported().companies(), card.companies) << card.council;
    EXPECT_EQ(m->reported().universities(), card.universities) << card.council;
    EXPECT_EQ(m->reported().research_institutes(), card.institutes) << card.council;
    EXPECT_EQ(m->reported().support_agencies(), card.agencies) << card.council;
    EXPECT_EQ(m->reported().others(), 0) << card.council;
  }
  EXPECT_EQ(a.members_by_council_size(), 25);
  // Registered memberships by the organization's kind.
  std::map<std::string, rv1::OrganizationKind> kind_of;
  for (const auto& o : registry_data_.organizations()) kind_of[o.name()] = o.kind();
  std::map<std::string, std::map<rv1::OrganizationKind, int64_t>> registered;
  for (const auto& m : registry_data_.memberships()) {
    registered[m.name().substr(0, m.name().find("/memberships/"))][kind_of[m.organization()]]++;
  }
  for (const auto& [council, kinds] : registered) {
    const v1::MembersOf* m = FindMembers(a.members_by_council(), council);
    ASSERT_NE(m, nullptr) << council;
    int64_t total = 0;
    for (const auto& [kind, n] : kinds) total += n;
    EXPECT_EQ(m->registered().total(), total) << council;
    EXPECT_EQ(m->registered().companies(), kinds.count(rv1::COMPANY) ? kinds.at(rv1::COMPANY) : 0)
        << council;
    EXPECT_EQ(m->registered().support_agencies(),
              kinds.count(rv1::SUPPORT_AGENCY) ? kinds.at(rv1::SUPPORT_AGENCY) : 0)
        << council;
  }
  // Per field: future-mobility holds the two shipbuilding cards (104 + 111).
  const v1::MembersOf* mobility = FindMembers(a.members_by_field(), "fields/future-mobility");
  ASSERT_NE(mobility, nullptr);
  EXPECT_EQ(mobility->reported().total(), 104 + 111);
  const v1::MembersOf* materials = FindMembers(a.members_by_field(), "fields/core-materials");
  ASSERT_NE(materials, nullptr);
  EXPECT_EQ(materials->reported().total(), 103);

  // Activities, as the events data holds them.
  EXPECT_EQ(a.activities(), seeded_activities_);
  std::map<std::string, int64_t> by_kind, by_council;
  for (const auto& act : events_data_.activities()) {
    ++by_kind[ev1::ActivityKind_Name(act.kind())];
    for (const auto& c : act.councils()) ++by_council[c];
  }
  for (const auto& [kind, n] : by_kind) EXPECT_EQ(ValueOf(a.activities_by_kind(), kind), n) << kind;
  EXPECT_EQ(a.activities_by_kind_size(), static_cast<int>(by_kind.size()));
  for (const auto& [council, n] : by_council) {
    EXPECT_EQ(ValueOf(a.activities_by_council(), council), n) << council;
  }
  int64_t by_month_total = 0;
  for (const auto& c : a.activities_by_month()) by_month_total += c.value();
  EXPECT_EQ(by_month_total, seeded_activities_);
  // The forum (2025-07-30 KST) and the maritime week (2025-07-30 WITA); 3 undated.
  EXPECT_EQ(ValueOf(a.activities_by_month(), "2025-07"), 2);
  EXPECT_EQ(ValueOf(a.activities_by_month(), "undated"), 3);

  // Outcomes: 382억 total, 293억 + 24.8억 national, 11억 deal.
  int64_t budget = 0, national = 0, deal = 0;
  for (const auto& o : events_data_.outcomes()) {
    budget += o.total_budget_krw();
    national += o.national_share_krw();
    deal += o.deal_amount_krw();
  }
  EXPECT_EQ(a.outcomes_total().outcomes(), events_data_.outcomes_size());
  EXPECT_EQ(a.outcomes_total().total_budget_krw(), budget);
  EXPECT_EQ(a.outcomes_total().national_share_krw(), national);
  EXPECT_EQ(a.outcomes_total().deal_amount_krw(), deal);
  EXPECT_EQ(a.outcomes_total().total_budget_krw(), 38'200'000'000);
  EXPECT_EQ(a.outcomes_total().national_share_krw(), 29'300'000'000 + 2'480'000'000);
  EXPECT_EQ(a.outcomes_total().deal_amount_krw(), 1'100'000'000);
  EXPECT_EQ(a.outcomes_by_category_size(), 4);
  int64_t category_budget = 0;
  for (const auto& s : a.outcomes_by_category()) {
    category_budget += s.total_budget_krw();
    EXPECT_EQ(s.outcomes(), 1) << s.category();
  }
  EXPECT_EQ(category_budget, budget);
  EXPECT_EQ(a.registrations(), events_data_.registrations_size());

  // What the program reports beside what is counted here.
  std::map<std::string, v1::ReportedVsCounted> rvc;
  for (const auto& r : a.reported_vs_counted()) rvc[r.metric()] = r;
  ASSERT_EQ(rvc.count("councils"), 1u);
  EXPECT_EQ(rvc["councils"].reported(), 25);
  EXPECT_EQ(rvc["councils"].counted(), 25);
  ASSERT_EQ(rvc.count("participating_organizations"), 1u);
  EXPECT_EQ(rvc["participating_organizations"].reported(), 2079);
  EXPECT_EQ(rvc["participating_organizations"].counted(), registry_data_.organizations_size());
  ASSERT_EQ(rvc.count("networking_activities"), 1u);
  EXPECT_EQ(rvc["networking_activities"].reported(), 270);
  EXPECT_TRUE(rvc["networking_activities"].reported_approximate());
  EXPECT_EQ(rvc["networking_activities"].counted(), seeded_activities_);
  ASSERT_EQ(rvc.count("fields"), 1u);
  EXPECT_EQ(rvc["fields"].reported(), 9);
  EXPECT_EQ(rvc["fields"].counted(), 9);

  EXPECT_TRUE(a.has_computed_time());

  // Asking for some metrics returns those only.
  v1::Aggregates some;
  ASSERT_TRUE(GetAggregates(stub.get(), &some, {"councils", "outcomes_total"}).ok());
  EXPECT_EQ(some.councils(), 25);
  EXPECT_EQ(some.outcomes_total().deal_amount_krw(), 1'100'000'000);
  EXPECT_EQ(some.activities(), 0);
  EXPECT_EQ(some.councils_by_field_size(), 0);
}

TEST_F(AnalyticsTest, NetworkHubs) {
  AnalyticsServer* server = StartAnalytics();
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));

  v1::GetNetworkRequest request;
  request.set_top_complexes(4);
  v1::Network network;
  grpc::Status status = stub->GetNetwork(Context().get(), request, &network);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(network.hub_complexes_size(), 4);
  std::vector<std::pair<std::string, int64_t>> hubs;
  for (const auto& c : network.hub_complexes()) hubs.emplace_back(c.label(), c.value());
  EXPECT_THAT(hubs, ElementsAreArray(std::vector<std::pair<std::string, int64_t>>{
                        {"성서일반", 5}, {"미포·온산국가", 5}, {"창원국가", 4}, {"첨단과학국가", 4}}));
  EXPECT_EQ(network.hub_complexes(0).key(), "complexes/seongseo");
  EXPECT_EQ(network.hub_complexes(1).key(), "complexes/ulsan-mipo-onsan");

  // Recount: every council links every pair of its regions.
  std::map<std::string, std::string> region_of;
  for (const auto& c : registry_data_.complexes()) region_of[c.name()] = c.region();
  std::map<std::pair<std::string, std::string>, std::set<std::string>> links;
  for (const auto& c : registry_data_.councils()) {
    std::set<std::string> regions;
    for (const auto& complex : c.complexes()) regions.insert(region_of[complex]);
    for (auto i = regions.begin(); i != regions.end(); ++i) {
      for (auto j = std::next(i); j != regions.end(); ++j) links[{*i, *j}].insert(c.name());
    }
  }
  EXPECT_EQ(network.links_size(), static_cast<int>(links.size()));
  for (const auto& link : network.links()) {
    auto it = links.find({link.region_a(), link.region_b()});
    ASSERT_NE(it, links.end()) << link.region_a() << "-" << link.region_b();
    EXPECT_EQ(std::set<std::string>(link.councils().begin(), link.councils().end()),
              it->second);
  }
  // Default: ten hubs.
  v1::Network ten;
  ASSERT_TRUE(stub->GetNetwork(Context().get(), v1::GetNetworkRequest(), &ten).ok());
  EXPECT_EQ(ten.hub_complexes_size(), 10);
}

TEST_F(AnalyticsTest, ScorecardOfThePetrochemicalCouncil) {
  AnalyticsServer* server = StartAnalytics();
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));

  v1::GetCouncilScorecardRequest request;
  request.set_council(kPetrochemical);
  v1::CouncilScorecard card;
  grpc::Status status = stub->GetCouncilScorecard(Context().get(), request, &card);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(card.council(), kPetrochemical);
  EXPECT_EQ(card.display_name(), "미래형 석유화학 핵심소재 밸류체인");
  EXPECT_EQ(card.field(), "fields/core-materials");
  EXPECT_THAT(card.regions(), ::testing::UnorderedElementsAre("regions/jeonnam", "regions/ulsan"));
  EXPECT_EQ(card.reported_members().total(), 103);
  EXPECT_EQ(card.reported_members().companies(), 73);
  EXPECT_EQ(card.reported_members().universities(), 6);
  EXPECT_EQ(card.reported_members().research_institutes(), 7);
  EXPECT_EQ(card.reported_members().support_agencies(), 17);
  // The host (a support agency) and L社 (a company).
  EXPECT_EQ(card.registered_members().total(), 2);
  EXPECT_EQ(card.registered_members().companies(), 1);
  EXPECT_EQ(card.registered_members().support_agencies(), 1);
  int64_t activities = 0;
  for (const auto& a : events_data_.activities()) {
    activities += std::count(a.councils().begin(), a.councils().end(), kPetrochemical);
  }
  EXPECT_EQ(card.activities(), activities);
  EXPECT_EQ(card.activities(), 2);  // the forum and the NCC joint planning
  EXPECT_EQ(ValueOf(card.activities_by_kind(), "FORUM"), 1);
  EXPECT_EQ(ValueOf(card.activities_by_kind(), "JOINT_PLANNING"), 1);
  EXPECT_EQ(card.registrations(), 0);
  EXPECT_EQ(card.outcomes(), 1);
  ASSERT_EQ(card.outcomes_by_category_size(), 1);
  EXPECT_EQ(card.outcomes_by_category(0).category(), "NATIONAL_PROJECT_SELECTED");
  EXPECT_EQ(card.total_budget_krw(), 38'200'000'000);
  EXPECT_EQ(card.national_share_krw(), 29'300'000'000);
  EXPECT_EQ(card.deal_amount_krw(), 0);
}

// Issue #10 observation 6: a council deleted in the registry had no scorecard any more
// (NOT_FOUND) while activities still named it. Soft-deleted, it keeps its scorecard but
// counts no more: councils, per field, members per council, the network; and a rebuild
// from the services (after Redis lost the state) agrees.
TEST_F(AnalyticsTest, ADeletedCouncilKeepsItsScorecardButCountsNoMore) {
  constexpr char kSmartGreen[] = "councils/smart-green-mobility";  // no memberships
  AnalyticsServer* server = StartAnalytics();
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));

  events::v1::CreateActivityRequest create;
  create.mutable_activity()->set_kind(events::v1::SEMINAR);
  create.mutable_activity()->set_title("모빌리티 세미나");
  create.mutable_activity()->add_councils(kSmartGreen);
  create.set_activity_id("mobility-seminar");
  events::v1::Activity activity;
  ASSERT_TRUE(events_stub_->CreateActivity(Context().get(), create, &activity).ok());
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_ + 1));

  auto registry = rv1::RegistryService::NewStub(sanhak::testing::Connect(registry_->address()));
  rv1::DeleteCouncilRequest del;
  del.set_name(kSmartGreen);
  google::protobuf::Empty empty;
  ASSERT_TRUE(registry->DeleteCouncil(Context().get(), del, &empty).ok());

  int64_t named = 0;
  for (const auto& a : events_data_.activities()) {
    named += std::count(a.councils().begin(), a.councils().end(), kSmartGreen);
  }
  auto check = [&](const v1::Aggregates& a) {
    EXPECT_EQ(a.councils(), 24);
    EXPECT_EQ(ValueOf(a.councils_by_field(), "fields/future-mobility"), 6);
    EXPECT_EQ(ValueOf(a.councils_by_field(), "fields/mobility-automotive"), 3);
    EXPECT_EQ(ValueOf(a.councils_by_forum_session(), "1"), 6);
    for (const auto& m : a.members_by_council()) EXPECT_NE(m.key(), kSmartGreen);
    // Its activities (the seeded forum's and the new one) still count, under its name.
    EXPECT_EQ(ValueOf(a.activities_by_council(), kSmartGreen), named + 1);
    EXPECT_EQ(a.activities(), seeded_activities_ + 1);
    v1::GetCouncilScorecardRequest request;
    request.set_council(kSmartGreen);
    v1::CouncilScorecard card;
    grpc::Status status = stub->GetCouncilScorecard(Context().get(), request, &card);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(card.display_name(), "스마트그린모빌리티");
    EXPECT_EQ(card.activities(), named + 1);
    v1::Network network;
    ASSERT_TRUE(stub->GetNetwork(Context().get(), v1::GetNetworkRequest(), &network).ok());
    for (const auto& link : network.links()) {
      EXPECT_THAT(link.councils(), ::testing::Not(Contains(kSmartGreen)));
    }
  };
  ASSERT_TRUE(WaitUntil([&] {
    v1::Aggregates a;
    return GetAggregates(stub.get(), &a, {"councils"}).ok() && a.councils() == 24;
  }));
  check(MustGetAggregates(stub.get()));

  // The same after a rebuild from the services.
  ASSERT_TRUE(WaitChangesApplied());
  const int64_t rebuilds = server->analytics().stats().rebuilds;
  ASSERT_TRUE(redis_.Command({"FLUSHALL"}).has_value());
  ASSERT_TRUE(WaitUntil([&] { return server->analytics().stats().rebuilds > rebuilds; }));
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_ + 1));
  check(MustGetAggregates(stub.get()));
}

TEST_F(AnalyticsTest, BadRequestsGetTheContractsErrors) {
  AnalyticsServer* server = StartAnalytics();
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));

  v1::GetCouncilScorecardRequest unknown;
  unknown.set_council("councils/no-such-council");
  v1::CouncilScorecard card;
  grpc::Status status = stub->GetCouncilScorecard(Context().get(), unknown, &card);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("councils/no-such-council"));

  v1::GetCouncilScorecardRequest malformed;
  malformed.set_council("fields/display");
  status = stub->GetCouncilScorecard(Context().get(), malformed, &card);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(ViolatedFields(status), Contains("council"));

  v1::Aggregates out;
  status = GetAggregates(stub.get(), &out, {"councils", "no_such_metric"});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("no_such_metric"));
  ASSERT_EQ(ViolatedFields(status).size(), 1u);
  EXPECT_THAT(ViolatedFields(status)[0], StartsWith("metrics"));

  v1::GetNetworkRequest negative;
  negative.set_top_complexes(-1);
  v1::Network network;
  status = stub->GetNetwork(Context().get(), negative, &network);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), Contains("top_complexes"));

  for (const std::string token : {"not a token!", "AAAA", "dzF8ZXBvY2h8LTE"}) {
    WatchClient watch(stub.get(), token);
    ASSERT_TRUE(watch.WaitDone()) << token;
    EXPECT_TRUE(watch.events().empty()) << token;
    EXPECT_EQ(watch.status()->error_code(), grpc::StatusCode::INVALID_ARGUMENT) << token;
    EXPECT_THAT(ViolatedFields(*watch.status()), Contains("resume_token")) << token;
  }
}

// ------------------------------------------------------------------ watching

TEST_F(AnalyticsTest, AWatcherSeesTheSnapshotThenEachChange) {
  AnalyticsServer* server = StartAnalytics();
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));

  WatchClient watch(stub.get(), "");
  ASSERT_TRUE(watch.WaitForSnapshot()) << (watch.status() ? watch.status()->error_message() : "");
  const v1::AggregatesEvent snapshot = watch.events().front();
  EXPECT_FALSE(snapshot.resume_token().empty());
  EXPECT_EQ(snapshot.snapshot().activities(), seeded_activities_);
  EXPECT_EQ(snapshot.snapshot().councils(), 25);

  const std::string name = CreateActivity("watched-exchange");
  ASSERT_TRUE(watch.WaitForUpdates(1));
  const std::vector<v1::AggregatesEvent> events = watch.events();
  ASSERT_GE(events.size(), 2u);
  ASSERT_TRUE(events[1].has_update());
  const v1::AggregatesUpdate& update = events[1].update();
  EXPECT_EQ(update.resource_name(), name);
  EXPECT_THAT(update.change_id(), StartsWith("events-"));
  EXPECT_EQ(ValueAt(update, "activities"), seeded_activities_ + 1);
  EXPECT_THAT(update.changed(), Contains("activities"));
  EXPECT_THAT(update.changed(), Contains("activities_by_kind[TECHNOLOGY_EXCHANGE]"));
  EXPECT_THAT(update.changed(), Contains(absl::StrCat("activities_by_council[", kCouncil, "]")));
  EXPECT_FALSE(events[1].resume_token().empty());
  EXPECT_NE(events[1].resume_token(), snapshot.resume_token());
  EXPECT_EQ(ValueAt(update, absl::StrCat("activities_by_council[", kCouncil, "]")),
            ValueOf(snapshot.snapshot().activities_by_council(), kCouncil) + 1);
  // The update carries only what moved, and the snapshot plus the update is what a
  // unary read returns afterwards.
  EXPECT_EQ(update.values_size(), update.changed_size());
  v1::Aggregates copy = snapshot.snapshot();
  ASSERT_TRUE(ApplyUpdate(update, copy).ok());
  // Unary reads agree.
  EXPECT_TRUE(WaitForActivities(stub.get(), seeded_activities_ + 1));
  std::map<std::string, std::string> copy_labels, read_labels;
  EXPECT_EQ(FlattenAggregates(copy, &copy_labels),
            FlattenAggregates(MustGetAggregates(stub.get()), &read_labels));
  EXPECT_EQ(copy_labels, read_labels);

  // A deletion moves the count back.
  DeleteActivity(name);
  ASSERT_TRUE(watch.WaitForUpdates(2)) << "no update for the deletion of " << name;
  const v1::AggregatesUpdate deleted = watch.updates()[1];
  EXPECT_EQ(deleted.resource_name(), name);
  EXPECT_EQ(ValueAt(deleted, "activities"), seeded_activities_);
  EXPECT_THAT(deleted.changed(), Contains("activities"));
  EXPECT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  EXPECT_EQ(TrueActivityCount(), seeded_activities_);
  EXPECT_FALSE(watch.done());
}

TEST_F(AnalyticsTest, ResumingDeliversExactlyWhatWasMissedThenLiveUpdates) {
  AnalyticsServer* server = StartAnalytics();
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));

  std::string token;
  {
    WatchClient first(stub.get(), "");
    ASSERT_TRUE(first.WaitForSnapshot());
    CreateActivity("before-disconnect");
    ASSERT_TRUE(first.WaitForUpdates(1));
    token = first.last_token();
  }
  const int64_t base = seeded_activities_ + 1;
  // Disconnected: three changes.
  std::vector<std::string> missed;
  for (int i = 0; i < 3; ++i) missed.push_back(CreateActivity(absl::StrCat("missed-", i)));
  ASSERT_TRUE(WaitForActivities(stub.get(), base + 3));

  WatchClient resumed(stub.get(), token);
  ASSERT_TRUE(resumed.WaitForUpdates(3));
  const std::string live = CreateActivity("live-after-resume");
  ASSERT_TRUE(resumed.WaitForUpdates(4));
  const std::vector<v1::AggregatesEvent> events = resumed.events();
  // No snapshot on resume: the three missed, in order, then the live one.
  ASSERT_EQ(events.size(), 4u);
  std::set<std::string> tokens = {token};
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(events[i].has_update()) << i;
    EXPECT_EQ(events[i].update().resource_name(), i < 3 ? missed[i] : live) << i;
    EXPECT_EQ(ValueAt(events[i].update(), "activities"), base + i + 1) << i;
    EXPECT_THAT(events[i].update().changed(), Contains("activities")) << i;
    EXPECT_TRUE(tokens.insert(events[i].resume_token()).second) << "token repeated at " << i;
  }
  // Resuming from the newest token misses nothing and repeats nothing.
  WatchClient current(stub.get(), resumed.last_token());
  const std::string next = CreateActivity("after-second-resume");
  ASSERT_TRUE(current.WaitForUpdates(1));
  ASSERT_EQ(current.events().size(), 1u);
  EXPECT_EQ(current.updates()[0].resource_name(), next);
}

TEST_F(AnalyticsTest, ATokenOlderThanTheKeptUpdatesIsExpired) {
  AnalyticsServer* server =
      StartAnalytics([](AnalyticsConfig& c) { c.engine.updates_kept = 3; });
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  ASSERT_TRUE(WaitChangesApplied());
  ASSERT_TRUE(WaitFollowing(server));

  WatchClient live(stub.get(), "");
  ASSERT_TRUE(live.WaitForSnapshot())
      << (live.status() ? live.status()->error_message() : "still open") << "; "
      << live.events().size() << " events, first: "
      << (live.events().empty() ? "none" : live.events().front().ShortDebugString().substr(0, 300));
  const std::string old_token = live.last_token();
  for (int i = 0; i < 5; ++i) CreateActivity(absl::StrCat("expiring-", i));
  ASSERT_TRUE(live.WaitForUpdates(5));
  const std::vector<v1::AggregatesEvent> events = live.events();
  ASSERT_EQ(events.size(), 6u);

  WatchClient expired(stub.get(), old_token);
  ASSERT_TRUE(expired.WaitDone());
  EXPECT_TRUE(expired.events().empty());
  EXPECT_EQ(expired.status()->error_code(), grpc::StatusCode::OUT_OF_RANGE)
      << expired.status()->error_message();
  EXPECT_EQ(ReasonOf(*expired.status()), "RESUME_TOKEN_EXPIRED");

  // The last three updates are kept: the token of the third resumes with the 4th and 5th.
  WatchClient recent(stub.get(), events[3].resume_token());
  ASSERT_TRUE(recent.WaitForUpdates(2)) << (recent.status() ? recent.status()->error_message() : "");
  ASSERT_EQ(recent.events().size(), 2u);
  EXPECT_EQ(recent.updates()[0].resource_name(), events[4].update().resource_name());
  EXPECT_EQ(recent.updates()[1].resource_name(), events[5].update().resource_name());
}

TEST_F(AnalyticsTest, AQuietWatcherGetsHeartbeatsCarryingTheCurrentToken) {
  AnalyticsServer* server = StartAnalytics(
      [](AnalyticsConfig& c) { c.engine.heartbeat_interval = absl::Milliseconds(300); });
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  ASSERT_TRUE(WaitChangesApplied());

  WatchClient watch(stub.get(), "");
  ASSERT_TRUE(watch.WaitForSnapshot());
  auto heartbeats_after = [](size_t from) {
    return [from](const std::vector<v1::AggregatesEvent>& events) {
      for (size_t i = from; i < events.size(); ++i) {
        if (events[i].has_heartbeat()) return true;
      }
      return false;
    };
  };
  ASSERT_TRUE(watch.WaitFor(heartbeats_after(1), absl::Seconds(10)));
  const std::string name = CreateActivity("between-heartbeats");
  ASSERT_TRUE(watch.WaitForUpdates(1));
  std::vector<v1::AggregatesEvent> events = watch.events();
  size_t update_at = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].has_update()) update_at = i;
  }
  ASSERT_TRUE(watch.WaitFor(heartbeats_after(update_at + 1), absl::Seconds(10)));
  events = watch.events();
  const v1::AggregatesEvent* heartbeat = nullptr;
  for (size_t i = update_at + 1; i < events.size() && heartbeat == nullptr; ++i) {
    if (events[i].has_heartbeat()) heartbeat = &events[i];
  }
  ASSERT_NE(heartbeat, nullptr);
  EXPECT_GT(heartbeat->heartbeat().time().seconds(), 0);
  // Nothing changed since the update: the heartbeat carries the update's token.
  EXPECT_EQ(heartbeat->resume_token(), events[update_at].resume_token());
  EXPECT_EQ(events[update_at].update().resource_name(), name);
  // Resuming from the heartbeat's token repeats nothing.
  WatchClient resumed(stub.get(), heartbeat->resume_token());
  const std::string next = CreateActivity("after-heartbeat");
  ASSERT_TRUE(resumed.WaitForUpdates(1));
  EXPECT_EQ(resumed.updates()[0].resource_name(), next);
  EXPECT_TRUE(resumed.events().front().has_update() || resumed.events().front().has_heartbeat());
}

TEST_F(AnalyticsTest, TwoHundredWatchersAllReceiveTheUpdate) {
  AnalyticsServer* server = StartAnalytics(
      [](AnalyticsConfig& c) { c.server.metrics_listen_address = "127.0.0.1:0"; });
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));

  constexpr int kWatchers = 200;
  std::vector<std::unique_ptr<WatchClient>> watchers;
  for (int i = 0; i < kWatchers; ++i) {
    watchers.push_back(std::make_unique<WatchClient>(stub.get(), ""));
  }
  for (int i = 0; i < kWatchers; ++i) {
    ASSERT_TRUE(watchers[i]->WaitForSnapshot(absl::Seconds(30))) << "watcher " << i;
  }
  EXPECT_EQ(server->analytics().stats().watchers, kWatchers);
  // What a monitoring system scrapes says the same.
  httplib::Client scraper("127.0.0.1", server->metrics_port());
  httplib::Result scraped = scraper.Get("/metrics");
  ASSERT_TRUE(scraped) << httplib::to_string(scraped.error());
  EXPECT_THAT(scraped->body, HasSubstr("\nsanhak_analytics_watchers 200\n"));
  EXPECT_THAT(scraped->body, HasSubstr("\nsanhak_analytics_ready 1\n"));
  EXPECT_THAT(scraped->body,
              HasSubstr("\nsanhak_grpc_server_in_flight{grpc_type=\"server_stream\","
                        "grpc_service=\"sanhak.analytics.v1.AnalyticsService\","
                        "grpc_method=\"WatchAggregates\"} 200\n"));
  const std::string name = CreateActivity("seen-by-all");
  int received = 0;
  for (int i = 0; i < kWatchers; ++i) {
    if (!watchers[i]->WaitForUpdates(1, absl::Seconds(30))) continue;
    const v1::AggregatesUpdate u = watchers[i]->updates()[0];
    received += u.resource_name() == name && ValueAt(u, "activities") == seeded_activities_ + 1;
  }
  EXPECT_EQ(received, kWatchers);
  watchers.clear();
  EXPECT_TRUE(WaitUntil([&] { return server->analytics().stats().watchers == 0; }));
}

// ------------------------------------------------------------------ failures

TEST_F(AnalyticsTest, FlushAllRebuildsTheSameAggregates) {
  AnalyticsServer* server = StartAnalytics();
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  CreateActivity("before-flush");
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_ + 1));
  ASSERT_TRUE(WaitChangesApplied());
  const v1::Aggregates before = MustGetAggregates(stub.get());
  WatchClient watch(stub.get(), "");
  ASSERT_TRUE(watch.WaitForSnapshot());
  const std::string old_token = watch.last_token();
  const int64_t rebuilds = server->analytics().stats().rebuilds;

  auto flushed = redis_.Command({"FLUSHALL"});
  ASSERT_TRUE(flushed.has_value());
  ASSERT_EQ(flushed->type, sanhak::testing::RedisReply::Type::kStatus) << flushed->str;

  ASSERT_TRUE(WaitUntil([&] { return server->analytics().stats().rebuilds > rebuilds; }));
  ASSERT_TRUE(WaitUntil([&] {
    auto epoch = redis_.Command({"GET", "sanhak:analytics:epoch"});
    return epoch && epoch->type == sanhak::testing::RedisReply::Type::kString &&
           server->analytics().stats().redis_reachable;
  }));
  v1::Aggregates after;
  EXPECT_TRUE(WaitUntil([&] {
    after = MustGetAggregates(stub.get());
    return MessageDifferencer::Equals(Comparable(before), Comparable(after));
  })) << Diff(before, after);

  // The old generation's watch ends; its token cannot resume in the new one.
  ASSERT_TRUE(watch.WaitDone());
  EXPECT_FALSE(watch.status()->ok());
  WatchClient stale(stub.get(), old_token);
  ASSERT_TRUE(stale.WaitDone());
  EXPECT_EQ(stale.status()->error_code(), grpc::StatusCode::OUT_OF_RANGE)
      << stale.status()->error_message();
  EXPECT_EQ(ReasonOf(*stale.status()), "RESUME_TOKEN_EXPIRED");

  // And the feed flows again into the rebuilt state.
  WatchClient fresh(stub.get(), "");
  ASSERT_TRUE(fresh.WaitForSnapshot()) << (fresh.status() ? fresh.status()->error_message() : "");
  const std::string name = CreateActivity("after-flush");
  ASSERT_TRUE(fresh.WaitForUpdates(1));
  EXPECT_EQ(fresh.updates()[0].resource_name(), name);
  EXPECT_EQ(ValueAt(fresh.updates()[0], "activities"), seeded_activities_ + 2);
}

TEST_F(AnalyticsTest, WithoutRedisReadsAnswerFromARebuildAndWatchersEnd) {
  AnalyticsServer* server = StartAnalytics();
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  WatchClient watch(stub.get(), "");
  ASSERT_TRUE(watch.WaitForSnapshot());
  const int64_t rebuilds = server->analytics().stats().rebuilds;

  redis_.Kill();
  ASSERT_TRUE(watch.WaitDone());
  EXPECT_EQ(watch.status()->error_code(), grpc::StatusCode::UNAVAILABLE)
      << watch.status()->error_message();

  // A write while Redis is down waits in the events outbox; reads still count it.
  const std::string during = CreateActivity("while-redis-is-down");
  EXPECT_TRUE(WaitForActivities(stub.get(), seeded_activities_ + 1));
  EXPECT_GT(server->analytics().stats().rebuilds, rebuilds);
  EXPECT_FALSE(server->analytics().stats().redis_reachable);
  const v1::Aggregates degraded = MustGetAggregates(stub.get());
  EXPECT_EQ(degraded.councils(), 25);
  EXPECT_EQ(degraded.outcomes_total().total_budget_krw(), 38'200'000'000);
  v1::GetCouncilScorecardRequest request;
  request.set_council(kCouncil);
  v1::CouncilScorecard card;
  grpc::Status status = stub->GetCouncilScorecard(Context().get(), request, &card);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(card.reported_members().total(), 104);
  // A new watch cannot start while Redis is away.
  {
    WatchClient refused(stub.get(), "");
    ASSERT_TRUE(refused.WaitDone());
    EXPECT_EQ(refused.status()->error_code(), grpc::StatusCode::UNAVAILABLE);
  }

  ASSERT_TRUE(redis_.Restart()) << redis_.Log();
  ASSERT_TRUE(WaitUntil([&] { return server->analytics().stats().redis_reachable; }));
  WatchClient again(stub.get(), "");
  ASSERT_TRUE(again.WaitForSnapshot()) << (again.status() ? again.status()->error_message() : "");
  EXPECT_EQ(again.events().front().snapshot().activities(), seeded_activities_ + 1);
  const std::string after = CreateActivity("after-redis-returned");
  ASSERT_TRUE(again.WaitForUpdates(1)) << (again.status() ? again.status()->error_message() : "");
  EXPECT_EQ(again.updates()[0].resource_name(), after);
  EXPECT_EQ(ValueAt(again.updates()[0], "activities"), seeded_activities_ + 2);
}

// The observation: a replica whose Redis state is gone and that cannot rebuild it
// from the services answered UNAVAILABLE to every call while health said SERVING and
// sanhak_analytics_ready was 1. Health must say what the calls will meet.
TEST_F(AnalyticsTest, HealthIsNotServingWhileNoRebuildCanAnswer) {
  AnalyticsServer* server = StartAnalytics([](AnalyticsConfig& config) {
    config.server.health_interval = absl::Milliseconds(100);
    config.engine.rebuild_deadline = absl::Seconds(2);
  });
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  auto health = grpc::health::v1::Health::NewStub(sanhak::testing::Connect(server->address()));
  auto health_of = [&] {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(kAnalyticsServiceName);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = health->Check(Context().get(), request, &response);
    return status.ok() ? response.status() : grpc::health::v1::HealthCheckResponse::UNKNOWN;
  };
  ASSERT_TRUE(WaitUntil([&] { return health_of() == grpc::health::v1::HealthCheckResponse::SERVING; }));
  EXPECT_TRUE(server->analytics().stats().ready);

  // The source of truth goes away, then the state in Redis: nothing can rebuild it.
  const std::string events_address = events_->address();
  events_->Shutdown();
  events_.reset();
  auto flushed = redis_.Command({"FLUSHALL"});
  ASSERT_TRUE(flushed.has_value());

  EXPECT_TRUE(WaitUntil(
      [&] { return health_of() == grpc::health::v1::HealthCheckResponse::NOT_SERVING; }))
      << "health still says " << health_of();
  EXPECT_FALSE(server->analytics().stats().ready);
  v1::Aggregates aggregates;
  grpc::Status refused = GetAggregates(stub.get(), &aggregates);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();

  // The events service returns where it was: the rebuild succeeds and health follows.
  events::EventsConfig ec;
  ec.server.listen_address = events_address;
  ec.server.log_calls = false;
  ec.server.drain_deadline = absl::Seconds(2);
  sanhak::testing::UseTestDatabase(dir_, ec, "events.db");
  ec.registry_address = registry_->address();
  ec.redis_address = redis_.address();
  ec.redis_credentials = RedisCredentials("events");
  auto events = events::EventsServer::Start(ec);
  ASSERT_TRUE(events.ok()) << events.status();
  events_ = *std::move(events);
  EXPECT_TRUE(WaitUntil(
      [&] { return health_of() == grpc::health::v1::HealthCheckResponse::SERVING; },
      absl::Seconds(30)));
  EXPECT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  EXPECT_TRUE(server->analytics().stats().ready);
}

TEST_F(AnalyticsTest, AReplicaKilledMidStreamLosesAndRepeatsNothing) {
  AnalyticsServer* first = StartAnalytics();
  ASSERT_NE(first, nullptr);
  auto first_stub = StubFor(first);
  ASSERT_TRUE(WaitForActivities(first_stub.get(), seeded_activities_));
  ASSERT_TRUE(WaitChangesApplied());
  auto watch = std::make_unique<WatchClient>(first_stub.get(), "");
  ASSERT_TRUE(watch->WaitForSnapshot());

  constexpr int kCreates = 15;
  std::vector<std::string> created(kCreates);
  std::thread creator([&] {
    for (int i = 0; i < kCreates; ++i) created[i] = CreateActivity(absl::StrCat("mid-", i));
  });
  // Mid-stream: after a few updates, the replica goes away.
  const bool some = watch->WaitForUpdates(3);
  first->Shutdown();
  EXPECT_TRUE(some);
  ASSERT_TRUE(watch->WaitDone());
  EXPECT_EQ(watch->status()->error_code(), grpc::StatusCode::UNAVAILABLE);
  std::vector<v1::AggregatesUpdate> seen = watch->updates();
  const std::string token = watch->last_token();

  AnalyticsServer* second = StartAnalytics();
  ASSERT_NE(second, nullptr);
  auto second_stub = StubFor(second);
  creator.join();
  ASSERT_TRUE(WaitUntil([&] { return second->analytics().stats().redis_reachable; }));
  WatchClient resumed(second_stub.get(), token);
  const size_t remaining = kCreates - seen.size();
  ASSERT_TRUE(resumed.WaitForUpdates(remaining))
      << resumed.updates().size() << " of " << remaining << "; "
      << (resumed.status() ? resumed.status()->error_message() : "");
  for (const auto& u : resumed.updates()) seen.push_back(u);

  ASSERT_EQ(seen.size(), static_cast<size_t>(kCreates));
  std::set<std::string> change_ids;
  for (int i = 0; i < kCreates; ++i) {
    EXPECT_EQ(seen[i].resource_name(), created[i]) << i;
    EXPECT_EQ(ValueAt(seen[i], "activities"), seeded_activities_ + i + 1) << i;
    EXPECT_TRUE(change_ids.insert(seen[i].change_id()).second) << seen[i].change_id();
  }
  EXPECT_TRUE(WaitForActivities(second_stub.get(), seeded_activities_ + kCreates));
  EXPECT_EQ(TrueActivityCount(), seeded_activities_ + kCreates);

  // The updates stream holds each change once.
  auto entries = redis_.Command({"XRANGE", "sanhak:analytics:updates", "-", "+"});
  ASSERT_TRUE(entries.has_value());
  std::map<std::string, int> times;
  for (const auto& entry : entries->elements) {
    const auto& kv = entry.elements[1].elements;
    for (size_t i = 0; i + 1 < kv.size(); i += 2) {
      if (kv[i].str != "update") continue;
      v1::AggregatesUpdate u;
      ASSERT_TRUE(u.ParseFromString(kv[i + 1].str));
      if (!u.changed().empty()) ++times[u.change_id()];
    }
  }
  for (const auto& [id, n] : times) EXPECT_EQ(n, 1) << id;
  for (const auto& id : change_ids) EXPECT_EQ(times[id], 1) << id;
}

TEST_F(AnalyticsTest, TwoReplicasDeliverTheSameUpdates) {
  AnalyticsServer* a = StartAnalytics();
  AnalyticsServer* b = StartAnalytics();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto stub_a = StubFor(a);
  auto stub_b = StubFor(b);
  ASSERT_TRUE(WaitForActivities(stub_a.get(), seeded_activities_));
  ASSERT_TRUE(WaitForActivities(stub_b.get(), seeded_activities_));
  ASSERT_TRUE(WaitUntil([&] {
    return a->analytics().stats().redis_reachable && b->analytics().stats().redis_reachable;
  }));
  // One of them applies the change feed.
  EXPECT_TRUE(WaitUntil([&] {
    return a->analytics().stats().leader != b->analytics().stats().leader;
  }));

  WatchClient watch_a(stub_a.get(), "");
  WatchClient watch_b(stub_b.get(), "");
  ASSERT_TRUE(watch_a.WaitForSnapshot());
  ASSERT_TRUE(watch_b.WaitForSnapshot());
  constexpr int kCreates = 5;
  std::vector<std::string> created;
  for (int i = 0; i < kCreates; ++i) created.push_back(CreateActivity(absl::StrCat("both-", i)));
  ASSERT_TRUE(watch_a.WaitForUpdates(kCreates));
  ASSERT_TRUE(watch_b.WaitForUpdates(kCreates));

  auto sequence = [](WatchClient& w) {
    std::vector<std::tuple<std::string, std::string, int64_t>> out;
    for (const auto& e : w.events()) {
      if (e.has_update()) {
        out.emplace_back(e.resume_token(), e.update().change_id(),
                         ValueAt(e.update(), "activities"));
      }
    }
    return out;
  };
  const auto seq_a = sequence(watch_a);
  EXPECT_EQ(seq_a, sequence(watch_b));
  ASSERT_EQ(seq_a.size(), static_cast<size_t>(kCreates));
  for (int i = 0; i < kCreates; ++i) {
    EXPECT_EQ(std::get<2>(seq_a[i]), seeded_activities_ + i + 1);
    EXPECT_EQ(watch_a.updates()[i].resource_name(), created[i]);
  }
  // A token from one replica resumes on the other.
  WatchClient cross(stub_b.get(), std::get<0>(seq_a[1]));
  ASSERT_TRUE(cross.WaitForUpdates(kCreates - 2));
  EXPECT_EQ(cross.updates()[0].resource_name(), created[2]);
}


// applied_sequences lets a reader tell whether its write is in: once the analytics group
// has taken every change record, the aggregates say so, also when the last change moved
// no aggregate (a title edit).
// A leader whose lease another replica has taken writes nothing (the write is fenced on
// the lease), and takes the work up again, losing nothing, once the lease is its own.
TEST_F(AnalyticsTest, ALeaderThatLostItsLeaseWritesNothing) {
  AnalyticsServer* server = StartAnalytics([](AnalyticsConfig& c) {
    c.engine.lease = absl::Seconds(3);
  });
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  ASSERT_TRUE(WaitChangesApplied());
  WatchClient watch(stub.get(), "");
  ASSERT_TRUE(watch.WaitForSnapshot());
  auto updates_len = [&]() -> int64_t {
    auto r = redis_.Command({"XLEN", "sanhak:analytics:updates"});
    return r ? r->integer : -1;
  };
  const int64_t before = updates_len();
  // Another replica takes the lease (as after this one stalled past it).
  auto taken = redis_.Command({"SET", "sanhak:analytics:leader", "intruder", "PX", "2000"});
  ASSERT_TRUE(taken.has_value());
  const std::string name = CreateActivity("while-fenced");
  absl::SleepFor(absl::Milliseconds(800));
  EXPECT_EQ(updates_len(), before) << "a replica without the lease published an update";
  EXPECT_TRUE(watch.updates().empty());
  // The unapplied change shows as stream lag (checked once a second).
  EXPECT_TRUE(WaitUntil([&] { return server->analytics().stats().stream_lag >= 1; },
                        absl::Seconds(5)));
  // The lease expires; the replica takes it back and applies the change once.
  ASSERT_TRUE(watch.WaitForUpdates(1, absl::Seconds(15)))
      << (watch.status() ? watch.status()->error_message() : "");
  EXPECT_EQ(watch.updates()[0].resource_name(), name);
  EXPECT_EQ(ValueAt(watch.updates()[0], "activities"), seeded_activities_ + 1);
  EXPECT_EQ(updates_len(), before + 1);
  EXPECT_TRUE(WaitUntil([&] { return server->analytics().stats().stream_lag == 0; },
                        absl::Seconds(5)));
}

TEST_F(AnalyticsTest, AppliedSequencesReachTheLastChangeTaken) {
  AnalyticsServer* server = StartAnalytics();
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  ASSERT_TRUE(WaitChangesApplied());
  auto last_sequence = [&](const std::string& service) -> int64_t {
    auto last = redis_.Command({"XREVRANGE", "sanhak:changes:" + service, "+", "-", "COUNT", "1"});
    if (!last || last->elements.empty()) return -1;
    const std::string& id = last->elements[0].elements[0].str;
    return std::stoll(id.substr(0, id.find('-')));
  };
  v1::Aggregates a;
  EXPECT_TRUE(WaitUntil([&] {
    a = MustGetAggregates(stub.get());
    return a.applied_sequences().count("events") && a.applied_sequences().count("registry") &&
           a.applied_sequences().at("events") == last_sequence("events") &&
           a.applied_sequences().at("registry") == last_sequence("registry");
  })) << a.ShortDebugString().substr(0, 0) << "events " << a.applied_sequences().count("events")
      << " registry " << a.applied_sequences().count("registry") << " vs stream "
      << last_sequence("events") << "/" << last_sequence("registry");

  // A change that moves no aggregate is still applied.
  ev1::UpdateActivityRequest request;
  request.mutable_activity()->set_name(events_data_.activities(0).name());
  request.mutable_activity()->set_title("제목만 바뀜");
  request.mutable_update_mask()->add_paths("title");
  ev1::Activity out;
  grpc::Status status = events_stub_->UpdateActivity(Context().get(), request, &out);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(WaitChangesApplied());
  const int64_t target = last_sequence("events");
  EXPECT_TRUE(WaitUntil([&] {
    a = MustGetAggregates(stub.get());
    return a.applied_sequences().count("events") && a.applied_sequences().at("events") == target;
  })) << "applied_sequences[events] stays "
      << (a.applied_sequences().count("events") ? a.applied_sequences().at("events") : -1)
      << " after change " << target << " was taken";
}

// A watcher that stops reading is closed once it falls max_watcher_backlog events behind
// (and resumes with its token), rather than buffering without bound.
TEST_F(AnalyticsTest, AWatcherTooFarBehindIsClosed) {
  AnalyticsServer* server =
      StartAnalytics([](AnalyticsConfig& c) { c.engine.max_watcher_backlog = 3; });
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  auto small_window = SmallWindowStubFor(server);
  WatchClient slow(small_window.get(), "", absl::Seconds(120), /*stall_after=*/1);
  ASSERT_TRUE(slow.WaitForSnapshot());

  constexpr int kCreates = 60;
  for (int i = 0; i < kCreates; ++i) CreateActivity(absl::StrCat("flood-", i));
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_ + kCreates, absl::Seconds(60)));
  slow.ResumeReading();
  ASSERT_TRUE(slow.WaitDone()) << "still open with " << slow.updates().size() << " updates";
  EXPECT_EQ(slow.status()->error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_LT(slow.updates().size(), static_cast<size_t>(kCreates));
  // Resuming from its last token delivers the rest, in order.
  const std::vector<v1::AggregatesUpdate> got = slow.updates();
  WatchClient resumed(stub.get(), slow.last_token());
  ASSERT_TRUE(resumed.WaitForUpdates(kCreates - got.size()));
  EXPECT_EQ(ValueAt(resumed.updates().back(), "activities"), seeded_activities_ + kCreates);
}

// A watcher that asked for batches and fell behind gets what it is owed in fewer
// messages: the same updates, in the same order, each batch carrying the token after its
// last update; a watcher that did not ask never sees a batch.
TEST_F(AnalyticsTest, AWatcherThatAcceptsBatchesCatchesUpWithTheSameUpdatesInFewerMessages) {
  AnalyticsServer* server = StartAnalytics();
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  auto small_window = SmallWindowStubFor(server);
  WatchClient reference(stub.get(), "");
  WatchClient batched(small_window.get(), "", absl::Seconds(120), /*stall_after=*/1,
                      /*batches=*/true);
  ASSERT_TRUE(reference.WaitForSnapshot());
  ASSERT_TRUE(batched.WaitForSnapshot());

  constexpr int kCreates = 80;
  for (int i = 0; i < kCreates; ++i) CreateActivity(absl::StrCat("batch-", i));
  ASSERT_TRUE(reference.WaitForUpdates(kCreates, absl::Seconds(60)));
  batched.ResumeReading();
  ASSERT_TRUE(batched.WaitForUpdates(kCreates, absl::Seconds(60)));

  const std::vector<v1::AggregatesUpdate> want = reference.updates();
  const std::vector<v1::AggregatesUpdate> got = batched.updates();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(got[i], want[i])) << "update " << i;
  }
  // The token after each update, as the one-message-apiece watcher saw them.
  std::map<std::string, std::string> token_after;
  for (const v1::AggregatesEvent& e : reference.events()) {
    EXPECT_FALSE(e.has_updates()) << "a watcher that did not ask got a batch";
    if (e.has_update()) token_after[e.update().change_id()] = e.resume_token();
  }
  int batches = 0;
  size_t messages = 0;
  for (const v1::AggregatesEvent& e : batched.events()) {
    if (!e.has_update() && !e.has_updates()) continue;
    ++messages;
    if (!e.has_updates()) continue;
    ++batches;
    ASSERT_GE(e.updates().updates_size(), 2);
    EXPECT_LE(e.updates().updates_size(), 500);
    const std::string& last = e.updates().updates().rbegin()->change_id();
    EXPECT_EQ(e.resume_token(), token_after[last]);
  }
  EXPECT_GE(batches, 1);
  EXPECT_LT(messages, want.size());
  // Its last token resumes exactly after the last update.
  CreateActivity("after-the-batches");
  WatchClient resumed(stub.get(), batched.last_token());
  ASSERT_TRUE(resumed.WaitForUpdates(1));
  EXPECT_EQ(ValueAt(resumed.updates().front(), "activities"), seeded_activities_ + kCreates + 1);
}

// Updates published within the linger of each other reach a watcher that accepts batches
// as one message (the same updates, the token of the last), and one that does not as one
// message each.
TEST_F(AnalyticsTest, UpdatesWithinTheLingerReachABatchWatcherAsOneMessage) {
  AnalyticsServer* server = StartAnalytics(
      [](AnalyticsConfig& c) { c.engine.watch_linger = absl::Milliseconds(1500); });
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  ASSERT_TRUE(WaitChangesApplied());
  ASSERT_TRUE(WaitFollowing(server));
  WatchClient single(stub.get(), "");
  WatchClient batched(stub.get(), "", absl::Seconds(120), /*stall_after=*/0,
                      /*batches=*/true);
  ASSERT_TRUE(single.WaitForSnapshot());
  ASSERT_TRUE(batched.WaitForSnapshot());
  constexpr int kCreates = 3;
  for (int i = 0; i < kCreates; ++i) CreateActivity(absl::StrCat("linger-", i));
  ASSERT_TRUE(single.WaitForUpdates(kCreates));
  ASSERT_TRUE(batched.WaitForUpdates(kCreates));
  std::vector<v1::AggregatesEvent> messages;
  for (const v1::AggregatesEvent& e : batched.events()) {
    if (e.has_update() || e.has_updates()) messages.push_back(e);
  }
  ASSERT_EQ(messages.size(), 1u) << "three updates within 1.5 s: one message";
  ASSERT_EQ(messages[0].updates().updates_size(), kCreates);
  const std::vector<v1::AggregatesUpdate> want = single.updates();
  for (int i = 0; i < kCreates; ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(messages[0].updates().updates(i), want[i]));
  }
  EXPECT_EQ(messages[0].resume_token(), single.last_token());
  int single_messages = 0;
  for (const v1::AggregatesEvent& e : single.events()) {
    EXPECT_FALSE(e.has_updates());
    single_messages += e.has_update();
  }
  EXPECT_EQ(single_messages, kCreates);
}

// With few updates kept, changes arriving in bursts must not be skipped by the follower
// without the watchers knowing: a live watcher either sees every change, in order, or is
// ended so it can resume (and learn that its token expired).
TEST_F(AnalyticsTest, BurstsBeyondTheKeptUpdatesAreNotSilentlySkipped) {
  AnalyticsServer* server =
      StartAnalytics([](AnalyticsConfig& c) { c.engine.updates_kept = 3; });
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_));
  ASSERT_TRUE(WaitChangesApplied());
  ASSERT_TRUE(WaitFollowing(server));
  WatchClient watch(stub.get(), "");
  ASSERT_TRUE(watch.WaitForSnapshot());
  constexpr int kThreads = 4, kEach = 10;
  std::vector<std::thread> creators;
  for (int t = 0; t < kThreads; ++t) {
    creators.emplace_back([this, t] {
      for (int i = 0; i < kEach; ++i) CreateActivity(absl::StrCat("burst-", t, "-", i));
    });
  }
  for (auto& c : creators) c.join();
  ASSERT_TRUE(WaitForActivities(stub.get(), seeded_activities_ + kThreads * kEach));
  ExpectNothingSkipped(watch, stub.get(), seeded_activities_, kThreads * kEach);
}


// The same with a backlog: the leader goes away, changes pile up in the change streams,
// and the other replica takes over and applies them all at once. Its watcher sees every
// change in order, or is ended so it can resume.
TEST_F(AnalyticsTest, ATakeoverWithABacklogSkipsNothingSilently) {
  auto few = [](AnalyticsConfig& c) { c.engine.updates_kept = 3; };
  AnalyticsServer* a = StartAnalytics(few);
  ASSERT_NE(a, nullptr);
  auto stub_a = StubFor(a);
  ASSERT_TRUE(WaitForActivities(stub_a.get(), seeded_activities_));
  ASSERT_TRUE(WaitUntil([&] { return a->analytics().stats().leader; }));
  AnalyticsServer* b = StartAnalytics(few);
  ASSERT_NE(b, nullptr);
  auto stub_b = StubFor(b);
  ASSERT_TRUE(WaitChangesApplied());
  ASSERT_TRUE(WaitFollowing(b));
  WatchClient watch(stub_b.get(), "");
  ASSERT_TRUE(watch.WaitForSnapshot());
  // More watchers make each delivery take longer, as in production.
  std::vector<std::unique_ptr<WatchClient>> others;
  for (int i = 0; i < 200; ++i) others.push_back(std::make_unique<WatchClient>(stub_b.get(), ""));
  for (auto& w : others) ASSERT_TRUE(w->WaitForSnapshot());

  a->Shutdown();
  constexpr int kCreates = 30;
  for (int i = 0; i < kCreates; ++i) CreateActivity(absl::StrCat("backlog-", i));
  ASSERT_TRUE(WaitForActivities(stub_b.get(), seeded_activities_ + kCreates));
  EXPECT_TRUE(b->analytics().stats().leader);
  ExpectNothingSkipped(watch, stub_b.get(), seeded_activities_, kCreates);
}

// One caller cannot hold more watches than its cap (#11): the next is refused at once with
// RESOURCE_EXHAUSTED, reason CALLER_LIMIT and RetryInfo, and is admitted again once one
// of its watches closes. (In-process plaintext calls are all the development caller;
// tests/common/auth shows other callers served meanwhile.)
TEST_F(AnalyticsTest, ACallerOverItsWatchCapIsRefusedUntilOneOfItsWatchesCloses) {
  AnalyticsServer* server =
      StartAnalytics([](AnalyticsConfig& c) { c.engine.max_watches_per_caller = 2; });
  ASSERT_NE(server, nullptr);
  auto stub = StubFor(server);
  auto first = std::make_unique<WatchClient>(stub.get(), "");
  WatchClient second(stub.get(), "");
  ASSERT_TRUE(first->WaitForSnapshot());
  ASSERT_TRUE(second.WaitForSnapshot());

  WatchClient third(stub.get(), "");
  ASSERT_TRUE(third.WaitDone());
  ASSERT_EQ(third.status()->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  absl::Status refused = FromGrpcStatus(*third.status());
  EXPECT_EQ(GetReason(refused), kCallerLimitReason);
  EXPECT_GT(RetryDelayOf(refused), absl::ZeroDuration());
  EXPECT_TRUE(third.events().empty());
  EXPECT_FALSE(second.done());

  first.reset();  // cancels it and waits until the server let go of it
  ASSERT_TRUE(WaitUntil([&] {
    WatchClient again(stub.get(), "");
    return again.WaitForSnapshot(absl::Seconds(5));
  }));
}

}  // namespace
}  // namespace sanhak::analytics
