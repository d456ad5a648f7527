// The source documents' facts, read back through the API after importing
// data/events.textproto (on top of data/registry.textproto): the forum plan's timetable to
// the minute, its sessions, and the best-case cards' amounts. Expected values are quoted
// from shared/seed/000_739f64089ad34f62.txt (press release, forum plan, cards).
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/events/events_fixture.h"

namespace sanhak::events {
namespace {

using ::sanhak::testing::Context;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr char kForum[] = "activities/development-forum-2025";
constexpr char kAseanWeek[] = "activities/korea-asean-maritime-week-2025";

// The plan's 세부내용 table, row by row, as printed: 시간, the minutes column, 행사내용
// (without the leading "· ") and 비고.
struct PlanRow {
  const char* time;
  int minutes;
  const char* title;
  const char* note;
};
constexpr PlanRow kPlan[] = {
    {"10:40~10:44", 4, "개회 및 내빈소개", "사회자"},
    {"10:44~10:47", 3, "모두 발언", "산업부"},
    {"10:47~10:50", 3, "산학연협의체 경과 및 성과, 개편현황 발표", "사회자"},
    {"10:50~11:50", 60, "(1세션) 미래모빌리티(자동차, 조선)", "협의체 주관기관(7개사)"},
    {"11:50~12:20", 30, "오찬", "도시락"},
    {"12:20~13:10", 50, "(2세션) 핵심소재", "협의체 주관기관(5개사)"},
    {"13:10~13:15", 5, "휴식", "-"},
    {"13:15~14:15", 60, "(3세션) 로봇·첨단제조·항공방산", "협의체 주관기관(7개사)"},
    {"14:15~14:20", 5, "휴식", "-"},
    {"14:20~15:15", 55, "(4세션) 디스플레이·원전·에너지·바이오", "협의체 주관기관(6개사)"},
    {"15:15~15:18", 3, "마무리 발언", "산업부, 산단공"},
    {"15:18~15:25", 7, "기념촬영 및 폐회", "참석자 전원"},
};

// "10:40" on the forum's day ('25.7.30) in Seoul, as Unix seconds.
int64_t ForumClock(absl::string_view hh_mm) {
  std::vector<absl::string_view> parts = absl::StrSplit(hh_mm, ':');
  int hour = -1, minute = -1;
  EXPECT_EQ(parts.size(), 2u) << hh_mm;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &hour) ||
      !absl::SimpleAtoi(parts[1], &minute)) {
    ADD_FAILURE() << "cannot read " << hh_mm;
    return 0;
  }
  absl::TimeZone seoul;
  EXPECT_TRUE(absl::LoadTimeZone("Asia/Seoul", &seoul));
  return absl::ToUnixSeconds(absl::FromCivil(absl::CivilMinute(2025, 7, 30, hour, minute), seoul));
}

class EventsSeedTest : public EventsFixture {
 protected:
  void SetUp() override { StartServices(EventsSeedPath()); }

  v1::Activity Activity(const std::string& name) {
    v1::GetActivityRequest request;
    request.set_name(name);
    v1::Activity out;
    grpc::Status status = stub_->GetActivity(Context().get(), request, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    return out;
  }

  v1::Outcome Outcome(const std::string& name) {
    v1::GetOutcomeRequest request;
    request.set_name(name);
    v1::Outcome out;
    grpc::Status status = stub_->GetOutcome(Context().get(), request, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    return out;
  }

  // Every activity, walked page by page as a client would.
  std::vector<v1::Activity> Activities(v1::ListActivitiesRequest request) {
    std::vector<v1::Activity> out;
    request.set_page_size(2);
    int pages = 0;
    do {
      v1::ListActivitiesResponse page;
      grpc::Status status = stub_->ListActivities(Context().get(), request, &page);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok() || ++pages > 20) break;
      out.insert(out.end(), page.activities().begin(), page.activities().end());
      request.set_page_token(page.next_page_token());
    } while (!request.page_token().empty());
    return out;
  }

  std::vector<v1::Outcome> Outcomes(v1::ListOutcomesRequest request) {
    std::vector<v1::Outcome> out;
    request.set_page_size(3);
    int pages = 0;
    do {
      v1::ListOutcomesResponse page;
      grpc::Status status = stub_->ListOutcomes(Context().get(), request, &page);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok() || ++pages > 20) break;
      out.insert(out.end(), page.outcomes().begin(), page.outcomes().end());
      request.set_page_token(page.next_page_token());
    } while (!request.page_token().empty());
    return out;
  }

