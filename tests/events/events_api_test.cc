// Every events method over real gRPC on loopback, against real SQLite files and a real
// in-process registry (seeded from data/registry.textproto): what succeeds, what each kind
// of bad input gets back, and that a refused call writes nothing.
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/events/events_fixture.h"

namespace sanhak::events {
namespace {

using ::sanhak::testing::Context;
using ::sanhak::testing::ReasonOf;
using ::sanhak::testing::ViolatedFields;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

// Councils and organizations of data/registry.textproto.
constexpr char kShips[] = "councils/special-purpose-ships";
constexpr char kGdx[] = "councils/gdx-small-medium-ships";
constexpr char kManufacturing[] = "councils/advanced-manufacturing-dx";
constexpr char kPetrochemical[] = "councils/petrochemical-core-materials";
constexpr char kWidetns[] = "organizations/widetns";
constexpr char kKicox[] = "organizations/kicox";


std::vector<std::string> SlotIds(const v1::Activity& a) {
  std::vector<std::string> ids;
  for (const auto& slot : a.timetable()) ids.push_back(slot.id());
  return ids;
}

class EventsApiTest : public EventsFixture {
 protected:
  void SetUp() override { StartServices(); }

  // Adds a slot from `start` to `end` KST.
  static v1::TimetableSlot* AddSlot(v1::Activity& a, const std::string& id, Minute start,
                                    Minute end, const std::string& title, v1::SlotKind kind) {
    v1::TimetableSlot* slot = a.add_timetable();
    slot->set_id(id);
    *slot->mutable_start_time() = At(start);
    *slot->mutable_end_time() = At(end);
    slot->set_title(title);
    slot->set_kind(kind);
    return slot;
  }

  // A seminar of two councils, 2025-09-10 14:00~17:00 KST, with a one-session agenda.
  static v1::Activity ValidActivity() {
    v1::Activity a;
    a.set_kind(v1::SEMINAR);
    a.set_title("조선해양 기술교류 세미나");
    a.add_councils(kShips);
    a.add_councils(kGdx);
    *a.mutable_start_time() = At({2025, 9, 10, 14, 0});
    *a.mutable_end_time() = At({2025, 9, 10, 17, 0});
    a.set_time_zone("Asia/Seoul");
    a.mutable_place()->set_venue("군산국가산단 비즈니스센터");
    a.mutable_place()->set_city("군산");
    a.mutable_place()->set_country("KR");
    a.set_organizer("한국산업단지공단");
    v1::ForumSession* session = a.add_sessions();
    session->set_number(1);
    session->set_title("특수목적선");
    session->add_fields("fields/mobility-shipbuilding");
    session->add_councils(kShips);
    AddSlot(a, "opening", {2025, 9, 10, 14, 0}, {2025, 9, 10, 14, 10}, "개회",
            v1::OPENING);
    AddSlot(a, "session-1", {2025, 9, 10, 14, 10}, {2025, 9, 10, 16, 0},
            "(1세션) 특수목적선", v1::PRESENTATION_SESSION)
        ->set_session_number(1);
    AddSlot(a, "closing", {2025, 9, 10, 16, 0}, {2025, 9, 10, 17, 0}, "폐회", v1::CLOSING);
    a.set_press_open_until_slot("opening");
    return a;
  }

  // An activity with neither times nor agenda.
  static v1::Activity PlainActivity(v1::ActivityKind kind, const std::string& title,
                                    const std::string& council) {
    v1::Activity a;
    a.set_kind(kind);
    a.set_title(title);
    a.add_councils(council);
    return a;
  }

