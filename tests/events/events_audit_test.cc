// Council scope and the audit trail in the events service (issue 11): an editor scoped to
// councils changes only the activities, registrations and outcomes that belong to those
// councils alone; every write asked for, accepted or refused, is in the trail. Real
// registry and events servers on real SQLite files, over real gRPC on loopback; callers
// other than the plaintext development admin call the domain with their Caller.
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/events/events_fixture.h"
#include "tests/support/await.h"

namespace sanhak::events {
namespace {

using ::sanhak::testing::Context;
using ::testing::HasSubstr;

constexpr char kShips[] = "councils/special-purpose-ships";
constexpr char kGdx[] = "councils/gdx-small-medium-ships";

using ::sanhak::testing::Await;
using ::sanhak::testing::AwaitStatus;

Caller MakeCaller(std::string principal, Role role, std::vector<std::string> councils = {}) {
  Caller c;
  c.principal = std::move(principal);
  c.role = role;
  c.councils = std::move(councils);
  c.authenticated_by = "certificate";
  return c;
}

v1::Activity Plain(const std::string& title, std::vector<std::string> councils) {
  v1::Activity a;
  a.set_kind(v1::SEMINAR);
  a.set_title(title);
  for (const std::string& c : councils) a.add_councils(c);
  return a;
}

class EventsAuditTest : public EventsFixture {
 protected:
  void SetUp() override { StartServices(); }

  Events& events() { return events_->events(); }
  absl::Time Deadline() { return absl::Now() + absl::Seconds(10); }

  absl::StatusOr<v1::Activity> CreateActivity(const Caller& caller, const v1::Activity& a,
                                              const std::string& id) {
    v1::CreateActivityRequest request;
    *request.mutable_activity() = a;
    request.set_activity_id(id);
    return Await<v1::Activity>([&](auto done) {
      events().CreateActivity(caller, request, Deadline(), std::move(done));
    });
  }

  absl::StatusOr<v1::Activity> Retitle(const Caller& caller, const std::string& name,
                                       const std::string& title) {
    v1::UpdateActivityRequest request;
    request.mutable_activity()->set_name(name);
    request.mutable_activity()->set_title(title);
    request.mutable_update_mask()->add_paths("title");
    return Await<v1::Activity>([&](auto done) {
      events().UpdateActivity(caller, request, Deadline(), std::move(done));
    });
  }

  absl::StatusOr<v1::Outcome> CreateOutcome(const Caller& caller, const std::string& council,
                                            const std::string& activity) {
    v1::CreateOutcomeRequest request;
    v1::Outcome* o = request.mutable_outcome();
    o->set_council(council);
    o->set_category(v1::MOU_SIGNED);
    o->set_title("업무협약");
    o->mutable_start_date()->set_year(2025);
    o->set_activity(activity);
    return Await<v1::Outcome>([&](auto done) {
      events().CreateOutcome(caller, request, Deadline(), std::move(done));
    });
  }

  absl::StatusOr<v1::Registration> Register(const Caller& caller, const std::string& activity) {
    v1::CreateRegistrationRequest request;
    request.set_parent(activity);
    request.mutable_registration()->mutable_person()->set_display_name("홍길동");
    request.mutable_registration()->mutable_person()->set_contact("hong@example.kr");
    return Await<v1::Registration>([&](auto done) {
      events().CreateRegistration(caller, request, Deadline(), std::move(done));
    });
  }

  v1::Activity Get(const std::string& name) {
    v1::GetActivityRequest request;
    request.set_name(name);
    absl::StatusOr<v1::Activity> a = events().GetActivity(request);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *a : v1::Activity();
  }