  template <typename T>
  static std::vector<std::string> Names(const std::vector<T>& items) {
    std::vector<std::string> names;
    for (const auto& item : items) names.push_back(item.name());
    return names;
  }

  // name -> etag of every activity and outcome.
  std::map<std::string, std::string> Etags() {
    std::map<std::string, std::string> etags;
    for (const auto& a : Activities({})) etags[a.name()] = a.etag();
    for (const auto& o : Outcomes({})) etags[o.name()] = o.etag();
    return etags;
  }
};

TEST_F(EventsSeedTest, ImportCreatesFiveActivitiesAndFourOutcomes) {
  const crud::ImportSummary& summary = events_->import_summary();
  EXPECT_EQ(summary.created, 9);
  EXPECT_EQ(summary.updated, 0);
  EXPECT_EQ(summary.unchanged, 0);
  EXPECT_THAT(Names(Activities({})),
              ElementsAre("activities/advanced-manufacturing-ax-joint-planning",
                          "activities/busan-international-boat-show", kForum, kAseanWeek,
                          "activities/petrochemical-ncc-joint-planning"));
  EXPECT_EQ(Outcomes({}).size(), 4u);
  v1::ListRegistrationsRequest registrations;
  registrations.set_parent("activities/-");
  v1::ListRegistrationsResponse none;
  ASSERT_TRUE(stub_->ListRegistrations(Context().get(), registrations, &none).ok());
  EXPECT_EQ(none.total_size(), 0);  // the source names no attendee
}

TEST_F(EventsSeedTest, ForumTimetableIsThePlansTwelveRowsToTheMinute) {
  v1::Activity forum = Activity(kForum);
  ASSERT_EQ(forum.timetable_size(), 12);
  for (int i = 0; i < forum.timetable_size(); ++i) {
    const PlanRow& row = kPlan[i];
    const v1::TimetableSlot& slot = forum.timetable(i);
    std::vector<absl::string_view> span = absl::StrSplit(row.time, '~');
    ASSERT_EQ(span.size(), 2u) << row.time;
    EXPECT_EQ(slot.start_time().seconds(), ForumClock(span[0])) << slot.id() << " " << row.time;
    EXPECT_EQ(slot.end_time().seconds(), ForumClock(span[1])) << slot.id() << " " << row.time;
    EXPECT_EQ(slot.end_time().seconds() - slot.start_time().seconds(), row.minutes * 60)
        << slot.id();
    EXPECT_EQ(slot.title(), row.title) << row.time;
    EXPECT_EQ(slot.note(), row.note) << row.time;
  }
  std::vector<std::string> ids;
  for (const auto& slot : forum.timetable()) ids.push_back(slot.id());
  EXPECT_THAT(ids, ElementsAre("opening", "opening-remarks", "progress-report", "session-1",
                               "lunch", "session-2", "break-1", "session-3", "break-2",
                               "session-4", "closing-remarks", "photo-and-closing"));

  // The forum runs from the first row's start to the last row's end: 10:40~15:25.
  EXPECT_EQ(forum.start_time().seconds(), ForumClock("10:40"));
  EXPECT_EQ(forum.end_time().seconds(), ForumClock("15:25"));
  EXPECT_EQ(forum.time_zone(), "Asia/Seoul");
  EXPECT_FALSE(forum.date_only());
  // "* 공개범위(기자 취재 가능 범위) : 모두발언까지 공개"
  EXPECT_EQ(forum.press_open_until_slot(), "opening-remarks");
}