  static v1::Outcome ValidOutcome() {
    v1::Outcome o;
    o.set_council(kManufacturing);
    o.set_category(v1::RND_TASK_SELECTED);
    o.set_title("제조 AI 공동 R&D 과제 선정");
    o.set_description("수요기업과 AI 공급기업이 함께 기획한 과제");
    o.mutable_start_date()->set_year(2025);
    o.mutable_start_date()->set_month(3);
    o.mutable_end_date()->set_year(2025);
    o.mutable_end_date()->set_month(12);
    o.mutable_end_date()->set_day(31);
    o.set_total_budget_krw(1'000'000'000);
    o.set_national_share_krw(800'000'000);
    v1::OutcomeCount* planned = o.add_counts();
    planned->set_metric("tasks_planned");
    planned->set_value(5);
    v1::OutcomeCount* selected = o.add_counts();
    selected->set_metric("rnd_tasks_selected");
    selected->set_value(2);
    return o;
  }

  grpc::Status CreateActivity(const v1::Activity& activity, const std::string& id,
                              v1::Activity* out, const std::string& request_id = "",
                              double deadline_seconds = 10) {
    v1::CreateActivityRequest request;
    *request.mutable_activity() = activity;
    request.set_activity_id(id);
    request.set_request_id(request_id);
    return stub_->CreateActivity(Context(deadline_seconds).get(), request, out);
  }

  // Creates and returns it, failing the test if it cannot.
  v1::Activity MustCreateActivity(const v1::Activity& activity, const std::string& id) {
    v1::Activity out;
    grpc::Status status = CreateActivity(activity, id, &out);
    EXPECT_TRUE(status.ok()) << id << ": " << status.error_message();
    return out;
  }

  v1::Activity GetActivity(const std::string& name) {
    v1::GetActivityRequest request;
    request.set_name(name);
    v1::Activity out;
    grpc::Status status = stub_->GetActivity(Context().get(), request, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    return out;
  }

  v1::ListActivitiesResponse ListActivities(v1::ListActivitiesRequest request) {
    v1::ListActivitiesResponse out;
    grpc::Status status = stub_->ListActivities(Context().get(), request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }

  int ActivityCount() { return ListActivities({}).total_size(); }

  static std::vector<std::string> Names(const v1::ListActivitiesResponse& response) {
    std::vector<std::string> names;
    for (const auto& a : response.activities()) names.push_back(a.name());
    return names;
  }

  grpc::Status CreateRegistration(const std::string& parent, const v1::Registration& r,
                                  v1::Registration* out, const std::string& request_id = "") {
    v1::CreateRegistrationRequest request;
    request.set_parent(parent);
    *request.mutable_registration() = r;
    request.set_request_id(request_id);
    return stub_->CreateRegistration(Context().get(), request, out);
  }

  static v1::Registration OrganizationRegistration(const std::string& organization) {
    v1::Registration r;
    r.set_organization(organization);
    return r;
  }

  static v1::Registration PersonRegistration(const std::string& display_name,
                                             const std::string& contact) {
    v1::Registration r;
    r.mutable_person()->set_display_name(display_name);
    r.mutable_person()->set_affiliation("전남여수산학융합원");
    r.mutable_person()->set_contact(contact);
    return r;
  }

  v1::Registration GetRegistration(const std::string& name) {
    v1::GetRegistrationRequest request;
    request.set_name(name);
    v1::Registration out;
    grpc::Status status = stub_->GetRegistration(Context().get(), request, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    return out;
  }

  v1::ListRegistrationsResponse ListRegistrations(v1::ListRegistrationsRequest request) {
    v1::ListRegistrationsResponse out;
    grpc::Status status = stub_->ListRegistrations(Context().get(), request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }

  int RegistrationCount() {
    v1::ListRegistrationsRequest all;
    all.set_parent("activities/-");
    return ListRegistrations(all).total_size();
  }

  static std::vector<std::string> Names(const v1::ListRegistrationsResponse& response) {
    std::vector<std::string> names;
    for (const auto& r : response.registrations()) names.push_back(r.name());
    return names;
  }

  grpc::Status UpdateRegistrationState(const v1::Registration& current,
                                       v1::RegistrationState state, v1::Registration* out) {
    v1::UpdateRegistrationRequest request;
    request.mutable_registration()->set_name(current.name());
    request.mutable_registration()->set_etag(current.etag());
    request.mutable_registration()->set_state(state);
    request.mutable_update_mask()->add_paths("state");
    return stub_->UpdateRegistration(Context().get(), request, out);
  }

  grpc::Status CreateOutcome(const v1::Outcome& outcome, const std::string& id,
                             v1::Outcome* out, const std::string& request_id = "") {
    v1::CreateOutcomeRequest request;
    *request.mutable_outcome() = outcome;
    request.set_outcome_id(id);
    request.set_request_id(request_id);
    return stub_->CreateOutcome(Context().get(), request, out);
  }

  v1::Outcome GetOutcome(const std::string& name) {
    v1::GetOutcomeRequest request;
    request.set_name(name);
    v1::Outcome out;
    grpc::Status status = stub_->GetOutcome(Context().get(), request, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    return out;
  }

  v1::ListOutcomesResponse ListOutcomes(v1::ListOutcomesRequest request) {
    v1::ListOutcomesResponse out;
    grpc::Status status = stub_->ListOutcomes(Context().get(), request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }

  int OutcomeCount() { return ListOutcomes({}).total_size(); }

  static std::vector<std::string> Names(const v1::ListOutcomesResponse& response) {
    std::vector<std::string> names;
    for (const auto& o : response.outcomes()) names.push_back(o.name());
    return names;
  }
};

// ------------------------------------------------------------------------- activities

TEST_F(EventsApiTest, CreateAndGetActivityRoundTrip) {
  v1::Activity created = MustCreateActivity(ValidActivity(), "ships-seminar");
  EXPECT_EQ(created.name(), "activities/ships-seminar");
  EXPECT_EQ(created.title(), "조선해양 기술교류 세미나");
  EXPECT_THAT(created.councils(), ElementsAre(kShips, kGdx));
  EXPECT_EQ(created.start_time().seconds(), At({2025, 9, 10, 14, 0}).seconds());
  EXPECT_EQ(created.end_time().seconds(), At({2025, 9, 10, 17, 0}).seconds());
  EXPECT_THAT(SlotIds(created), ElementsAre("opening", "session-1", "closing"));
  EXPECT_EQ(created.press_open_until_slot(), "opening");
  EXPECT_EQ(created.registration_count(), 0);
  EXPECT_FALSE(created.etag().empty());
  EXPECT_GT(created.create_time().seconds(), 0);
  EXPECT_GT(created.update_time().seconds(), 0);

  v1::Activity read = GetActivity(created.name());
  EXPECT_EQ(read.SerializeAsString(), created.SerializeAsString());
  EXPECT_EQ(ActivityCount(), 1);
}

TEST_F(EventsApiTest, CreateWithoutIdGeneratesOneAndDefaultsTheTimeZone) {
  v1::Activity a = PlainActivity(v1::TECHNOLOGY_EXCHANGE, "제조 AI 기술교류회", kManufacturing);
  v1::Activity created = MustCreateActivity(a, "");
  EXPECT_THAT(created.name(), StartsWith("activities/activity-"));
  EXPECT_EQ(created.time_zone(), "Asia/Seoul");
  EXPECT_FALSE(created.has_start_time());
  EXPECT_EQ(GetActivity(created.name()).title(), "제조 AI 기술교류회");
}

TEST_F(EventsApiTest, GetMissingOrMalformedActivity) {
  v1::GetActivityRequest request;
  request.set_name("activities/ghost");
  v1::Activity out;
  grpc::Status status = stub_->GetActivity(Context().get(), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_NOT_FOUND");
  for (const std::string name : {"", "activity/x", "activities/Upper", "outcomes/x"}) {
    request.set_name(name);
    status = stub_->GetActivity(Context().get(), request, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name;
    EXPECT_THAT(ViolatedFields(status), ElementsAre("name")) << name;
  }
}

TEST_F(EventsApiTest, CreateWithTakenIdIsAlreadyExistsAndWritesNothing) {
  v1::Activity first = MustCreateActivity(ValidActivity(), "ships-seminar");
  v1::Activity other = ValidActivity();
  other.set_title("다른 세미나");
  v1::Activity out;
  grpc::Status status = CreateActivity(other, "ships-seminar", &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  v1::Activity after = GetActivity(first.name());
  EXPECT_EQ(after.title(), "조선해양 기술교류 세미나");
  EXPECT_EQ(after.etag(), first.etag());
  EXPECT_EQ(ActivityCount(), 1);
}

TEST_F(EventsApiTest, TimetableSlotsGivenOutOfOrderComeBackSortedByStartTime) {
  v1::Activity a = ValidActivity();
  // closing, opening, session-1: the order a spreadsheet export might give.
  std::swap(*a.mutable_timetable(0), *a.mutable_timetable(2));
  std::swap(*a.mutable_timetable(1), *a.mutable_timetable(2));
  ASSERT_THAT(SlotIds(a), ElementsAre("closing", "opening", "session-1"));
  v1::Activity created = MustCreateActivity(a, "ships-seminar");
  EXPECT_THAT(SlotIds(created), ElementsAre("opening", "session-1", "closing"));
  EXPECT_THAT(SlotIds(GetActivity(created.name())),
              ElementsAre("opening", "session-1", "closing"));
  for (int i = 1; i < created.timetable_size(); ++i) {
    EXPECT_LE(created.timetable(i - 1).end_time().seconds(),
              created.timetable(i).start_time().seconds());
  }
}

// Each bad activity: the fields the error must name. Nothing may be written.
struct BadActivityCase {
  std::string label;
  std::function<void(v1::Activity&)> spoil;
  std::vector<std::string> fields;
};

// Drops the agenda so that a change of the activity's own times concerns only them.
void ClearAgenda(v1::Activity& a) {
  a.clear_timetable();
  a.clear_press_open_until_slot();
}

TEST_F(EventsApiTest, InvalidActivitiesAreRefusedNamingEachFieldAndWriteNothing) {
  std::vector<BadActivityCase> cases = {
      {"overlapping slots",
       [](v1::Activity& a) {
         *a.mutable_timetable(1)->mutable_start_time() = At({2025, 9, 10, 14, 5});
       },
       {"activity.timetable[1]"}},
      {"overlap found on a slot given out of order",
       [](v1::Activity& a) {
         std::swap(*a.mutable_timetable(0), *a.mutable_timetable(2));  // closing first
         *a.mutable_timetable(0)->mutable_start_time() = At({2025, 9, 10, 15, 30});
       },
       {"activity.timetable[0]"}},
      {"slot ends before it starts",
       [](v1::Activity& a) {
         *a.mutable_timetable(2)->mutable_end_time() = At({2025, 9, 10, 15, 50});
       },
       {"activity.timetable[2].end_time"}},
      {"slot ends when it starts",
       [](v1::Activity& a) {
         *a.mutable_timetable(2)->mutable_end_time() = At({2025, 9, 10, 16, 0});
       },
       {"activity.timetable[2].end_time"}},
      {"slot after the activity",
       [](v1::Activity& a) {
         *a.mutable_timetable(2)->mutable_end_time() = At({2025, 9, 10, 17, 30});
       },
       {"activity.timetable[2]"}},
      {"slot before the activity",
       [](v1::Activity& a) {
         *a.mutable_timetable(0)->mutable_start_time() = At({2025, 9, 10, 13, 50});
       },
       {"activity.timetable[0]"}},
      {"slots in an undated activity",
       [](v1::Activity& a) {
         a.clear_start_time();
         a.clear_end_time();
       },
       {"activity.timetable[0]", "activity.timetable[1]", "activity.timetable[2]"}},
      {"end_time before start_time",
       [](v1::Activity& a) {
         ClearAgenda(a);
         *a.mutable_end_time() = At({2025, 9, 10, 13, 0});
       },
       {"activity.end_time"}},
      {"end_time equal to start_time",
       [](v1::Activity& a) {
         ClearAgenda(a);
         *a.mutable_end_time() = a.start_time();
       },
       {"activity.end_time"}},
      {"start without end",
       [](v1::Activity& a) {
         ClearAgenda(a);
         a.clear_end_time();
       },
       {"activity.end_time"}},
      {"end without start",
       [](v1::Activity& a) {
         ClearAgenda(a);
         a.clear_start_time();
       },
       {"activity.start_time"}},
      {"unknown time zone", [](v1::Activity& a) { a.set_time_zone("Asia/Atlantis"); },
       {"activity.time_zone"}},
      {"three-letter country", [](v1::Activity& a) { a.mutable_place()->set_country("KOR"); },
       {"activity.place.country"}},
      {"lower-case country", [](v1::Activity& a) { a.mutable_place()->set_country("kr"); },
       {"activity.place.country"}},
      {"session council not among the activity's",
       [](v1::Activity& a) { a.mutable_sessions(0)->add_councils(kManufacturing); },
       {"activity.sessions[0].councils[1]"}},
      {"press_open_until_slot not a slot",
       [](v1::Activity& a) { a.set_press_open_until_slot("lunch"); },
       {"activity.press_open_until_slot"}},
      {"presentation session of an unknown session",
       [](v1::Activity& a) { a.mutable_timetable(1)->set_session_number(5); },
       {"activity.timetable[1].session_number"}},
      {"duplicate session number",
       [](v1::Activity& a) {
         v1::ForumSession* s = a.add_sessions();
         s->set_number(1);
         s->set_title("중복");
       },
       {"activity.sessions[1].number"}},
      {"duplicate slot id", [](v1::Activity& a) { a.mutable_timetable(2)->set_id("opening"); },
       {"activity.timetable[2].id"}},
      {"slot without kind",
       [](v1::Activity& a) { a.mutable_timetable(2)->set_kind(v1::SLOT_KIND_UNSPECIFIED); },
       {"activity.timetable[2].kind"}},
      {"missing kind", [](v1::Activity& a) { a.set_kind(v1::ACTIVITY_KIND_UNSPECIFIED); },
       {"activity.kind"}},
      {"missing title", [](v1::Activity& a) { a.clear_title(); }, {"activity.title"}},
      {"blank title", [](v1::Activity& a) { a.set_title("  "); }, {"activity.title"}},
      {"no councils",
       [](v1::Activity& a) { a.clear_councils(); },
       {"activity.councils", "activity.sessions[0].councils[0]"}},
      {"malformed council", [](v1::Activity& a) { a.add_councils("council/x"); },
       {"activity.councils[2]"}},
      {"council listed twice", [](v1::Activity& a) { a.add_councils(kShips); },
       {"activity.councils[2]"}},
      {"negative attendance", [](v1::Activity& a) { a.set_reported_attendance(-1); },
       {"activity.reported_attendance"}},
      {"several at once",
       [](v1::Activity& a) {
         a.clear_title();
         a.set_time_zone("Mars/Olympus");
         a.mutable_place()->set_country("Korea");
       },
       {"activity.title", "activity.time_zone", "activity.place.country"}},
  };
  for (const BadActivityCase& bad : cases) {
    v1::Activity activity = ValidActivity();
    bad.spoil(activity);
    v1::Activity out;
    grpc::Status status = CreateActivity(activity, "would-be-new", &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.label;
    EXPECT_THAT(ViolatedFields(status), UnorderedElementsAreArray(bad.fields))
        << bad.label << ": " << status.error_message();
    EXPECT_EQ(ReasonOf(status), "INVALID_ARGUMENT") << bad.label;
  }
  EXPECT_EQ(ActivityCount(), 0);
}

// validate_only (AIP-163) runs the registry check and every rule, answers what the
// create would return, and keeps nothing: no activity, no registration, no count moved.
TEST_F(EventsApiTest, ValidateOnlyChecksAgainstTheRegistryAndWritesNothing) {
  v1::CreateActivityRequest request;
  *request.mutable_activity() = ValidActivity();
  request.set_activity_id("checked-only");
  request.set_validate_only(true);
  v1::Activity would_be;
  grpc::Status status = stub_->CreateActivity(Context().get(), request, &would_be);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(would_be.name(), "activities/checked-only");
  EXPECT_EQ(ActivityCount(), 0);

  request.mutable_activity()->add_councils("councils/atlantis");
  status = stub_->CreateActivity(Context().get(), request, &would_be);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("activity.councils[2]"));

  v1::Activity a = MustCreateActivity(ValidActivity(), "ships-seminar");
  v1::CreateRegistrationRequest registration;
  registration.set_parent(a.name());
  *registration.mutable_registration() = OrganizationRegistration(kWidetns);
  registration.set_validate_only(true);
  v1::Registration r;
  ASSERT_TRUE(stub_->CreateRegistration(Context().get(), registration, &r).ok());
  v1::ListRegistrationsRequest list;
  list.set_parent(a.name());
  v1::ListRegistrationsResponse listed;
  ASSERT_TRUE(stub_->ListRegistrations(Context().get(), list, &listed).ok());
  EXPECT_EQ(listed.total_size(), 0);
  v1::GetActivityRequest get;
  get.set_name(a.name());
  v1::Activity stored;
  ASSERT_TRUE(stub_->GetActivity(Context().get(), get, &stored).ok());
  EXPECT_EQ(stored.registration_count(), 0);
  EXPECT_EQ(stored.etag(), a.etag());
}

TEST_F(EventsApiTest, CouncilUnknownToTheRegistryIsInvalidArgumentNamingItsIndex) {
  v1::Activity a = ValidActivity();
  a.add_councils("councils/atlantis");
  v1::Activity out;
  grpc::Status status = CreateActivity(a, "ships-seminar", &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("activity.councils[2]"));
  EXPECT_EQ(ReasonOf(status), "INVALID_ARGUMENT");
  EXPECT_THAT(status.error_message(), HasSubstr("councils/atlantis"));
  EXPECT_THAT(status.error_message(), HasSubstr("does not exist in the registry"));
  EXPECT_EQ(ActivityCount(), 0);
}

TEST_F(EventsApiTest, ListActivitiesFiltersByCouncilKindTimeRangeAndQuery) {
  // seminar:   2025-09-10 14:00~17:00, ships + gdx
  // exchange:  2025-09-11 10:00~12:00, manufacturing
  // mou:       2025-09-10 16:30 ~ 2025-09-11 09:00, ships + manufacturing
  // boat-show: undated, gdx
  MustCreateActivity(ValidActivity(), "seminar");
  v1::Activity exchange =
      PlainActivity(v1::TECHNOLOGY_EXCHANGE, "제조 AI 기술교류회", kManufacturing);
  *exchange.mutable_start_time() = At({2025, 9, 11, 10, 0});
  *exchange.mutable_end_time() = At({2025, 9, 11, 12, 0});
  exchange.mutable_place()->set_city("서울");
  MustCreateActivity(exchange, "exchange");
  v1::Activity mou = PlainActivity(v1::MOU_SIGNING, "조선·제조 협의체 업무협약", kShips);
  mou.add_councils(kManufacturing);
  *mou.mutable_start_time() = At({2025, 9, 10, 16, 30});
  *mou.mutable_end_time() = At({2025, 9, 11, 9, 0});
  MustCreateActivity(mou, "mou");
  v1::Activity boat = PlainActivity(v1::EXHIBITION, "부산국제보트쇼 공동 참여", kGdx);
  boat.mutable_place()->set_city("부산");
  MustCreateActivity(boat, "boat-show");

  EXPECT_THAT(Names(ListActivities({})),
              ElementsAre("activities/boat-show", "activities/exchange", "activities/mou",
                          "activities/seminar"));

  v1::ListActivitiesRequest by_council;
  by_council.set_council(kShips);
  v1::ListActivitiesResponse ships = ListActivities(by_council);
  EXPECT_THAT(Names(ships), ElementsAre("activities/mou", "activities/seminar"));
  EXPECT_EQ(ships.total_size(), 2);
  by_council.set_council(kGdx);
  EXPECT_THAT(Names(ListActivities(by_council)),
              ElementsAre("activities/boat-show", "activities/seminar"));

  v1::ListActivitiesRequest by_kind;
  by_kind.set_kind(v1::TECHNOLOGY_EXCHANGE);
  EXPECT_THAT(Names(ListActivities(by_kind)), ElementsAre("activities/exchange"));
  by_kind.set_kind(v1::FORUM);
  EXPECT_THAT(Names(ListActivities(by_kind)), IsEmpty());

  // [17:00, next day 10:00): the seminar ends at 17:00 and the exchange starts at 10:00,
  // so neither overlaps the half-open range; the mou spans it.
  v1::ListActivitiesRequest night;
  *night.mutable_start_time() = At({2025, 9, 10, 17, 0});
  *night.mutable_end_time() = At({2025, 9, 11, 10, 0});
  v1::ListActivitiesResponse overnight = ListActivities(night);
  EXPECT_THAT(Names(overnight), ElementsAre("activities/mou"));
  EXPECT_EQ(overnight.total_size(), 1);

  // One minute more on each side overlaps all three dated ones; never the undated one.
  v1::ListActivitiesRequest wider;
  *wider.mutable_start_time() = At({2025, 9, 10, 16, 59});
  *wider.mutable_end_time() = At({2025, 9, 11, 10, 1});
  EXPECT_THAT(Names(ListActivities(wider)),
              ElementsAre("activities/exchange", "activities/mou", "activities/seminar"));

  v1::ListActivitiesRequest from_only;
  *from_only.mutable_start_time() = At({2025, 9, 11, 9, 0});
  EXPECT_THAT(Names(ListActivities(from_only)), ElementsAre("activities/exchange"));

  v1::ListActivitiesRequest until_only;
  *until_only.mutable_end_time() = At({2025, 9, 10, 15, 0});
  v1::ListActivitiesResponse afternoon = ListActivities(until_only);
  EXPECT_THAT(Names(afternoon), ElementsAre("activities/seminar"));
  EXPECT_EQ(afternoon.total_size(), 1);

  v1::ListActivitiesRequest all_time;
  *all_time.mutable_start_time() = At({2000, 1, 1, 0, 0});
  *all_time.mutable_end_time() = At({2100, 1, 1, 0, 0});
  EXPECT_EQ(ListActivities(all_time).total_size(), 3);  // the undated boat show is out

  v1::ListActivitiesRequest combined;
  combined.set_council(kShips);
  *combined.mutable_start_time() = At({2025, 9, 10, 17, 0});
  EXPECT_THAT(Names(ListActivities(combined)), ElementsAre("activities/mou"));

  auto query = [&](const std::string& q) {
    v1::ListActivitiesRequest request;
    request.set_query(q);
    return Names(ListActivities(request));
  };
  EXPECT_THAT(query("기술교류"), ElementsAre("activities/exchange", "activities/seminar"));
  EXPECT_THAT(query("기술 교류"), ElementsAre("activities/exchange", "activities/seminar"));
  EXPECT_THAT(query("보트쇼"), ElementsAre("activities/boat-show"));
  EXPECT_THAT(query("부산"), ElementsAre("activities/boat-show"));        // city
  EXPECT_THAT(query("비즈니스센터"), ElementsAre("activities/seminar"));  // venue
  EXPECT_THAT(query("산업단지공단"), ElementsAre("activities/seminar"));  // organizer
  EXPECT_THAT(query("제조 ai"), ElementsAre("activities/exchange"));
  EXPECT_THAT(query("바이오"), IsEmpty());

  v1::ListActivitiesRequest query_and_kind;
  query_and_kind.set_query("기술교류");
  query_and_kind.set_kind(v1::SEMINAR);
  EXPECT_THAT(Names(ListActivities(query_and_kind)), ElementsAre("activities/seminar"));
}

TEST_F(EventsApiTest, BadActivityFiltersNameTheirField) {
  v1::ListActivitiesRequest request;
  request.set_council("council/x");
  *request.mutable_start_time() = At({2025, 9, 11, 0, 0});
  *request.mutable_end_time() = At({2025, 9, 10, 0, 0});
  v1::ListActivitiesResponse out;
  grpc::Status status = stub_->ListActivities(Context().get(), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), UnorderedElementsAre("council", "end_time"));

  v1::ListActivitiesRequest paging;
  paging.set_page_size(-1);
  paging.set_page_token("not-a-token");
  status = stub_->ListActivities(Context().get(), paging, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), UnorderedElementsAre("page_size", "page_token"));
}

TEST_F(EventsApiTest, ActivitiesArePagedWithAndWithoutATimeRange) {
  // a0..a6 on consecutive days from 2025-10-01, plus one undated.
  for (int i = 0; i < 7; ++i) {
    v1::Activity a = PlainActivity(v1::SEMINAR, "정기 세미나", kShips);
    *a.mutable_start_time() = At({2025, 10, 1 + i, 10, 0});
    *a.mutable_end_time() = At({2025, 10, 1 + i, 12, 0});
    MustCreateActivity(a, "a" + std::to_string(i));
  }
  MustCreateActivity(PlainActivity(v1::SEMINAR, "미정 세미나", kShips), "undated");

  auto walk = [&](v1::ListActivitiesRequest request, std::vector<int>* page_sizes) {
    std::vector<std::string> seen;
    request.set_page_size(3);
    do {
      v1::ListActivitiesResponse page = ListActivities(request);
      page_sizes->push_back(page.activities_size());
      for (const auto& a : page.activities()) seen.push_back(a.name());
      request.set_page_token(page.next_page_token());
      if (page_sizes->size() > 10) break;
    } while (!request.page_token().empty());
    return seen;
  };
  std::vector<int> sizes;
  std::vector<std::string> all = walk({}, &sizes);
  EXPECT_THAT(sizes, ElementsAre(3, 3, 2));
  EXPECT_THAT(all, ElementsAre("activities/a0", "activities/a1", "activities/a2",
                               "activities/a3", "activities/a4", "activities/a5",
                               "activities/a6", "activities/undated"));

  // 2025-10-02 11:00 .. 2025-10-06 11:00 overlaps a1..a5.
  v1::ListActivitiesRequest range;
  *range.mutable_start_time() = At({2025, 10, 2, 11, 0});
  *range.mutable_end_time() = At({2025, 10, 6, 11, 0});
  v1::ListActivitiesRequest first_page = range;
  first_page.set_page_size(3);
  EXPECT_EQ(ListActivities(first_page).total_size(), 5);
  sizes.clear();
  EXPECT_THAT(walk(range, &sizes),
              ElementsAre("activities/a1", "activities/a2", "activities/a3",
                          "activities/a4", "activities/a5"));
  EXPECT_THAT(sizes, ElementsAre(3, 2));

  // A token only works with the filters that issued it.
  v1::ListActivitiesResponse page = ListActivities(first_page);
  ASSERT_FALSE(page.next_page_token().empty());
  v1::ListActivitiesRequest other = first_page;
  other.set_page_token(page.next_page_token());
  other.set_kind(v1::FORUM);
  v1::ListActivitiesResponse out;
  grpc::Status status = stub_->ListActivities(Context().get(), other, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("page_token"));
}

TEST_F(EventsApiTest, UpdateActivityChangesOnlyTheMaskedFields) {
  v1::Activity before = MustCreateActivity(ValidActivity(), "ships-seminar");
  v1::UpdateActivityRequest request;
  request.mutable_activity()->set_name(before.name());
  request.mutable_activity()->set_etag(before.etag());
  request.mutable_activity()->set_title("조선해양 기술교류 세미나(변경)");
  request.mutable_activity()->set_reported_attendance(40);  // not in the mask: ignored
  request.mutable_update_mask()->add_paths("title");
  v1::Activity updated;
  grpc::Status status = stub_->UpdateActivity(Context().get(), request, &updated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(updated.title(), "조선해양 기술교류 세미나(변경)");
  EXPECT_EQ(updated.reported_attendance(), 0);
  EXPECT_THAT(updated.councils(), ElementsAre(kShips, kGdx));
  EXPECT_THAT(SlotIds(updated), ElementsAre("opening", "session-1", "closing"));
  EXPECT_NE(updated.etag(), before.etag());
  EXPECT_EQ(GetActivity(before.name()).title(), "조선해양 기술교류 세미나(변경)");

  // A new timetable, out of order, replaces the old one and is sorted.
  v1::UpdateActivityRequest agenda;
  v1::Activity* patch = agenda.mutable_activity();
  patch->set_name(before.name());
  AddSlot(*patch, "qna", {2025, 9, 10, 15, 0}, {2025, 9, 10, 17, 0}, "질의응답",
          v1::PRESENTATION);
  AddSlot(*patch, "opening", {2025, 9, 10, 14, 0}, {2025, 9, 10, 15, 0}, "개회",
          v1::OPENING);
  agenda.mutable_update_mask()->add_paths("timetable");
  ASSERT_TRUE(stub_->UpdateActivity(Context().get(), agenda, &updated).ok());
  EXPECT_THAT(SlotIds(updated), ElementsAre("opening", "qna"));

  // Councils replaced through the mask are checked against the registry.
  v1::UpdateActivityRequest councils;
  councils.mutable_activity()->set_name(before.name());
  councils.mutable_activity()->add_councils(kShips);
  councils.mutable_activity()->add_councils(kManufacturing);
  councils.mutable_update_mask()->add_paths("councils");
  ASSERT_TRUE(stub_->UpdateActivity(Context().get(), councils, &updated).ok());
  EXPECT_THAT(updated.councils(), ElementsAre(kShips, kManufacturing));
  v1::ListActivitiesRequest by_council;
  by_council.set_council(kManufacturing);
  EXPECT_THAT(Names(ListActivities(by_council)), ElementsAre("activities/ships-seminar"));
  by_council.set_council(kGdx);
  EXPECT_THAT(Names(ListActivities(by_council)), IsEmpty());
}

TEST_F(EventsApiTest, InvalidActivityUpdatesWriteNothing) {
  v1::Activity before = MustCreateActivity(ValidActivity(), "ships-seminar");

  v1::UpdateActivityRequest unknown;
  unknown.mutable_activity()->set_name(before.name());
  unknown.mutable_activity()->add_councils(kShips);
  unknown.mutable_activity()->add_councils("councils/atlantis");
  unknown.mutable_update_mask()->add_paths("councils");
  v1::Activity out;
  grpc::Status status = stub_->UpdateActivity(Context().get(), unknown, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("activity.councils[1]"));
  EXPECT_THAT(status.error_message(), HasSubstr("does not exist in the registry"));

  v1::UpdateActivityRequest overlap;
  overlap.mutable_activity()->set_name(before.name());
  AddSlot(*overlap.mutable_activity(), "a", {2025, 9, 10, 14, 0}, {2025, 9, 10, 15, 0}, "가",
          v1::OPENING);
  AddSlot(*overlap.mutable_activity(), "b", {2025, 9, 10, 14, 30}, {2025, 9, 10, 15, 30},
          "나", v1::BREAK);
  overlap.mutable_activity()->set_press_open_until_slot("a");
  overlap.mutable_update_mask()->add_paths("timetable");
  overlap.mutable_update_mask()->add_paths("press_open_until_slot");
  status = stub_->UpdateActivity(Context().get(), overlap, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("activity.timetable[1]"));

  v1::Activity after = GetActivity(before.name());
  EXPECT_EQ(after.etag(), before.etag());
  EXPECT_THAT(after.councils(), ElementsAre(kShips, kGdx));
  EXPECT_THAT(SlotIds(after), ElementsAre("opening", "session-1", "closing"));
}

// A malformed council name in an update is the caller's mistake, not the registry's
// absence: INVALID_ARGUMENT naming the field, as CreateActivity answers it.
TEST_F(EventsApiTest, UpdateWithMalformedCouncilIsInvalidArgument) {
  v1::Activity before = MustCreateActivity(ValidActivity(), "ships-seminar");
  v1::UpdateActivityRequest request;
  request.mutable_activity()->set_name(before.name());
  request.mutable_activity()->add_councils("council/x");
  request.mutable_update_mask()->add_paths("councils");
  v1::Activity out;
  grpc::Status status = stub_->UpdateActivity(Context().get(), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(ViolatedFields(status), ElementsAre("activity.councils[0]"));
  EXPECT_EQ(GetActivity(before.name()).etag(), before.etag());
}

TEST_F(EventsApiTest, StaleEtagIsAbortedAndChangesNothing) {
  v1::Activity before = MustCreateActivity(ValidActivity(), "ships-seminar");
  v1::UpdateActivityRequest first;
  first.mutable_activity()->set_name(before.name());
  first.mutable_activity()->set_etag(before.etag());
  first.mutable_activity()->set_description("첫 번째 수정");
  first.mutable_update_mask()->add_paths("description");
  v1::Activity out;
  ASSERT_TRUE(stub_->UpdateActivity(Context().get(), first, &out).ok());
  const std::string current_etag = out.etag();

  v1::UpdateActivityRequest second = first;  // still carries the old etag
  second.mutable_activity()->set_description("두 번째 수정");
  grpc::Status status = stub_->UpdateActivity(Context().get(), second, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ReasonOf(status), "ETAG_MISMATCH");
  v1::Activity after = GetActivity(before.name());
  EXPECT_EQ(after.description(), "첫 번째 수정");
  EXPECT_EQ(after.etag(), current_etag);

  v1::DeleteActivityRequest del;
  del.set_name(before.name());
  del.set_etag(before.etag());
  google::protobuf::Empty empty;
  status = stub_->DeleteActivity(Context().get(), del, &empty);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ReasonOf(status), "ETAG_MISMATCH");
  EXPECT_EQ(ActivityCount(), 1);
}

TEST_F(EventsApiTest, UpdateMaskMustNameUpdatableActivityFields) {
  v1::Activity before = MustCreateActivity(ValidActivity(), "ships-seminar");
  for (const std::string path : {"name", "etag", "registration_count", "create_time",
                                 "update_time", "no_such_field", "place.no_such_field"}) {
    v1::UpdateActivityRequest request;
    request.mutable_activity()->set_name(before.name());
    request.mutable_activity()->set_registration_count(9);
    request.mutable_update_mask()->add_paths(path);
    v1::Activity out;
    grpc::Status status = stub_->UpdateActivity(Context().get(), request, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << path;
    EXPECT_THAT(ViolatedFields(status), ElementsAre("update_mask")) << path;
  }
  EXPECT_EQ(GetActivity(before.name()).etag(), before.etag());
}

TEST_F(EventsApiTest, UpdateOfMissingActivityIsNotFound) {
  v1::UpdateActivityRequest request;
  request.mutable_activity()->set_name("activities/ghost");
  request.mutable_activity()->set_title("x");
  request.mutable_update_mask()->add_paths("title");
  v1::Activity out;
  EXPECT_EQ(stub_->UpdateActivity(Context().get(), request, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ActivityCount(), 0);
}

TEST_F(EventsApiTest, DeleteActivity) {
  v1::Activity a = MustCreateActivity(ValidActivity(), "ships-seminar");
  google::protobuf::Empty empty;
  v1::DeleteActivityRequest del;
  del.set_name(a.name());
  del.set_etag(a.etag());
  ASSERT_TRUE(stub_->DeleteActivity(Context().get(), del, &empty).ok());
  v1::GetActivityRequest get;
  get.set_name(a.name());
  v1::Activity out;
  EXPECT_EQ(stub_->GetActivity(Context().get(), get, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ActivityCount(), 0);
  grpc::Status again = stub_->DeleteActivity(Context().get(), del, &empty);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(EventsApiTest, ActivityWithRegistrationsOrOutcomesCannotBeDeleted) {
  v1::Activity a = MustCreateActivity(ValidActivity(), "ships-seminar");
  v1::Registration r;
  ASSERT_TRUE(CreateRegistration(a.name(), OrganizationRegistration(kWidetns), &r).ok());

  google::protobuf::Empty empty;
  v1::DeleteActivityRequest del;
  del.set_name(a.name());
  grpc::Status status = stub_->DeleteActivity(Context().get(), del, &empty);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "ACTIVITY_HAS_REGISTRATIONS");
  EXPECT_EQ(ActivityCount(), 1);

  // A cancelled registration still holds the activity.
  ASSERT_TRUE(UpdateRegistrationState(r, v1::CANCELLED, &r).ok());
  EXPECT_EQ(stub_->DeleteActivity(Context().get(), del, &empty).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  v1::DeleteRegistrationRequest del_reg;
  del_reg.set_name(r.name());
  ASSERT_TRUE(stub_->DeleteRegistration(Context().get(), del_reg, &empty).ok());

  v1::Outcome o = ValidOutcome();
  o.set_council(kShips);
  o.set_activity(a.name());
  v1::Outcome created;
  ASSERT_TRUE(CreateOutcome(o, "seminar-outcome", &created).ok());
  status = stub_->DeleteActivity(Context().get(), del, &empty);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "ACTIVITY_HAS_OUTCOMES");
  EXPECT_EQ(GetActivity(a.name()).etag(), a.etag());

  v1::DeleteOutcomeRequest del_outcome;
  del_outcome.set_name(created.name());
  ASSERT_TRUE(stub_->DeleteOutcome(Context().get(), del_outcome, &empty).ok());
  EXPECT_TRUE(stub_->DeleteActivity(Context().get(), del, &empty).ok());
  EXPECT_EQ(ActivityCount(), 0);
}

// ---------------------------------------------------------------------- registrations

TEST_F(EventsApiTest, RegistrationsCrudAndFilters) {
  v1::Activity seminar = MustCreateActivity(ValidActivity(), "seminar");
  v1::Activity exchange = MustCreateActivity(
      PlainActivity(v1::TECHNOLOGY_EXCHANGE, "제조 AI 기술교류회", kManufacturing), "exchange");

  v1::Registration widetns, kicox, person, elsewhere;
  ASSERT_TRUE(CreateRegistration(seminar.name(), OrganizationRegistration(kWidetns), &widetns)
                  .ok());
  EXPECT_EQ(widetns.name(), "activities/seminar/registrations/widetns");
  EXPECT_EQ(widetns.organization(), kWidetns);
  EXPECT_EQ(widetns.state(), v1::REGISTERED);
  EXPECT_FALSE(widetns.has_check_in_time());
  EXPECT_FALSE(widetns.etag().empty());
  EXPECT_GT(widetns.create_time().seconds(), 0);

  v1::CreateRegistrationRequest with_id;
  with_id.set_parent(seminar.name());
  *with_id.mutable_registration() = OrganizationRegistration(kKicox);
  with_id.set_registration_id("kicox-hq");
  ASSERT_TRUE(stub_->CreateRegistration(Context().get(), with_id, &kicox).ok());
  EXPECT_EQ(kicox.name(), "activities/seminar/registrations/kicox-hq");

  ASSERT_TRUE(CreateRegistration(seminar.name(),
                                 PersonRegistration("김창겸", "kim@example.kr"), &person)
                  .ok());
  EXPECT_THAT(person.name(), StartsWith("activities/seminar/registrations/person-"));
  EXPECT_EQ(person.person().display_name(), "김창겸");
  ASSERT_TRUE(
      CreateRegistration(exchange.name(), OrganizationRegistration(kWidetns), &elsewhere).ok());

  v1::Registration read = GetRegistration(person.name());
  EXPECT_EQ(read.SerializeAsString(), person.SerializeAsString());

  ASSERT_TRUE(UpdateRegistrationState(kicox, v1::CHECKED_IN, &kicox).ok());
  ASSERT_TRUE(UpdateRegistrationState(person, v1::CANCELLED, &person).ok());

  v1::ListRegistrationsRequest by_parent;
  by_parent.set_parent(seminar.name());
  v1::ListRegistrationsResponse listed = ListRegistrations(by_parent);
  EXPECT_THAT(Names(listed), UnorderedElementsAre(widetns.name(), kicox.name(), person.name()));
  EXPECT_EQ(listed.total_size(), 3);

  v1::ListRegistrationsRequest all;
  all.set_parent("activities/-");
  EXPECT_EQ(ListRegistrations(all).total_size(), 4);

  v1::ListRegistrationsRequest checked_in = all;
  checked_in.set_state(v1::CHECKED_IN);
  EXPECT_THAT(Names(ListRegistrations(checked_in)), ElementsAre(kicox.name()));
  v1::ListRegistrationsRequest registered = all;
  registered.set_state(v1::REGISTERED);
  EXPECT_THAT(Names(ListRegistrations(registered)),
              ElementsAre(elsewhere.name(), widetns.name()));

  v1::ListRegistrationsRequest by_org = all;
  by_org.set_organization(kWidetns);
  EXPECT_THAT(Names(ListRegistrations(by_org)), ElementsAre(elsewhere.name(), widetns.name()));
  by_org.set_parent(seminar.name());
  EXPECT_THAT(Names(ListRegistrations(by_org)), ElementsAre(widetns.name()));

  v1::ListRegistrationsRequest none;
  none.set_parent("activities/ghost");
  EXPECT_EQ(ListRegistrations(none).total_size(), 0);

  // Not cancelled: widetns and kicox for the seminar, widetns for the exchange.
  EXPECT_EQ(GetActivity(seminar.name()).registration_count(), 2);
  EXPECT_EQ(GetActivity(exchange.name()).registration_count(), 1);
  // A page counts each of its activities as Get does (all of a page's counts are asked
  // at once), on pages of one and of all, and with a time range (which scans).
  v1::ListActivitiesRequest every;
  every.set_page_size(1000);
  v1::ListActivitiesRequest ranged = every;
  ranged.mutable_start_time()->set_seconds(0);
  v1::ListActivitiesRequest one_each;
  one_each.set_page_size(1);
  for (v1::ListActivitiesRequest request : {every, ranged, one_each}) {
    int seen = 0;
    do {
      v1::ListActivitiesResponse page = ListActivities(request);
      for (const v1::Activity& a : page.activities()) {
        EXPECT_EQ(a.registration_count(), GetActivity(a.name()).registration_count()) << a.name();
        seen += a.name() == seminar.name() || a.name() == exchange.name();
      }
      request.set_page_token(page.next_page_token());
    } while (!request.page_token().empty());
    // Both made here in the unranged pages; the dated seminar (two registrations) at
    // least in the ranged ones.
    if (request.has_start_time()) {
      EXPECT_GE(seen, 1);
    } else {
      EXPECT_EQ(seen, 2);
    }
  }

  google::protobuf::Empty empty;
  v1::DeleteRegistrationRequest del;
  del.set_name(widetns.name());
  del.set_etag(widetns.etag());
  ASSERT_TRUE(stub_->DeleteRegistration(Context().get(), del, &empty).ok());
  EXPECT_EQ(GetActivity(seminar.name()).registration_count(), 1);
  v1::GetRegistrationRequest get;
  get.set_name(widetns.name());
  v1::Registration out;
  EXPECT_EQ(stub_->GetRegistration(Context().get(), get, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(stub_->DeleteRegistration(Context().get(), del, &empty).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(RegistrationCount(), 3);
}

TEST_F(EventsApiTest, RegistrationsArePaged) {
  v1::Activity a = MustCreateActivity(ValidActivity(), "seminar");
  for (int i = 0; i < 5; ++i) {
    v1::Registration out;
    ASSERT_TRUE(CreateRegistration(a.name(),
                                   PersonRegistration("참석자", absl::StrCat("p", i, "@x.kr")),
                                   &out)
                    .ok());
  }
  v1::ListRegistrationsRequest request;
  request.set_parent(a.name());
  request.set_page_size(2);
  std::vector<std::string> seen;
  std::vector<int> sizes;
  do {
    v1::ListRegistrationsResponse page = ListRegistrations(request);
    EXPECT_EQ(page.total_size(), 5);
    sizes.push_back(page.registrations_size());
    for (const auto& r : page.registrations()) seen.push_back(r.name());
    request.set_page_token(page.next_page_token());
    if (sizes.size() > 10) break;
  } while (!request.page_token().empty());
  EXPECT_THAT(sizes, ElementsAre(2, 2, 1));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 5u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

TEST_F(EventsApiTest, BadRegistrationFiltersNameTheirField) {
  v1::ListRegistrationsResponse out;
  grpc::Status status = stub_->ListRegistrations(Context().get(), {}, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("parent"));
  v1::ListRegistrationsRequest request;
  request.set_parent("councils/x");
  request.set_organization("org/x");
  status = stub_->ListRegistrations(Context().get(), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), UnorderedElementsAre("parent", "organization"));
}

TEST_F(EventsApiTest, DuplicateRegistrationIsAlreadyRegistered) {
  v1::Activity a = MustCreateActivity(ValidActivity(), "seminar");
  v1::Registration first, out;
  ASSERT_TRUE(CreateRegistration(a.name(), OrganizationRegistration(kWidetns), &first).ok());
  grpc::Status status = CreateRegistration(a.name(), OrganizationRegistration(kWidetns), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ReasonOf(status), "ALREADY_REGISTERED");

  // Under another id: still the same attendee.
  v1::CreateRegistrationRequest other_id;
  other_id.set_parent(a.name());
  *other_id.mutable_registration() = OrganizationRegistration(kWidetns);
  other_id.set_registration_id("widetns-again");
  status = stub_->CreateRegistration(Context().get(), other_id, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ReasonOf(status), "ALREADY_REGISTERED");

  // A person is the same attendee by contact, whatever the name or the spacing and
  // letter case of the contact.
  v1::Registration kim;
  ASSERT_TRUE(
      CreateRegistration(a.name(), PersonRegistration("김창겸", "kim@example.kr"), &kim).ok());
  status = CreateRegistration(a.name(), PersonRegistration("김 사무관", " Kim@Example.KR"),
                              &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ReasonOf(status), "ALREADY_REGISTERED");

  EXPECT_EQ(RegistrationCount(), 2);
  EXPECT_EQ(GetActivity(a.name()).registration_count(), 2);
  EXPECT_EQ(GetRegistration(first.name()).etag(), first.etag());

  // The same organization may attend another activity.
  v1::Activity b = MustCreateActivity(
      PlainActivity(v1::TECHNOLOGY_EXCHANGE, "제조 AI 기술교류회", kManufacturing), "exchange");
  EXPECT_TRUE(CreateRegistration(b.name(), OrganizationRegistration(kWidetns), &out).ok());
}

// "At most one per attendee per activity" holds for updates too: changing a person's
// contact to another registration's must be refused.
TEST_F(EventsApiTest, UpdateCannotMakeTwoRegistrationsOfOneAttendee) {
  v1::Activity a = MustCreateActivity(ValidActivity(), "seminar");
  v1::Registration kim, lee;
  ASSERT_TRUE(
      CreateRegistration(a.name(), PersonRegistration("김창겸", "kim@example.kr"), &kim).ok());
  ASSERT_TRUE(
      CreateRegistration(a.name(), PersonRegistration("이재석", "lee@example.kr"), &lee).ok());
  v1::UpdateRegistrationRequest request;
  request.mutable_registration()->set_name(lee.name());
  *request.mutable_registration()->mutable_person() =
      PersonRegistration("이재석", "kim@example.kr").person();
  request.mutable_update_mask()->add_paths("person");
  v1::Registration out;
  grpc::Status status = stub_->UpdateRegistration(Context().get(), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "ALREADY_REGISTERED");
  v1::Registration after = GetRegistration(lee.name());
  EXPECT_EQ(after.person().contact(), "lee@example.kr");
  EXPECT_EQ(after.etag(), lee.etag());
}

// ------------------------------------------------- references to deleted registry data

// Issue #10 observation 6: a council deleted in the registry keeps being named by what
// named it (and resolves, soft-deleted), but nothing new may name it.
TEST_F(EventsApiTest, ADeletedCouncilKeepsItsActivitiesButNoNewOneMayNameIt) {
  constexpr char kSmartGreen[] = "councils/smart-green-mobility";  // no memberships
  v1::Activity a = MustCreateActivity(
      PlainActivity(v1::SEMINAR, "모빌리티 세미나", kSmartGreen), "mobility-seminar");
  v1::Outcome o = ValidOutcome();
  o.set_council(kSmartGreen);
  v1::Outcome outcome;
  ASSERT_TRUE(CreateOutcome(o, "mobility-outcome", &outcome).ok());

  google::protobuf::Empty empty;
  registry::v1::DeleteCouncilRequest del;
  del.set_name(kSmartGreen);
  ASSERT_TRUE(registry_stub_->DeleteCouncil(Context().get(), del, &empty).ok());
  registry::v1::GetCouncilRequest get;
  get.set_name(kSmartGreen);
  registry::v1::Council council;
  ASSERT_TRUE(registry_stub_->GetCouncil(Context().get(), get, &council).ok());
  EXPECT_TRUE(council.has_delete_time());

  // What named it is untouched and still lists by it.
  EXPECT_THAT(GetActivity(a.name()).councils(), ElementsAre(kSmartGreen));
  v1::ListActivitiesRequest by_council;
  by_council.set_council(kSmartGreen);
  EXPECT_THAT(Names(ListActivities(by_council)), ElementsAre(a.name()));
  EXPECT_EQ(GetOutcome(outcome.name()).council(), kSmartGreen);

  // Nothing new may name it.
  v1::Activity out;
  grpc::Status status = CreateActivity(
      PlainActivity(v1::SEMINAR, "또 다른 세미나", kSmartGreen), "another-seminar", &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_DELETED");
  EXPECT_THAT(status.error_message(), HasSubstr(kSmartGreen));
  EXPECT_THAT(status.error_message(), HasSubstr("activity.councils[0]"));
  v1::Outcome new_outcome;
  status = CreateOutcome(o, "another-outcome", &new_outcome);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_DELETED");
  v1::UpdateActivityRequest move;
  move.mutable_activity()->set_name("activities/mobility-seminar");
  move.mutable_activity()->add_councils(kShips);
  move.mutable_activity()->add_councils(kSmartGreen);
  move.mutable_update_mask()->add_paths("councils");
  status = stub_->UpdateActivity(Context().get(), move, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ActivityCount(), 1);
  EXPECT_EQ(OutcomeCount(), 1);
  EXPECT_EQ(GetActivity(a.name()).etag(), a.etag());

  // An update that leaves the councils alone goes through.
  v1::UpdateActivityRequest retitle;
  retitle.mutable_activity()->set_name(a.name());
  retitle.mutable_activity()->set_title("모빌리티 세미나 (종료)");
  retitle.mutable_update_mask()->add_paths("title");
  ASSERT_TRUE(stub_->UpdateActivity(Context().get(), retitle, &out).ok());
  EXPECT_THAT(out.councils(), ElementsAre(kSmartGreen));
}

TEST_F(EventsApiTest, ADeletedOrganizationMayNotBeRegisteredAnew) {
  v1::Activity a = MustCreateActivity(ValidActivity(), "seminar");
  google::protobuf::Empty empty;
  registry::v1::DeleteOrganizationRequest del;
  del.set_name(kKicox);
  ASSERT_TRUE(registry_stub_->DeleteOrganization(Context().get(), del, &empty).ok());
  v1::Registration out;
  grpc::Status status = CreateRegistration(a.name(), OrganizationRegistration(kKicox), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_DELETED");
  EXPECT_THAT(status.error_message(), HasSubstr(kKicox));
  EXPECT_EQ(RegistrationCount(), 0);
}

TEST_F(EventsApiTest, EveryDeleteChecksItsEtag) {
  v1::Activity a = MustCreateActivity(ValidActivity(), "seminar");
  google::protobuf::Empty empty;
  v1::DeleteActivityRequest del;
  del.set_name(a.name());
  del.set_etag("0");
  grpc::Status status = stub_->DeleteActivity(Context().get(), del, &empty);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ReasonOf(status), "ETAG_MISMATCH");
  EXPECT_EQ(ActivityCount(), 1);

  v1::Outcome outcome;
  ASSERT_TRUE(CreateOutcome(ValidOutcome(), "o", &outcome).ok());
  v1::DeleteOutcomeRequest del_outcome;
  del_outcome.set_name(outcome.name());
  del_outcome.set_etag("0");
  status = stub_->DeleteOutcome(Context().get(), del_outcome, &empty);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(OutcomeCount(), 1);
  del_outcome.set_etag(outcome.etag());
  EXPECT_TRUE(stub_->DeleteOutcome(Context().get(), del_outcome, &empty).ok());

  v1::Registration r;
  ASSERT_TRUE(CreateRegistration(a.name(), OrganizationRegistration(kWidetns), &r).ok());
  v1::DeleteRegistrationRequest del_registration;
  del_registration.set_name(r.name());
  del_registration.set_etag("0");
  status = stub_->DeleteRegistration(Context().get(), del_registration, &empty);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(RegistrationCount(), 1);

  del.set_etag(a.etag());
  status = stub_->DeleteActivity(Context().get(), del, &empty);  // registrations remain
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

// Issue #10 observation 7: a replay of a create whose resource was deleted since answered
// the deleted resource as if just created.
TEST_F(EventsApiTest, RequestIdReplayedAfterTheActivityWasDeletedIsRefused) {
  v1::CreateActivityRequest create;
  *create.mutable_activity() = ValidActivity();
  create.set_request_id("req-seminar");
  v1::Activity first;
  ASSERT_TRUE(stub_->CreateActivity(Context().get(), create, &first).ok());
  google::protobuf::Empty empty;
  v1::DeleteActivityRequest del;
  del.set_name(first.name());
  ASSERT_TRUE(stub_->DeleteActivity(Context().get(), del, &empty).ok());
  v1::Activity again;
  grpc::Status status = stub_->CreateActivity(Context().get(), create, &again);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_DELETED");
  EXPECT_THAT(status.error_message(), HasSubstr(first.name()));
  EXPECT_EQ(ActivityCount(), 0);
}

TEST_F(EventsApiTest, RegistrationOfUnknownOrganizationOrMissingActivity) {
  v1::Activity a = MustCreateActivity(ValidActivity(), "seminar");
  v1::Registration out;
  grpc::Status status =
      CreateRegistration(a.name(), OrganizationRegistration("organizations/nobody"), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("registration.organization"));
  EXPECT_THAT(status.error_message(), HasSubstr("does not exist in the registry"));

  status = CreateRegistration("activities/ghost", OrganizationRegistration(kWidetns), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_NOT_FOUND");

  status = CreateRegistration("councils/x", OrganizationRegistration(kWidetns), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("parent"));

  status = CreateRegistration(a.name(), v1::Registration(), &out);  // no attendee
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("registration.organization"));

  status = CreateRegistration(a.name(), PersonRegistration("김창겸", ""), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("registration.person.contact"));

  status = CreateRegistration(a.name(), OrganizationRegistration("organization/x"), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("registration.organization"));

  EXPECT_EQ(RegistrationCount(), 0);
  EXPECT_EQ(GetActivity(a.name()).etag(), a.etag());
}

// check_in_time is output only: the time a caller sends on a create is not kept.
TEST_F(EventsApiTest, ACheckInTimeACallerSendsIsIgnored) {
  v1::Activity a = MustCreateActivity(ValidActivity(), "seminar");
  v1::Registration forged = OrganizationRegistration(kWidetns);
  forged.set_state(v1::CHECKED_IN);
  forged.mutable_check_in_time()->set_seconds(978307200);  // 2001-01-01
  const int64_t before = absl::ToUnixSeconds(absl::Now()) - 1;
  v1::Registration r;
  grpc::Status status = CreateRegistration(a.name(), forged, &r);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(r.state(), v1::CHECKED_IN);
  EXPECT_GE(r.check_in_time().seconds(), before);
  EXPECT_EQ(GetRegistration(r.name()).check_in_time().seconds(), r.check_in_time().seconds());
}

TEST_F(EventsApiTest, RegistrationStateTransitions) {
  v1::Activity a = MustCreateActivity(ValidActivity(), "seminar");
  v1::Registration r;
  ASSERT_TRUE(CreateRegistration(a.name(), OrganizationRegistration(kWidetns), &r).ok());
  EXPECT_EQ(GetActivity(a.name()).registration_count(), 1);

  const int64_t before_check_in = absl::ToUnixSeconds(absl::Now()) - 1;
  v1::Registration checked_in;
  grpc::Status status = UpdateRegistrationState(r, v1::CHECKED_IN, &checked_in);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(checked_in.state(), v1::CHECKED_IN);
  ASSERT_TRUE(checked_in.has_check_in_time());
  EXPECT_GE(checked_in.check_in_time().seconds(), before_check_in);
  EXPECT_LE(checked_in.check_in_time().seconds(), absl::ToUnixSeconds(absl::Now()) + 1);
  EXPECT_NE(checked_in.etag(), r.etag());
  EXPECT_EQ(GetRegistration(r.name()).check_in_time().seconds(),
            checked_in.check_in_time().seconds());
  EXPECT_EQ(GetActivity(a.name()).registration_count(), 1);

  v1::Registration out;
  status = UpdateRegistrationState(checked_in, v1::REGISTERED, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "INVALID_STATE_TRANSITION");
  v1::Registration after = GetRegistration(r.name());
  EXPECT_EQ(after.state(), v1::CHECKED_IN);
  EXPECT_EQ(after.etag(), checked_in.etag());

  v1::Registration cancelled;
  ASSERT_TRUE(UpdateRegistrationState(checked_in, v1::CANCELLED, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), v1::CANCELLED);
  EXPECT_EQ(GetActivity(a.name()).registration_count(), 0);
  v1::ListRegistrationsRequest cancelled_ones;
  cancelled_ones.set_parent("activities/-");
  cancelled_ones.set_state(v1::CANCELLED);
  EXPECT_THAT(Names(ListRegistrations(cancelled_ones)), ElementsAre(r.name()));

  // A cancelled one may register again, and then counts again.
  v1::Registration again;
  ASSERT_TRUE(UpdateRegistrationState(cancelled, v1::REGISTERED, &again).ok());
  EXPECT_EQ(GetActivity(a.name()).registration_count(), 1);
}

TEST_F(EventsApiTest, UpdateMaskMustNameUpdatableRegistrationFields) {
  v1::Activity a = MustCreateActivity(ValidActivity(), "seminar");
  v1::Registration r;
  ASSERT_TRUE(CreateRegistration(a.name(), OrganizationRegistration(kWidetns), &r).ok());
  for (const std::string path : {"name", "organization", "check_in_time", "etag"}) {
    v1::UpdateRegistrationRequest request;
    request.mutable_registration()->set_name(r.name());
    request.mutable_registration()->set_organization(kKicox);
    request.mutable_update_mask()->add_paths(path);
    v1::Registration out;
    grpc::Status status = stub_->UpdateRegistration(Context().get(), request, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << path;
    EXPECT_THAT(ViolatedFields(status), ElementsAre("update_mask")) << path;
  }
  v1::Registration after = GetRegistration(r.name());
  EXPECT_EQ(after.organization(), kWidetns);
  EXPECT_EQ(after.etag(), r.etag());

  v1::Registration newer;
  ASSERT_TRUE(UpdateRegistrationState(r, v1::CHECKED_IN, &newer).ok());
  v1::Registration out;
  grpc::Status stale = UpdateRegistrationState(r, v1::CANCELLED, &out);  // r's old etag
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ReasonOf(stale), "ETAG_MISMATCH");
  EXPECT_EQ(GetRegistration(r.name()).state(), v1::CHECKED_IN);
}

// ------------------------------------------------------------------------- outcomes

TEST_F(EventsApiTest, OutcomesCrudAndFilters) {
  v1::Activity a = MustCreateActivity(
      PlainActivity(v1::JOINT_PLANNING, "AX 과제 공동 발굴·기획", kManufacturing), "ax-planning");
  v1::Outcome rnd = ValidOutcome();
  rnd.set_activity(a.name());
  v1::Outcome created;
  ASSERT_TRUE(CreateOutcome(rnd, "ax-tasks", &created).ok());
  EXPECT_EQ(created.name(), "outcomes/ax-tasks");
  EXPECT_EQ(created.total_budget_krw(), 1'000'000'000);
  EXPECT_EQ(created.national_share_krw(), 800'000'000);
  EXPECT_FALSE(created.has_deal_amount_krw());
  ASSERT_EQ(created.counts_size(), 2);
  EXPECT_EQ(created.counts(0).metric(), "tasks_planned");
  EXPECT_EQ(created.counts(0).value(), 5);
  EXPECT_FALSE(created.etag().empty());
  EXPECT_EQ(GetOutcome(created.name()).SerializeAsString(), created.SerializeAsString());

  v1::Outcome deal;
  deal.set_council(kGdx);
  deal.set_category(v1::EXPORT_DEAL);
  deal.set_title("보트쇼 수출판로 개척");
  deal.set_deal_amount_krw(1'100'000'000);
  v1::Outcome deal_out;
  ASSERT_TRUE(CreateOutcome(deal, "boat-deal", &deal_out).ok());
  EXPECT_FALSE(deal_out.has_total_budget_krw());
  EXPECT_EQ(deal_out.deal_amount_krw(), 1'100'000'000);

  v1::Outcome mou;
  mou.set_council(kGdx);
  mou.set_category(v1::MOU_SIGNED);
  mou.set_title("해양레저 업무협약");
  mou.mutable_start_date()->set_year(2025);
  mou.mutable_start_date()->set_month(7);
  mou.mutable_start_date()->set_day(30);
  v1::Outcome generated;
  ASSERT_TRUE(CreateOutcome(mou, "", &generated).ok());
  EXPECT_THAT(generated.name(), StartsWith("outcomes/outcome-"));

  EXPECT_EQ(OutcomeCount(), 3);
  v1::ListOutcomesRequest by_council;
  by_council.set_council(kGdx);
  v1::ListOutcomesResponse gdx = ListOutcomes(by_council);
  EXPECT_THAT(Names(gdx), UnorderedElementsAre("outcomes/boat-deal", generated.name()));
  EXPECT_EQ(gdx.total_size(), 2);
  v1::ListOutcomesRequest by_category;
  by_category.set_category(v1::RND_TASK_SELECTED);
  EXPECT_THAT(Names(ListOutcomes(by_category)), ElementsAre("outcomes/ax-tasks"));
  by_category.set_council(kGdx);
  EXPECT_THAT(Names(ListOutcomes(by_category)), IsEmpty());
  v1::ListOutcomesRequest by_query;
  by_query.set_query("수출판로");
  EXPECT_THAT(Names(ListOutcomes(by_query)), ElementsAre("outcomes/boat-deal"));
  by_query.set_query("r&d");
  EXPECT_THAT(Names(ListOutcomes(by_query)), ElementsAre("outcomes/ax-tasks"));

  v1::ListOutcomesRequest paged;
  paged.set_page_size(2);
  v1::ListOutcomesResponse first = ListOutcomes(paged);
  EXPECT_EQ(first.outcomes_size(), 2);
  EXPECT_EQ(first.total_size(), 3);
  ASSERT_FALSE(first.next_page_token().empty());
  paged.set_page_token(first.next_page_token());
  v1::ListOutcomesResponse second = ListOutcomes(paged);
  EXPECT_EQ(second.outcomes_size(), 1);
  EXPECT_TRUE(second.next_page_token().empty());
  std::vector<std::string> all = Names(first);
  all.push_back(second.outcomes(0).name());
  EXPECT_THAT(all, UnorderedElementsAre("outcomes/ax-tasks", "outcomes/boat-deal",
                                        generated.name()));

  v1::UpdateOutcomeRequest update;
  update.mutable_outcome()->set_name(created.name());
  update.mutable_outcome()->set_etag(created.etag());
  update.mutable_outcome()->set_national_share_krw(900'000'000);
  update.mutable_outcome()->set_title("무시됨");  // not in the mask
  update.mutable_update_mask()->add_paths("national_share_krw");
  v1::Outcome updated;
  ASSERT_TRUE(stub_->UpdateOutcome(Context().get(), update, &updated).ok());
  EXPECT_EQ(updated.national_share_krw(), 900'000'000);
  EXPECT_EQ(updated.title(), rnd.title());
  EXPECT_NE(updated.etag(), created.etag());

  google::protobuf::Empty empty;
  v1::DeleteOutcomeRequest del;
  del.set_name(created.name());
  del.set_etag(created.etag());  // stale
  grpc::Status status = stub_->DeleteOutcome(Context().get(), del, &empty);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  del.set_etag(updated.etag());
  ASSERT_TRUE(stub_->DeleteOutcome(Context().get(), del, &empty).ok());
  v1::GetOutcomeRequest get;
  get.set_name(created.name());
  v1::Outcome out;
  EXPECT_EQ(stub_->GetOutcome(Context().get(), get, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(OutcomeCount(), 2);
}

struct BadOutcomeCase {
  std::string label;
  std::function<void(v1::Outcome&)> spoil;
  std::vector<std::string> fields;
};

TEST_F(EventsApiTest, InvalidOutcomesAreRefusedNamingEachFieldAndWriteNothing) {
  MustCreateActivity(PlainActivity(v1::JOINT_PLANNING, "AX 과제 공동 발굴·기획", kManufacturing),
                     "ax-planning");
  std::vector<BadOutcomeCase> cases = {
      {"national share above the total",
       [](v1::Outcome& o) { o.set_national_share_krw(1'200'000'000); },
       {"outcome.national_share_krw"}},
      {"negative deal amount", [](v1::Outcome& o) { o.set_deal_amount_krw(-1); },
       {"outcome.deal_amount_krw"}},
      {"negative national share", [](v1::Outcome& o) { o.set_national_share_krw(-5); },
       {"outcome.national_share_krw"}},
      {"negative total",
       [](v1::Outcome& o) {
         o.clear_national_share_krw();
         o.set_total_budget_krw(-100);
       },
       {"outcome.total_budget_krw"}},
      {"negative count", [](v1::Outcome& o) { o.mutable_counts(1)->set_value(-3); },
       {"outcome.counts[1].value"}},
      {"end_date before start_date",
       [](v1::Outcome& o) {
         o.mutable_end_date()->set_year(2024);
         o.mutable_end_date()->set_month(12);
       },
       {"outcome.end_date"}},
      {"period without start", [](v1::Outcome& o) { o.clear_start_date(); },
       {"outcome.start_date"}},
      {"month 13", [](v1::Outcome& o) { o.mutable_end_date()->set_month(13); },
       {"outcome.end_date"}},
      {"duplicate count metric",
       [](v1::Outcome& o) { o.mutable_counts(1)->set_metric("tasks_planned"); },
       {"outcome.counts[1].metric"}},
      {"count without metric", [](v1::Outcome& o) { o.mutable_counts(0)->clear_metric(); },
       {"outcome.counts[0].metric"}},
      {"unknown activity", [](v1::Outcome& o) { o.set_activity("activities/ghost"); },
       {"outcome.activity"}},
      {"malformed activity", [](v1::Outcome& o) { o.set_activity("events/ax-planning"); },
       {"outcome.activity"}},
      {"missing category",
       [](v1::Outcome& o) { o.set_category(v1::OUTCOME_CATEGORY_UNSPECIFIED); },
       {"outcome.category"}},
      {"missing title", [](v1::Outcome& o) { o.clear_title(); }, {"outcome.title"}},
      {"missing council", [](v1::Outcome& o) { o.clear_council(); }, {"outcome.council"}},
      {"council unknown to the registry",
       [](v1::Outcome& o) { o.set_council("councils/atlantis"); }, {"outcome.council"}},
      {"several at once",
       [](v1::Outcome& o) {
         o.clear_title();
         o.set_category(v1::OUTCOME_CATEGORY_UNSPECIFIED);
         o.set_deal_amount_krw(-1);
       },
       {"outcome.title", "outcome.category", "outcome.deal_amount_krw"}},
  };
  for (const BadOutcomeCase& bad : cases) {
    v1::Outcome outcome = ValidOutcome();
    outcome.set_activity("activities/ax-planning");
    bad.spoil(outcome);
    v1::Outcome out;
    grpc::Status status = CreateOutcome(outcome, "would-be-new", &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.label;
    EXPECT_THAT(ViolatedFields(status), UnorderedElementsAreArray(bad.fields))
        << bad.label << ": " << status.error_message();
    EXPECT_EQ(ReasonOf(status), "INVALID_ARGUMENT") << bad.label;
  }
  EXPECT_EQ(OutcomeCount(), 0);
}

TEST_F(EventsApiTest, InvalidOutcomeUpdatesWriteNothing) {
  v1::Outcome created;
  ASSERT_TRUE(CreateOutcome(ValidOutcome(), "ax-tasks", &created).ok());

  v1::UpdateOutcomeRequest above;
  above.mutable_outcome()->set_name(created.name());
  above.mutable_outcome()->set_national_share_krw(2'000'000'000);
  above.mutable_update_mask()->add_paths("national_share_krw");
  v1::Outcome out;
  grpc::Status status = stub_->UpdateOutcome(Context().get(), above, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("outcome.national_share_krw"));

  v1::UpdateOutcomeRequest council;
  council.mutable_outcome()->set_name(created.name());
  council.mutable_outcome()->set_council("councils/atlantis");
  council.mutable_update_mask()->add_paths("council");
  status = stub_->UpdateOutcome(Context().get(), council, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("outcome.council"));

  for (const std::string path : {"name", "etag", "create_time"}) {
    v1::UpdateOutcomeRequest immutable;
    immutable.mutable_outcome()->set_name(created.name());
    immutable.mutable_update_mask()->add_paths(path);
    status = stub_->UpdateOutcome(Context().get(), immutable, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << path;
    EXPECT_THAT(ViolatedFields(status), ElementsAre("update_mask")) << path;
  }

  v1::Outcome after = GetOutcome(created.name());
  EXPECT_EQ(after.etag(), created.etag());
  EXPECT_EQ(after.national_share_krw(), 800'000'000);
  EXPECT_EQ(after.council(), kManufacturing);
}

// As for activities: a malformed council in an outcome update is INVALID_ARGUMENT.
TEST_F(EventsApiTest, OutcomeUpdateWithMalformedCouncilIsInvalidArgument) {
  v1::Outcome created;
  ASSERT_TRUE(CreateOutcome(ValidOutcome(), "ax-tasks", &created).ok());
  v1::UpdateOutcomeRequest request;
  request.mutable_outcome()->set_name(created.name());
  request.mutable_outcome()->set_council("council/x");
  request.mutable_update_mask()->add_paths("council");
  v1::Outcome out;
  grpc::Status status = stub_->UpdateOutcome(Context().get(), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(ViolatedFields(status), ElementsAre("outcome.council"));
  EXPECT_EQ(GetOutcome(created.name()).etag(), created.etag());
}

// ------------------------------------------------------------------------ request_id

TEST_F(EventsApiTest, RetriedCreatesWithTheSameRequestIdReturnTheFirstResult) {
  v1::Activity first, second;
  ASSERT_TRUE(CreateActivity(ValidActivity(), "", &first, "req-a1").ok());
  ASSERT_TRUE(CreateActivity(ValidActivity(), "", &second, "req-a1").ok());
  EXPECT_EQ(second.name(), first.name());
  EXPECT_EQ(second.etag(), first.etag());
  EXPECT_EQ(ActivityCount(), 1);

  // The same id with another request is a client bug, not a retry.
  v1::Activity other = ValidActivity();
  other.set_title("다른 세미나");
  v1::Activity out;
  grpc::Status status = CreateActivity(other, "", &out, "req-a1");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("request_id"));
  EXPECT_EQ(ActivityCount(), 1);

  // A person's registration gets a generated id; a retry must not register twice.
  v1::Registration r1, r2;
  v1::Registration kim = PersonRegistration("김창겸", "kim@example.kr");
  ASSERT_TRUE(CreateRegistration(first.name(), kim, &r1, "req-r1").ok());
  grpc::Status retried = CreateRegistration(first.name(), kim, &r2, "req-r1");
  ASSERT_TRUE(retried.ok()) << retried.error_message();
  EXPECT_EQ(r2.name(), r1.name());
  EXPECT_EQ(r2.etag(), r1.etag());
  EXPECT_EQ(RegistrationCount(), 1);
  EXPECT_EQ(GetActivity(first.name()).registration_count(), 1);

  v1::Outcome o1, o2;
  ASSERT_TRUE(CreateOutcome(ValidOutcome(), "", &o1, "req-o1").ok());
  ASSERT_TRUE(CreateOutcome(ValidOutcome(), "", &o2, "req-o1").ok());
  EXPECT_EQ(o2.name(), o1.name());
  EXPECT_EQ(OutcomeCount(), 1);
}

// --------------------------------------------------------------------- registry down

TEST_F(EventsApiTest, RegistryDownMakesWritesThatNameItUnavailableAndWritesNothing) {
  v1::Activity a = MustCreateActivity(ValidActivity(), "seminar");
  registry_->Shutdown();

  v1::Activity activity_out;
  grpc::Status status = CreateActivity(ValidActivity(), "another", &activity_out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "REGISTRY_UNAVAILABLE");

  v1::Outcome outcome_out;
  status = CreateOutcome(ValidOutcome(), "ax-tasks", &outcome_out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "REGISTRY_UNAVAILABLE");

  v1::Registration registration_out;
  status = CreateRegistration(a.name(), OrganizationRegistration(kWidetns), &registration_out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "REGISTRY_UNAVAILABLE");

  v1::UpdateActivityRequest councils;
  councils.mutable_activity()->set_name(a.name());
  councils.mutable_activity()->set_etag(a.etag());
  councils.mutable_activity()->add_councils(kManufacturing);
  councils.mutable_update_mask()->add_paths("councils");
  status = stub_->UpdateActivity(Context().get(), councils, &activity_out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "REGISTRY_UNAVAILABLE");

  // Reads do not need the registry.
  EXPECT_EQ(ActivityCount(), 1);
  EXPECT_EQ(OutcomeCount(), 0);
  EXPECT_EQ(RegistrationCount(), 0);
  v1::Activity after = GetActivity(a.name());
  EXPECT_EQ(after.etag(), a.etag());
  EXPECT_THAT(after.councils(), ElementsAre(kShips, kGdx));
}

TEST_F(EventsApiTest, RegistryDownWithAShortClientDeadlineAnswersWithinIt) {
  registry_->Shutdown();
  v1::Activity out;
  grpc::Status status = CreateActivity(ValidActivity(), "seminar", &out, "", 0.5);
  EXPECT_THAT(status.error_code(), AnyOf(grpc::StatusCode::DEADLINE_EXCEEDED,
                                         grpc::StatusCode::UNAVAILABLE))
      << status.error_message();
  EXPECT_EQ(ActivityCount(), 0);
}

// -------------------------------------------------------------------------- import

// A seminar of the special-purpose-ships council with widetns checked in, as a data file
// holds them.
v1::EventsData SeminarWithWidetns() {
  v1::EventsData data;
  const bool parsed = google::protobuf::TextFormat::ParseFromString(R"pb(
    activities {
      name: "activities/seminar" kind: SEMINAR title: "세미나"
      councils: "councils/special-purpose-ships"
    }
    registrations {
      name: "activities/seminar/registrations/widetns"
      organization: "organizations/widetns" state: CHECKED_IN
    }
  )pb", &data);
  EXPECT_TRUE(parsed);
  return data;
}

// Importing the same bundle twice changes nothing, also for a checked-in registration
// whose check_in_time the bundle does not carry.
TEST_F(EventsApiTest, ImportingACheckedInRegistrationTwiceChangesNothing) {
  const v1::EventsData data = SeminarWithWidetns();
  absl::StatusOr<crud::ImportSummary> first =
      events_->events().Import(data, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->created, 2);
  v1::Registration before = GetRegistration("activities/seminar/registrations/widetns");
  EXPECT_TRUE(before.has_check_in_time());

  absl::SleepFor(absl::Seconds(1.1));  // a new check-in time would differ
  absl::StatusOr<crud::ImportSummary> second =
      events_->events().Import(data, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->created, 0);
  EXPECT_EQ(second->updated, 0);
  EXPECT_EQ(second->unchanged, 2);
  v1::Registration after = GetRegistration(before.name());
  EXPECT_EQ(after.etag(), before.etag());
  EXPECT_EQ(after.check_in_time().seconds(), before.check_in_time().seconds());
}


// Index entries a release derived otherwise (here: none, under another signature's
// mark) are written again when the service starts: the activity's council and kind,
// the registrations' state, organization and the "active" entry its
// registration_count reads. Nothing else changes (etags stay).
TEST_F(EventsApiTest, IndexEntriesAnOlderReleaseDerivedOtherwiseAreRewrittenAtStart) {
  v1::EventsData data = SeminarWithWidetns();
  ASSERT_TRUE(google::protobuf::TextFormat::MergeFromString(R"pb(
    registrations {
      name: "activities/seminar/registrations/guest"
      person { display_name: "홍길동" contact: "hong@example.kr" } state: CANCELLED
    }
  )pb", &data));
  absl::StatusOr<crud::ImportSummary> imported =
      events_->events().Import(data, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(imported.ok()) << imported.status();
  v1::ListActivitiesRequest ships;
  ships.set_council(kShips);
  ships.set_kind(v1::SEMINAR);
  v1::ListRegistrationsRequest checked_in;
  checked_in.set_parent("activities/-");
  checked_in.set_state(v1::CHECKED_IN);
  v1::ListRegistrationsRequest by_org;
  by_org.set_parent("activities/-");
  by_org.set_organization("organizations/widetns");
  ASSERT_EQ(ListActivities(ships).activities_size(), 1);
  const v1::Activity before = ListActivities(ships).activities(0);
  ASSERT_EQ(before.registration_count(), 1);

  ASSERT_TRUE(events_->store()
                  .Write([&](store::WriteTransaction& tx) -> absl::Status {
                    for (const char* name : {"activities/seminar",
                                             "activities/seminar/registrations/widetns",
                                             "activities/seminar/registrations/guest"}) {
                      if (absl::Status s = tx.Reindex(name, {}, ""); !s.ok()) return s;
                    }
                    if (absl::Status s = tx.SetImportMark("~index/activities", 1); !s.ok()) {
                      return s;
                    }
                    return tx.SetImportMark("~index/registrations", 1);
                  })
                  .ok());
  EXPECT_EQ(ListActivities(ships).activities_size(), 0);
  EXPECT_EQ(ListRegistrations(checked_in).registrations_size(), 0);

  StopEvents();
  StartEvents();
  EXPECT_TRUE(events_->index_update().ran);
  EXPECT_EQ(events_->index_update().reindexed, 3);
  EXPECT_EQ(events_->index_update().skipped, 0);
  v1::ListActivitiesResponse found = ListActivities(ships);
  ASSERT_EQ(found.activities_size(), 1);
  EXPECT_EQ(found.activities(0).registration_count(), 1);
  EXPECT_EQ(found.activities(0).etag(), before.etag());
  EXPECT_THAT(Names(ListRegistrations(checked_in)),
              ElementsAre("activities/seminar/registrations/widetns"));
  EXPECT_THAT(Names(ListRegistrations(by_org)),
              ElementsAre("activities/seminar/registrations/widetns"));

  StopEvents();
  StartEvents();
  EXPECT_FALSE(events_->index_update().ran);
}

// A filter that matches few of a council's activities (a kind, a time window, a query)
// reads at most 1,000 of them per page: a page ends early, with fewer activities than
// page_size or none and a next_page_token, and following the tokens finds every match
// once. Before, the first page read every candidate until it was full.
TEST_F(EventsApiTest, ASparseFilterEndsItsPageAfterAThousandCandidates) {
  constexpr int kActivities = 2500;
  constexpr int kRare = 2300;
  v1::EventsData data;
  for (int i = 0; i < kActivities; ++i) {
    v1::Activity* a = data.add_activities();
    *a = i == kRare ? PlainActivity(v1::FORUM, "드문 해양 포럼", kShips)
                    : PlainActivity(v1::SEMINAR, absl::StrCat("조선 세미나 ", i), kShips);
    a->set_name(absl::StrFormat("activities/sparse-%05d", i));
    if (i == kRare) {
      *a->mutable_start_time() = At({2031, 1, 10, 10, 0});
      *a->mutable_end_time() = At({2031, 1, 10, 12, 0});
      a->set_time_zone("Asia/Seoul");
    }
  }
  absl::StatusOr<crud::ImportSummary> imported =
      events_->events().Import(data, absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(imported.ok()) << imported.status();
  ASSERT_EQ(imported->created, kActivities);

  v1::ListActivitiesRequest by_kind;
  by_kind.set_council(kShips);
  by_kind.set_kind(v1::FORUM);
  v1::ListActivitiesRequest by_window;
  by_window.set_council(kShips);
  *by_window.mutable_start_time() = At({2031, 1, 1, 0, 0});
  *by_window.mutable_end_time() = At({2031, 2, 1, 0, 0});
  v1::ListActivitiesRequest by_query;
  by_query.set_council(kShips);
  by_query.set_query("드문");
  for (v1::ListActivitiesRequest request : {by_kind, by_window, by_query}) {
    SCOPED_TRACE(request.ShortDebugString());
    request.set_page_size(10);
    std::vector<std::string> found;
    std::vector<int> sizes;
    do {
      v1::ListActivitiesResponse page;
      grpc::Status status = stub_->ListActivities(Context().get(), request, &page);
      ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
      for (const v1::Activity& a : page.activities()) found.push_back(a.name());
      sizes.push_back(page.activities_size());
      request.set_page_token(page.next_page_token());
      ASSERT_LT(sizes.size(), 10u);
    } while (!request.page_token().empty());
    EXPECT_THAT(found, ElementsAre(absl::StrFormat("activities/sparse-%05d", kRare)));
    // Candidates 0-999 and 1000-1999 hold no match; the third page reads the rest.
    EXPECT_THAT(sizes, ElementsAre(0, 0, 1));
  }
}

// ------------------------------------------------- issue #10: bounds, zones, numbers, text

// One bad activity per observation; each must be refused naming `fields`.
TEST_F(EventsApiTest, TimeZonePathsAndUnknownNamesAreRefused) {
  for (const std::string& zone :
       {std::string("/etc/localtime"), std::string("../../../../etc/localtime"),
        std::string("file:/etc/localtime"), std::string("localtime"),
        std::string("Asia/../../../etc/localtime"), std::string(16 * 1024, 'Z')}) {
    v1::Activity activity = ValidActivity();
    activity.set_time_zone(zone);
    v1::Activity out;
    grpc::Status status = CreateActivity(activity, "zone-probe", &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << zone.substr(0, 40);
    EXPECT_THAT(ViolatedFields(status), ElementsAre("activity.time_zone")) << zone.substr(0, 40);
  }
  EXPECT_EQ(ActivityCount(), 0);
  // An IANA name other than the default still works, and comes back as given.
  v1::Activity jakarta = ValidActivity();
  jakarta.set_time_zone("Asia/Jakarta");
  EXPECT_EQ(MustCreateActivity(jakarta, "in-jakarta").time_zone(), "Asia/Jakarta");
}

// Resident memory of this process (registry and events run in it), bytes.
int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// Observation 2: 6,000 creates with unique 16 KB time zone names took the service from 21
// to 121 MB, never freed. Under a sanitizer every freed request buffer first fills its
// quarantine (256 MiB for ASan), so only the plain build can measure this;
// tests/common/validation_test.cc measures the check itself under every build.
TEST_F(EventsApiTest, UniqueLongTimeZoneNamesDoNotGrowMemory) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "RSS is not comparable under a sanitizer's quarantine";
#endif
  v1::CreateActivityRequest request;
  *request.mutable_activity() = PlainActivity(v1::SEMINAR, "시간대 시험", kShips);
  request.set_activity_id("zone-probe");
  std::string zone = "Asia/" + std::string(16 * 1024, 'X');
  auto call = [&](int i) {
    const std::string unique = absl::StrCat(i);
    zone.replace(5, unique.size(), unique);
    request.mutable_activity()->set_time_zone(zone);
    v1::Activity out;
    return stub_->CreateActivity(Context().get(), request, &out).error_code();
  };
  // Warm up gRPC's buffers and allocator arenas first.
  for (int i = 0; i < 500; ++i) ASSERT_EQ(call(i), grpc::StatusCode::INVALID_ARGUMENT);
  const int64_t before = ResidentBytes();
  for (int i = 500; i < 6500; ++i) ASSERT_EQ(call(i), grpc::StatusCode::INVALID_ARGUMENT);
  const int64_t growth = ResidentBytes() - before;
  // The names alone are 94 MiB; allow a third of that for allocator noise.
  EXPECT_LT(growth, 32 << 20) << "grew " << growth / 1024 << " KiB";
  EXPECT_EQ(ActivityCount(), 0);
}

// Observation 4: timestamps outside google.protobuf.Timestamp's range were stored.
TEST_F(EventsApiTest, TimestampsOutsideProtobufRangeAreRefused) {
  struct Case {
    std::string label;
    std::function<void(v1::Activity&)> spoil;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"seconds INT64_MIN",
       [](v1::Activity& a) { a.mutable_start_time()->set_seconds(INT64_MIN); },
       "activity.start_time"},
      {"year 10000",
       [](v1::Activity& a) { a.mutable_end_time()->set_seconds(253402300800); },
       "activity.end_time"},
      {"nanos -1", [](v1::Activity& a) { a.mutable_start_time()->set_nanos(-1); },
       "activity.start_time"},
      {"nanos 10^9", [](v1::Activity& a) { a.mutable_end_time()->set_nanos(1000000000); },
       "activity.end_time"},
      {"slot at INT64_MAX",
       [](v1::Activity& a) { a.mutable_timetable(2)->mutable_end_time()->set_seconds(INT64_MAX); },
       "activity.timetable[2].end_time"},
  };
  for (const Case& c : cases) {
    v1::Activity activity = ValidActivity();
    c.spoil(activity);
    v1::Activity out;
    grpc::Status status = CreateActivity(activity, "out-of-range", &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.label;
    EXPECT_THAT(ViolatedFields(status), Contains(c.field)) << c.label << ": "
                                                           << status.error_message();
  }
  EXPECT_EQ(ActivityCount(), 0);

  // A list filter too.
  v1::ListActivitiesRequest list;
  list.mutable_start_time()->set_seconds(INT64_MIN);
  v1::ListActivitiesResponse response;
  grpc::Status status = stub_->ListActivities(Context().get(), list, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("start_time"));
}

// Observation 3: a 20,000-session activity (1.75 MB) was accepted, and seven of them made
// every ListActivities page of 5 fail RESOURCE_EXHAUSTED. (Such a request is now over the
// transport's 1 MiB request limit; an import, or shorter sessions, still reach the check.)
TEST_F(EventsApiTest, OversizedListsAreRefusedNamingTheList) {
  struct Case {
    std::string label;
    std::function<void(v1::Activity&)> spoil;
    std::string field;
  };
  const std::vector<Case> cases = {
      // Short titles, so the request passes the transport's 1 MiB request limit
      // (--max_request_bytes) and reaches the check.
      {"20,000 sessions",
       [](v1::Activity& a) {
         for (int i = 2; i <= 20001; ++i) {
           v1::ForumSession* s = a.add_sessions();
           s->set_number(i);
           s->set_title("세션");
         }
       },
       "activity.sessions"},
      {"51 sessions",
       [](v1::Activity& a) {
         for (int i = 2; i <= 51; ++i) {
           v1::ForumSession* s = a.add_sessions();
           s->set_number(i);
           s->set_title("세션");
         }
       },
       "activity.sessions"},
      {"201 slots",
       [](v1::Activity& a) {
         ClearAgenda(a);
         *a.mutable_end_time() = At({2025, 9, 11, 17, 0});
         for (int i = 0; i < 201; ++i) {
           v1::TimetableSlot* slot = a.add_timetable();
           slot->set_id(absl::StrCat("slot-", i));
           slot->mutable_start_time()->set_seconds(a.start_time().seconds() + 60 * i);
           slot->mutable_end_time()->set_seconds(a.start_time().seconds() + 60 * i + 60);
           slot->set_title("발표");
           slot->set_kind(v1::PRESENTATION);
         }
       },
       "activity.timetable"},
      {"51 councils",
       [](v1::Activity& a) {
         for (int i = 0; i < 49; ++i) a.add_councils(absl::StrCat("councils/c-", i));
       },
       "activity.councils"},
      {"21 fields in a session",
       [](v1::Activity& a) {
         for (int i = 0; i < 20; ++i) a.mutable_sessions(0)->add_fields("fields/mobility");
       },
       "activity.sessions[0].fields"},
      {"11 leads on a slot",
       [](v1::Activity& a) {
         for (int i = 0; i < 11; ++i) a.mutable_timetable(0)->add_leads(v1::KICOX);
       },
       "activity.timetable[0].leads"},
      {"8,001-character description",
       [](v1::Activity& a) { a.set_description(std::string(8001, 'a')); },
       "activity.description"},
      {"201-character venue",
       [](v1::Activity& a) { a.mutable_place()->set_venue(std::string(201, 'a')); },
       "activity.place.venue"},
  };
  for (const Case& c : cases) {
    v1::Activity activity = ValidActivity();
    c.spoil(activity);
    v1::Activity out;
    grpc::Status status = CreateActivity(activity, "oversized", &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.label;
    EXPECT_THAT(ViolatedFields(status), Contains(c.field)) << c.label << ": "
                                                           << status.error_message();
  }
  EXPECT_EQ(ActivityCount(), 0);

  // At the bounds it is accepted, and such activities page fine.
  v1::Activity largest = ValidActivity();
  largest.set_description(std::string(8000, 'a'));
  for (int i = 2; i <= 50; ++i) {
    v1::ForumSession* s = largest.add_sessions();
    s->set_number(i);
    s->set_title(std::string(200, 'b'));
  }
  for (int i = 0; i < 3; ++i) MustCreateActivity(largest, absl::StrCat("largest-", i));
  v1::ListActivitiesRequest page;
  page.set_page_size(3);
  EXPECT_EQ(ListActivities(page).activities_size(), 3);
}

// Observation 4: two outcomes of INT64_MAX were accepted and the sums wrapped to -2.
TEST_F(EventsApiTest, AmountsAboveTheStatedMaximumAreRefused) {
  for (auto [field, set] :
       std::vector<std::pair<std::string, std::function<void(v1::Outcome&, int64_t)>>>{
           {"outcome.total_budget_krw",
            [](v1::Outcome& o, int64_t v) {
              o.clear_national_share_krw();
              o.set_total_budget_krw(v);
            }},
           {"outcome.deal_amount_krw", [](v1::Outcome& o, int64_t v) { o.set_deal_amount_krw(v); }},
           {"outcome.counts[0].value",
            [](v1::Outcome& o, int64_t v) { o.mutable_counts(0)->set_value(v); }}}) {
    for (int64_t value : {int64_t{INT64_MAX}, int64_t{10'000'000'000'001}}) {
      v1::Outcome outcome = ValidOutcome();
      set(outcome, value);
      v1::Outcome out;
      grpc::Status status = CreateOutcome(outcome, "too-much", &out);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field << value;
      EXPECT_THAT(ViolatedFields(status), ElementsAre(field)) << status.error_message();
    }
  }
  EXPECT_EQ(OutcomeCount(), 0);
  // 10^13 KRW (10조원) itself is accepted.
  v1::Outcome at_max = ValidOutcome();
  at_max.set_total_budget_krw(10'000'000'000'000);
  v1::Outcome out;
  EXPECT_TRUE(CreateOutcome(at_max, "at-max", &out).ok());
}

// Observation 7: display names and texts took NUL, controls, U+202E and a lone BOM.
TEST_F(EventsApiTest, InvisibleAndReorderingCharactersAreRefusedHangulIsNot) {
  struct Case {
    std::string label;
    std::function<void(v1::Activity&)> spoil;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"NUL in the title", [](v1::Activity& a) { a.set_title(std::string("세미나\0x", 11)); },
       "activity.title"},
      {"escape in the organizer", [](v1::Activity& a) { a.set_organizer("\x1b[2J산업부"); },
       "activity.organizer"},
      {"right-to-left override in the title",
       [](v1::Activity& a) { a.set_title("세미나\u202Efdp.exe"); }, "activity.title"},
      {"lone BOM as the venue", [](v1::Activity& a) { a.mutable_place()->set_venue("\uFEFF"); },
       "activity.place.venue"},
      {"line break in a slot title",
       [](v1::Activity& a) { a.mutable_timetable(0)->set_title("개회\n"); },
       "activity.timetable[0].title"},
      {"isolate in a session title",
       [](v1::Activity& a) { a.mutable_sessions(0)->set_title("\u2067특수목적선"); },
       "activity.sessions[0].title"},
  };
  for (const Case& c : cases) {
    v1::Activity activity = ValidActivity();
    c.spoil(activity);
    v1::Activity out;
    grpc::Status status = CreateActivity(activity, "spoofed", &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.label;
    EXPECT_THAT(ViolatedFields(status), ElementsAre(c.field)) << c.label << ": "
                                                             << status.error_message();
  }
  v1::Registration person = PersonRegistration("홍길동\u202E", "hong@example.kr");
  MustCreateActivity(ValidActivity(), "seminar");
  v1::Registration registered;
  grpc::Status status = CreateRegistration("activities/seminar", person, &registered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("registration.person.display_name"));
  EXPECT_EQ(RegistrationCount(), 0);

  // Korean text, and line breaks in a description, stay accepted.
  v1::Activity korean = ValidActivity();
  korean.set_description("1부: 개회\n2부: 세션 발표\n\t(도시락 제공)");
  EXPECT_EQ(MustCreateActivity(korean, "korean").description(), korean.description());
  EXPECT_TRUE(
      CreateRegistration("activities/seminar", PersonRegistration("홍길동", "hong@example.kr"),
                         &registered)
          .ok());
}

// Every refusal above writes nothing: the full listings before and after are the same.
TEST_F(EventsApiTest, RefusedWritesLeaveTheListingsAsTheyWere) {
  v1::Activity seminar = MustCreateActivity(ValidActivity(), "seminar");
  v1::Outcome outcome_out;
  ASSERT_TRUE(CreateOutcome(ValidOutcome(), "rnd", &outcome_out).ok());
  const v1::ListActivitiesResponse activities_before = ListActivities({});
  const v1::ListOutcomesResponse outcomes_before = ListOutcomes({});

  v1::Activity out;
  v1::Activity by_path = ValidActivity();
  by_path.set_time_zone("../../../../etc/localtime");
  EXPECT_FALSE(CreateActivity(by_path, "by-path", &out).ok());
  v1::Activity huge = ValidActivity();
  for (int i = 2; i <= 20001; ++i) huge.add_sessions()->set_number(i);
  EXPECT_FALSE(CreateActivity(huge, "huge", &out).ok());
  v1::UpdateActivityRequest update;
  *update.mutable_activity() = seminar;
  update.mutable_activity()->set_title("세미나\u202Eexe");
  update.mutable_activity()->mutable_start_time()->set_seconds(INT64_MIN);
  EXPECT_FALSE(stub_->UpdateActivity(Context().get(), update, &out).ok());
  v1::Outcome too_much = ValidOutcome();
  too_much.set_total_budget_krw(INT64_MAX);
  EXPECT_FALSE(CreateOutcome(too_much, "too-much", &outcome_out).ok());
  v1::UpdateOutcomeRequest outcome_update;
  *outcome_update.mutable_outcome() = GetOutcome("outcomes/rnd");
  outcome_update.mutable_outcome()->set_deal_amount_krw(INT64_MAX);
  outcome_update.mutable_update_mask()->add_paths("deal_amount_krw");
  EXPECT_FALSE(stub_->UpdateOutcome(Context().get(), outcome_update, &outcome_out).ok());

  EXPECT_TRUE(MessageDifferencer::Equals(ListActivities({}), activities_before));
  EXPECT_TRUE(MessageDifferencer::Equals(ListOutcomes({}), outcomes_before));
}

// The issue's observation: large activities (each valid) made every ListActivities page of
// five or more fail with "Sent message larger than max", and so the analytics rebuild.
// A page now ends by size as well as count: every activity arrives, page by page.
TEST_F(EventsApiTest, PagesEndBySizeSoEveryLargeActivityArrives) {
  auto big_activity = [](const std::string& id) {
    v1::CreateActivityRequest request;
    request.set_activity_id(id);
    v1::Activity* a = request.mutable_activity();
    a->set_kind(v1::SEMINAR);
    a->set_title("대형 일정 " + id);
    a->add_councils("councils/special-purpose-ships");
    const int64_t start = 1767225600;  // 2026-01-01T00:00:00Z
    a->mutable_start_time()->set_seconds(start);
    a->mutable_end_time()->set_seconds(start + 200 * 3600);
    std::string long_text;
    for (int i = 0; i < 200; ++i) long_text += "가";  // 200 characters, 600 bytes
    for (int i = 0; i < 200; ++i) {
      v1::TimetableSlot* slot = a->add_timetable();
      slot->set_id(absl::StrCat("slot-", i));
      slot->mutable_start_time()->set_seconds(start + i * 3600);
      slot->mutable_end_time()->set_seconds(start + (i + 1) * 3600);
      slot->set_kind(v1::REMARKS);
      slot->set_title(long_text);
      slot->set_note(long_text);
    }
    return request;
  };
  v1::ListActivitiesRequest all;
  v1::ListActivitiesResponse before;
  ASSERT_TRUE(stub_->ListActivities(Context().get(), all, &before).ok());
  const int seeded = before.total_size();

  constexpr int kLarge = 18;
  size_t total_bytes = 0;
  for (int i = 0; i < kLarge; ++i) {
    v1::CreateActivityRequest request = big_activity(absl::StrCat("large-", i));
    v1::Activity created;
    grpc::Status status = stub_->CreateActivity(Context().get(), request, &created);
    ASSERT_TRUE(status.ok()) << status.error_message();
    total_bytes += created.ByteSizeLong();
  }
  // More than a gRPC client accepts in one message (4 MiB): one page could not hold them.
  ASSERT_GT(total_bytes, size_t{4} << 20);

  std::set<std::string> seen;
  v1::ListActivitiesRequest request;
  request.set_page_size(1000);
  int pages = 0;
  do {
    v1::ListActivitiesResponse page;
    grpc::Status status = stub_->ListActivities(Context().get(), request, &page);
    ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    EXPECT_LE(page.ByteSizeLong(), size_t{2} << 20);
    EXPECT_EQ(page.total_size(), seeded + kLarge);
    for (const v1::Activity& a : page.activities()) {
      EXPECT_TRUE(seen.insert(a.name()).second) << a.name() << " twice";
    }
    request.set_page_token(page.next_page_token());
    ASSERT_LT(++pages, 100);
  } while (!request.page_token().empty());
  EXPECT_EQ(seen.size(), static_cast<size_t>(seeded + kLarge));
  EXPECT_GT(pages, 3);
}

// Observation 4's other half: sums that cannot overflow, with a clear error if they would.
// Amounts are bounded, and so is the number of outcomes: the write that would pass the
// bound is refused, saying why, and writes nothing.
TEST_F(EventsApiTest, OutcomesBeyondTheBoundThatKeepsSumsExactAreRefused) {
  const int held = OutcomeCount();
  StopEvents();
  max_outcomes_ = held + 2;
  StartEvents();
  v1::Outcome out;
  for (int i = 0; i < 2; ++i) {
    v1::Outcome at_max = ValidOutcome();
    at_max.set_total_budget_krw(10'000'000'000'000);
    grpc::Status status = CreateOutcome(at_max, absl::StrCat("at-max-", i), &out);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  const v1::ListOutcomesResponse before = ListOutcomes({});
  grpc::Status refused = CreateOutcome(ValidOutcome(), "one-too-many", &out);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ReasonOf(refused), "OUTCOME_LIMIT");
  EXPECT_THAT(refused.error_message(), HasSubstr("outcomes"));
  EXPECT_TRUE(MessageDifferencer::Equals(ListOutcomes({}), before));
}

}  // namespace
}  // namespace sanhak::events