  int Count(const std::string& collection) {
    if (collection == "activities") return events().ListActivities({})->total_size();
    if (collection == "outcomes") return events().ListOutcomes({})->total_size();
    v1::ListRegistrationsRequest r;
    r.set_parent("activities/-");
    return events().ListRegistrations(r)->total_size();
  }
};

TEST_F(EventsAuditTest, EditorScopedToACouncilChangesOnlyWhatBelongsToItAlone) {
  const Caller admin = PlaintextDevelopmentCaller();
  const Caller editor = MakeCaller("spiffe://sanhak/ships-editor", Role::kEditor, {kShips});
  ASSERT_TRUE(CreateActivity(admin, Plain("공동 세미나", {kShips, kGdx}), "joint").ok());
  ASSERT_TRUE(CreateActivity(admin, Plain("단독 세미나", {kShips}), "own").ok());
  const int activities = Count("activities"), outcomes = Count("outcomes"),
            registrations = Count("registrations");
  const std::string joint_etag = Get("activities/joint").etag();

  // An activity naming A and B: neither created nor changed.
  absl::StatusOr<v1::Activity> a = CreateActivity(editor, Plain("x", {kShips, kGdx}), "x");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(a.status().message(), HasSubstr(kGdx));
  a = Retitle(editor, "activities/joint", "바뀐 제목");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(a.status().message(), HasSubstr(kGdx));
  // Nor may its own activity be moved to name B.
  v1::UpdateActivityRequest widen;
  widen.mutable_activity()->set_name("activities/own");
  widen.mutable_activity()->add_councils(kShips);
  widen.mutable_activity()->add_councils(kGdx);
  widen.mutable_update_mask()->add_paths("councils");
  a = Await<v1::Activity>([&](auto done) {
    events().UpdateActivity(editor, widen, Deadline(), std::move(done));
  });
  EXPECT_EQ(a.status().code(), absl::StatusCode::kPermissionDenied);
  // An outcome of B, or of A but from an activity naming B; a registration to that
  // activity.
  EXPECT_EQ(CreateOutcome(editor, kGdx, "").status().code(),
            absl::StatusCode::kPermissionDenied);
  absl::StatusOr<v1::Outcome> o = CreateOutcome(editor, kShips, "activities/joint");
  EXPECT_EQ(o.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(o.status().message(), HasSubstr(kGdx));
  EXPECT_EQ(Register(editor, "activities/joint").status().code(),
            absl::StatusCode::kPermissionDenied);
  // Deletes are the admin's.
  v1::DeleteActivityRequest del;
  del.set_name("activities/own");
  EXPECT_EQ(AwaitStatus([&](crud::StatusDone done) {
              events().DeleteActivity(editor, del, std::move(done));
            }).code(),
            absl::StatusCode::kPermissionDenied);

  // Nothing written.
  EXPECT_EQ(Count("activities"), activities);
  EXPECT_EQ(Count("outcomes"), outcomes);
  EXPECT_EQ(Count("registrations"), registrations);
  EXPECT_EQ(Get("activities/joint").etag(), joint_etag);
  EXPECT_THAT(Get("activities/own").councils(), ::testing::ElementsAre(kShips));

  // What belongs to A alone: allowed.
  ASSERT_TRUE(Retitle(editor, "activities/own", "바뀐 단독 세미나").ok());
  ASSERT_TRUE(CreateOutcome(editor, kShips, "activities/own").ok());
  ASSERT_TRUE(Register(editor, "activities/own").ok());
  ASSERT_TRUE(CreateActivity(editor, Plain("새 세미나", {kShips}), "new").ok());

  // A reader writes nothing.
  const Caller reader = MakeCaller("spiffe://sanhak/reader", Role::kReader);
  EXPECT_EQ(Retitle(reader, "activities/own", "r").status().code(),
            absl::StatusCode::kPermissionDenied);

  // The trail: the scoped editor's 11 calls, 7 refused and 4 accepted; the reader's one.
  audit::v1::ListAuditEntriesRequest list;
  list.set_principal(editor.principal);
  list.set_page_size(5);
  std::map<int, int> codes;
  std::vector<std::string> methods;
  for (int page = 0; page < 10; ++page) {
    audit::v1::ListAuditEntriesResponse response;
    grpc::Status s = stub_->ListAuditEntries(Context().get(), list, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const audit::v1::AuditEntry& e : response.audit_entries()) {
      ++codes[e.code()];
      methods.push_back(e.method());
      EXPECT_EQ(e.role(), "editor");
    }
    if (response.next_page_token().empty()) break;
    list.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(codes, (std::map<int, int>{{0, 4}, {7, 7}}));
  EXPECT_THAT(methods, ::testing::ElementsAre(
                           "CreateActivity", "UpdateActivity", "UpdateActivity",
                           "CreateOutcome", "CreateOutcome", "CreateRegistration",
                           "DeleteActivity", "UpdateActivity", "CreateOutcome",
                           "CreateRegistration", "CreateActivity"));
  list.Clear();
  list.set_principal(reader.principal);
  audit::v1::ListAuditEntriesResponse response;
  ASSERT_TRUE(stub_->ListAuditEntries(Context().get(), list, &response).ok());
  ASSERT_EQ(response.audit_entries_size(), 1);
  EXPECT_EQ(response.audit_entries(0).resource(), "activities/own");
  EXPECT_EQ(response.audit_entries(0).code(), 7);

  // Only an admin reads it.
  EXPECT_EQ(events().ListAuditEntries(editor, {}).status().code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace sanhak::events