TEST_F(EventsSeedTest, ForumHasFourSessionsOfSevenFiveSevenAndSixCouncils) {
  v1::Activity forum = Activity(kForum);
  EXPECT_EQ(forum.kind(), v1::FORUM);
  EXPECT_EQ(forum.title(), "산업단지 초광역 산학연협의체 발전포럼");
  EXPECT_EQ(forum.councils_size(), 25);  // 전국 협의체 주관기관(25개)
  ASSERT_EQ(forum.sessions_size(), 4);
  std::vector<int> numbers, sizes;
  for (const auto& s : forum.sessions()) {
    numbers.push_back(s.number());
    sizes.push_back(s.councils_size());
  }
  EXPECT_THAT(numbers, ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(sizes, ElementsAre(7, 5, 7, 6));
  EXPECT_EQ(forum.sessions(0).title(), "미래모빌리티(자동차, 조선)");
  EXPECT_EQ(forum.sessions(1).title(), "핵심소재");
  EXPECT_EQ(forum.sessions(2).title(), "로봇·첨단제조·항공방산");

  // Each session's councils are the registry's councils of that forum session, and each
  // session slot holds its session.
  for (const auto& s : forum.sessions()) {
    for (const std::string& council : s.councils()) {
      registry::v1::GetCouncilRequest get;
      get.set_name(council);
      registry::v1::Council c;
      ASSERT_TRUE(registry_stub_->GetCouncil(Context().get(), get, &c).ok()) << council;
      EXPECT_EQ(c.forum_session(), s.number()) << council;
    }
  }
  std::vector<int> slot_sessions;
  for (const auto& slot : forum.timetable()) {
    if (slot.kind() == v1::PRESENTATION_SESSION) slot_sessions.push_back(slot.session_number());
  }
  EXPECT_THAT(slot_sessions, ElementsAre(1, 2, 3, 4));

  // "한국산업단지공단 본사(대구)", "80여 명이 참석".
  EXPECT_EQ(forum.place().city(), "대구");
  EXPECT_EQ(forum.place().country(), "KR");
  EXPECT_EQ(forum.place().venue(), "한국산업단지공단 본사 2층 대회의실");
  EXPECT_EQ(forum.reported_attendance(), 80);
  EXPECT_TRUE(forum.attendance_approximate());
  EXPECT_EQ(forum.organizer(), "산업통상자원부");
  EXPECT_EQ(forum.registration_count(), 0);
}

TEST_F(EventsSeedTest, OutcomesCarryTheCardsAmounts) {
  // Card 1: 총사업비 382억원(국 293), '25~'28.
  v1::Outcome ncc = Outcome("outcomes/ncc-carbon-neutral-national-project");
  EXPECT_EQ(ncc.council(), "councils/petrochemical-core-materials");
  EXPECT_EQ(ncc.category(), v1::NATIONAL_PROJECT_SELECTED);
  ASSERT_TRUE(ncc.has_total_budget_krw());
  EXPECT_EQ(ncc.total_budget_krw(), 38'200'000'000);
  ASSERT_TRUE(ncc.has_national_share_krw());
  EXPECT_EQ(ncc.national_share_krw(), 29'300'000'000);
  EXPECT_FALSE(ncc.has_deal_amount_krw());
  EXPECT_EQ(ncc.start_date().year(), 2025);
  EXPECT_EQ(ncc.end_date().year(), 2028);
  EXPECT_EQ(ncc.activity(), "activities/petrochemical-ncc-joint-planning");

  // Card 3: 17건 기획, AI R&D과제 3건(국비 22.3억원) + 로봇 지원과제(국비 2.5억원).
  v1::Outcome ax = Outcome("outcomes/ax-joint-tasks-selected");
  EXPECT_EQ(ax.council(), "councils/advanced-manufacturing-dx");
  EXPECT_EQ(ax.category(), v1::RND_TASK_SELECTED);
  EXPECT_FALSE(ax.has_total_budget_krw());
  ASSERT_TRUE(ax.has_national_share_krw());
  EXPECT_EQ(ax.national_share_krw(), 2'480'000'000);
  std::map<std::string, int64_t> counts;
  for (const auto& c : ax.counts()) counts[c.metric()] = c.value();
  EXPECT_EQ(counts["tasks_planned"], 17);
  EXPECT_EQ(counts["rnd_tasks_selected"], 3);

  // Card 4: 11억원 규모의 수출판로 개척.
  v1::Outcome boat = Outcome("outcomes/boat-show-export-channels");
  EXPECT_EQ(boat.category(), v1::EXPORT_DEAL);
  ASSERT_TRUE(boat.has_deal_amount_krw());
  EXPECT_EQ(boat.deal_amount_krw(), 1'100'000'000);
  EXPECT_FALSE(boat.has_total_budget_krw());
  EXPECT_EQ(boat.activity(), "activities/busan-international-boat-show");

  // Card 2: 수출상담회 공동 참가(7.30~31), 아세안 6개국; no amount.
  v1::Outcome asean = Outcome("outcomes/asean-maritime-week-export-consultation");
  EXPECT_EQ(asean.category(), v1::EXPORT_CONSULTATION);
  EXPECT_FALSE(asean.has_total_budget_krw());
  EXPECT_FALSE(asean.has_national_share_krw());
  EXPECT_FALSE(asean.has_deal_amount_krw());
  EXPECT_EQ(asean.start_date().month(), 7);
  EXPECT_EQ(asean.start_date().day(), 30);
  EXPECT_EQ(asean.end_date().day(), 31);
  ASSERT_EQ(asean.counts_size(), 1);
  EXPECT_EQ(asean.counts(0).value(), 6);

  v1::ListOutcomesRequest national;
  national.set_category(v1::NATIONAL_PROJECT_SELECTED);
  EXPECT_THAT(Names(Outcomes(national)),
              ElementsAre("outcomes/ncc-carbon-neutral-national-project"));
  v1::ListOutcomesRequest by_council;
  by_council.set_council("councils/gdx-small-medium-ships");
  EXPECT_THAT(Names(Outcomes(by_council)), ElementsAre("outcomes/boat-show-export-channels"));
}

TEST_F(EventsSeedTest, AseanWeekIsDatedInBaliTime) {
  v1::Activity week = Activity(kAseanWeek);
  EXPECT_EQ(week.time_zone(), "Asia/Makassar");
  EXPECT_TRUE(week.date_only());
  EXPECT_EQ(week.place().city(), "Bali");
  EXPECT_EQ(week.place().country(), "ID");
  absl::TimeZone makassar;
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Makassar", &makassar));
  // 7.30~31: from the start of the 30th to the end of the 31st, Bali time.
  EXPECT_EQ(week.start_time().seconds(),
            absl::ToUnixSeconds(absl::FromCivil(absl::CivilDay(2025, 7, 30), makassar)));
  EXPECT_EQ(week.end_time().seconds(),
            absl::ToUnixSeconds(absl::FromCivil(absl::CivilDay(2025, 8, 1), makassar)));
  absl::TimeZone seoul;
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Seoul", &seoul));
  EXPECT_EQ(absl::ToCivilHour(absl::FromUnixSeconds(week.start_time().seconds()), seoul),
            absl::CivilHour(2025, 7, 30, 1));
}

TEST_F(EventsSeedTest, ActivitiesOfTheForumsDayAndOfACouncil) {
  absl::TimeZone seoul;
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Seoul", &seoul));
  v1::ListActivitiesRequest day;
  day.mutable_start_time()->set_seconds(
      absl::ToUnixSeconds(absl::FromCivil(absl::CivilDay(2025, 7, 30), seoul)));
  day.mutable_end_time()->set_seconds(
      absl::ToUnixSeconds(absl::FromCivil(absl::CivilDay(2025, 7, 31), seoul)));
  EXPECT_THAT(Names(Activities(day)), ElementsAre(kForum, kAseanWeek));

  v1::ListActivitiesRequest ships;
  ships.set_council("councils/special-purpose-ships");
  EXPECT_THAT(Names(Activities(ships)), ElementsAre(kForum, kAseanWeek));

  v1::ListActivitiesRequest forum_query;
  forum_query.set_query("발전포럼");
  EXPECT_THAT(Names(Activities(forum_query)), ElementsAre(kForum));
  v1::ListActivitiesRequest undated_query;
  undated_query.set_query("보트쇼");
  EXPECT_THAT(Names(Activities(undated_query)),
              ElementsAre("activities/busan-international-boat-show"));
}

TEST_F(EventsSeedTest, ImportingTheEventsDataTwiceChangesNothing) {
  const std::map<std::string, std::string> before = Etags();
  ASSERT_EQ(before.size(), 9u);
  const std::string forum_bytes = Activity(kForum).SerializeAsString();

  // Again through the domain, as the start-up import does.
  absl::StatusOr<v1::EventsData> data = LoadEventsData(EventsSeedPath());
  ASSERT_TRUE(data.ok()) << data.status();
  absl::StatusOr<crud::ImportSummary> again =
      events_->events().Import(*data, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->created, 0);
  EXPECT_EQ(again->updated, 0);
  EXPECT_EQ(again->unchanged, 9);
  EXPECT_EQ(Etags(), before);

  // And by restarting the server on the same database with the same import.
  StopEvents();
  StartEvents(EventsSeedPath());
  ASSERT_NE(events_, nullptr);
  EXPECT_EQ(events_->import_summary().created, 0);
  EXPECT_EQ(events_->import_summary().updated, 0);
  EXPECT_EQ(events_->import_summary().unchanged, 9);
  EXPECT_EQ(Etags(), before);
  EXPECT_EQ(Activity(kForum).SerializeAsString(), forum_bytes);
}

// Issue #10, observation 1: an import (at every start) creates what is missing and never
// undoes what the API changed, deleted or created; a changed data file still reaches the
// records nobody touched since the last import.
TEST_F(EventsSeedTest, ImportsNeverOverrideWhatTheApiChanged) {
  const std::string edited = "activities/petrochemical-ncc-joint-planning";
  const std::string untouched = "activities/advanced-manufacturing-ax-joint-planning";
  const std::string deleted = "outcomes/boat-show-export-channels";
  const std::string made = "activities/made-by-api";

  v1::UpdateActivityRequest retitle;
  retitle.mutable_activity()->set_name(edited);
  retitle.mutable_activity()->set_title("API가 바꾼 제목");
  retitle.mutable_update_mask()->add_paths("title");
  v1::Activity retitled;
  grpc::Status status = stub_->UpdateActivity(Context().get(), retitle, &retitled);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::DeleteOutcomeRequest remove;
  remove.set_name(deleted);
  google::protobuf::Empty empty;
  status = stub_->DeleteOutcome(Context().get(), remove, &empty);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::CreateActivityRequest create;
  create.set_activity_id("made-by-api");
  create.mutable_activity()->set_kind(v1::SEMINAR);
  create.mutable_activity()->set_title("API가 만든 세미나");
  create.mutable_activity()->add_councils("councils/special-purpose-ships");
  v1::Activity created;
  status = stub_->CreateActivity(Context().get(), create, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::map<std::string, std::string> before = Etags();

  auto outcome_exists = [&](const std::string& name) {
    v1::GetOutcomeRequest get;
    get.set_name(name);
    v1::Outcome out;
    grpc::Status got = stub_->GetOutcome(Context().get(), get, &out);
    EXPECT_TRUE(got.ok() || got.error_code() == grpc::StatusCode::NOT_FOUND)
        << got.error_message();
    return got.ok();
  };

  // The same data file, as at a restart.
  StopEvents();
  StartEvents(EventsSeedPath());
  ASSERT_NE(events_, nullptr);
  EXPECT_EQ(events_->import_summary().created, 0);
  EXPECT_EQ(events_->import_summary().updated, 0);
  EXPECT_EQ(events_->import_summary().kept, 2);  // the retitled activity, the outcome
  EXPECT_EQ(events_->import_summary().unchanged, 7);
  EXPECT_EQ(Activity(edited).title(), "API가 바꾼 제목");
  EXPECT_FALSE(outcome_exists(deleted));
  EXPECT_EQ(Etags(), before);

  // A changed data file: it retitles the edited activity and the untouched one, changes
  // the deleted outcome and names the API-made activity.
  absl::StatusOr<v1::EventsData> data = LoadEventsData(EventsSeedPath());
  ASSERT_TRUE(data.ok()) << data.status();
  for (v1::Activity& a : *data->mutable_activities()) {
    if (a.name() == edited || a.name() == untouched) a.set_title("파일이 바꾼 제목");
  }
  for (v1::Outcome& o : *data->mutable_outcomes()) {
    if (o.name() == deleted) o.set_title("파일이 바꾼 성과");
  }
  v1::Activity* also_in_file = data->add_activities();
  also_in_file->set_name(made);
  also_in_file->set_kind(v1::SEMINAR);
  also_in_file->set_title("파일의 세미나");
  also_in_file->add_councils("councils/display");
  absl::StatusOr<crud::ImportSummary> changed =
      events_->events().Import(*data, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(changed->created, 0);
  EXPECT_EQ(changed->updated, 1);  // the untouched activity
  EXPECT_EQ(changed->kept, 3);     // the retitled and API-made activities, the outcome
  EXPECT_EQ(Activity(untouched).title(), "파일이 바꾼 제목");
  EXPECT_EQ(Activity(edited).title(), "API가 바꾼 제목");
  EXPECT_EQ(Activity(made).title(), "API가 만든 세미나");
  EXPECT_EQ(Activity(made).etag(), created.etag());
  EXPECT_FALSE(outcome_exists(deleted));
}

}  // namespace
}  // namespace sanhak::events
