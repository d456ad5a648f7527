// Who may write what in the registry, and the audit trail of every write asked for
// (issue 11): council scope and roles decided by the domain logic whatever the edge let
// through, and an entry per accepted or refused write, an accepted one in the write's
// own transaction. Real SQLite, real gRPC over loopback. The plaintext test server makes
// every gRPC caller the development admin ("plaintext-dev"); other callers (a scoped
// editor, a reader) call the domain directly with their Caller, as the handler would.
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/audit_log.h"
#include "common/sqlite_resource_store.h"
#include "common/status.h"
#include "common/validation.h"
#include "google/protobuf/text_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/registry/registry_fixture.h"
#include "tests/support/await.h"

namespace sanhak::registry {
namespace {

using ::sanhak::testing::Context;
using ::sanhak::testing::ReasonOf;
using ::testing::HasSubstr;

constexpr char kWorld[] = R"pb(
  fields { name: "fields/mobility" display_name: "미래 모빌리티" }
  fields { name: "fields/manufacturing" display_name: "첨단제조" }
  regions { name: "regions/seoul" display_name: "서울특별시" short_name: "서울" }
  regions { name: "regions/gyeonggi" display_name: "경기도" short_name: "경기" }
  complexes {
    name: "complexes/seoul-digital" display_name: "디지털첨단국가"
    region: "regions/seoul" kind: NATIONAL
  }
  complexes {
    name: "complexes/banwol-sihwa" display_name: "반월·시화국가"
    region: "regions/gyeonggi" kind: NATIONAL
  }
  organizations {
    name: "organizations/widetns" display_name: "(주)와이드티엔에스" kind: COMPANY
  }
  organizations { name: "organizations/kicox" display_name: "한국산업단지공단" kind: GOVERNMENT }
  councils {
    name: "councils/a" display_name: "협의체 A" field: "fields/mobility"
    complexes: "complexes/banwol-sihwa" complexes: "complexes/seoul-digital"
  }
  councils {
    name: "councils/b" display_name: "협의체 B" field: "fields/manufacturing"
    complexes: "complexes/seoul-digital" complexes: "complexes/banwol-sihwa"
  }
  memberships { name: "councils/b/memberships/widetns" role: HOST }
)pb";

Caller MakeCaller(std::string principal, Role role, std::vector<std::string> councils = {}) {
  Caller c;
  c.principal = std::move(principal);
  c.role = role;
  c.councils = std::move(councils);
  c.authenticated_by = "certificate";
  return c;
}

using ::sanhak::testing::Await;
using ::sanhak::testing::AwaitStatus;

class RegistryAuditTest : public RegistryFixture {
 protected:
  void SetUp() override {
    std::string path = dir_.File("world.textproto");
    std::ofstream(path) << kWorld;
    audit_log_path_ = dir_.File("audit.jsonl");
    StartRegistry(path);
  }

  Registry& registry() { return server_->registry(); }

  absl::StatusOr<v1::Council> UpdateCouncil(const Caller& caller, const std::string& name,
                                            const std::string& display_name) {
    v1::UpdateCouncilRequest request;
    request.mutable_council()->set_name(name);
    request.mutable_council()->set_display_name(display_name);
    request.mutable_update_mask()->add_paths("display_name");
    return Await<v1::Council>([&](crud::Done<v1::Council> done) {
      registry().UpdateCouncil(caller, request, std::move(done));
    });
  }

  v1::Council GetCouncil(const std::string& name) {
    v1::GetCouncilRequest request;
    request.set_name(name);
    absl::StatusOr<v1::Council> c = registry().GetCouncil(request);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : v1::Council();
  }

  // Every entry of the trail, through the admin's gRPC call, paging by `page_size`.
  std::vector<audit::v1::AuditEntry> Trail(audit::v1::ListAuditEntriesRequest request = {},
                                    int page_size = 7) {
    std::vector<audit::v1::AuditEntry> entries;
    request.set_page_size(page_size);
    for (int page = 0; page < 1000; ++page) {
      audit::v1::ListAuditEntriesResponse response;
      grpc::Status status = stub_->ListAuditEntries(Context().get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      EXPECT_LE(response.audit_entries_size(), page_size);
      entries.insert(entries.end(), response.audit_entries().begin(),
                     response.audit_entries().end());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return entries;
  }
};

TEST_F(RegistryAuditTest, EditorScopedToACouncilChangesOnlyThatCouncil) {
  const Caller editor = MakeCaller("spiffe://sanhak/editor-a", Role::kEditor, {"councils/a"});
  const std::string etag_b = GetCouncil("councils/b").etag();

  // Council B, a membership of B, a membership created in B: refused, naming B.
  absl::StatusOr<v1::Council> b = UpdateCouncil(editor, "councils/b", "바뀐 B");
  EXPECT_EQ(b.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(GetReason(b.status()), "COUNCIL_OUT_OF_SCOPE");
  EXPECT_THAT(b.status().message(), HasSubstr("councils/b"));

  v1::UpdateMembershipRequest update_membership;
  update_membership.mutable_membership()->set_name("councils/b/memberships/widetns");
  update_membership.mutable_membership()->set_role(v1::MEMBER);
  update_membership.mutable_update_mask()->add_paths("role");
  absl::StatusOr<v1::Membership> m = Await<v1::Membership>([&](auto done) {
    registry().UpdateMembership(editor, update_membership, std::move(done));
  });
  EXPECT_EQ(m.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(m.status().message(), HasSubstr("councils/b"));

  v1::CreateMembershipRequest create_membership;
  create_membership.set_parent("councils/b");
  create_membership.mutable_membership()->set_organization("organizations/kicox");
  create_membership.mutable_membership()->set_role(v1::MEMBER);
  m = Await<v1::Membership>([&](auto done) {
    registry().CreateMembership(editor, create_membership, std::move(done));
  });
  EXPECT_EQ(m.status().code(), absl::StatusCode::kPermissionDenied);

  // What belongs to no single council is out of every scope.
  v1::UpdateComplexRequest update_complex;
  update_complex.mutable_complex()->set_name("complexes/seoul-digital");
  update_complex.mutable_complex()->set_display_name("바뀐 단지");
  update_complex.mutable_update_mask()->add_paths("display_name");
  absl::StatusOr<v1::IndustrialComplex> c = Await<v1::IndustrialComplex>([&](auto done) {
    registry().UpdateComplex(editor, update_complex, std::move(done));
  });
  EXPECT_EQ(c.status().code(), absl::StatusCode::kPermissionDenied);

  // A council that does not exist, out of scope: refused the same way, so the refusal
  // does not tell whether it exists.
  absl::StatusOr<v1::Council> missing = UpdateCouncil(editor, "councils/nowhere", "x");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kPermissionDenied);

  // Nothing written.
  v1::Council after_b = GetCouncil("councils/b");
  EXPECT_EQ(after_b.etag(), etag_b);
  EXPECT_EQ(after_b.display_name(), "협의체 B");
  v1::GetMembershipRequest get_membership;
  get_membership.set_name("councils/b/memberships/widetns");
  EXPECT_EQ(registry().GetMembership(get_membership)->role(), v1::HOST);
  get_membership.set_name("councils/b/memberships/kicox");
  EXPECT_EQ(registry().GetMembership(get_membership).status().code(),
            absl::StatusCode::kNotFound);
  v1::GetComplexRequest get_complex;
  get_complex.set_name("complexes/seoul-digital");
  EXPECT_EQ(registry().GetComplex(get_complex)->display_name(), "디지털첨단국가");

  // Its own council and its memberships: allowed.
  absl::StatusOr<v1::Council> a = UpdateCouncil(editor, "councils/a", "바뀐 A");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(GetCouncil("councils/a").display_name(), "바뀐 A");
  create_membership.set_parent("councils/a");
  m = Await<v1::Membership>([&](auto done) {
    registry().CreateMembership(editor, create_membership, std::move(done));
  });
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->name(), "councils/a/memberships/kicox");
}

TEST_F(RegistryAuditTest, ReadersNeverWriteAndEditorsNeverDelete) {
  const Caller reader = MakeCaller("spiffe://sanhak/reader", Role::kReader);
  const Caller nobody = MakeCaller("", Role::kNone);
  const Caller editor = MakeCaller("spiffe://sanhak/editor", Role::kEditor);
  const std::string etag_a = GetCouncil("councils/a").etag();

  for (const Caller& caller : {reader, nobody}) {
    absl::StatusOr<v1::Council> c = UpdateCouncil(caller, "councils/a", "읽기 전용");
    EXPECT_EQ(c.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(GetReason(c.status()), "ROLE_REQUIRED");
  }
  v1::DeleteCouncilRequest del;
  del.set_name("councils/a");
  absl::Status deleted = AwaitStatus([&](crud::StatusDone done) {
    registry().DeleteCouncil(editor, del, std::move(done));
  });
  EXPECT_EQ(deleted.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(deleted.message(), HasSubstr("admin"));

  v1::Council a = GetCouncil("councils/a");
  EXPECT_EQ(a.etag(), etag_a);
  EXPECT_FALSE(a.has_delete_time());

  // And a non-admin may not read the trail.
  audit::v1::ListAuditEntriesRequest list;
  EXPECT_EQ(registry().ListAuditEntries(editor, list).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(registry().ListAuditEntries(PlaintextDevelopmentCaller(), list).ok());
}

// A mixed run: several gRPC connections writing at once (accepted and refused writes),
// plus other callers' refused writes through the domain. The trail then holds exactly
// those calls, with their callers, methods, resources, codes and fields; so does the
// JSON-lines log.
TEST_F(RegistryAuditTest, TrailHoldsExactlyTheWritesMadeAndRefused) {
  using Key = std::tuple<std::string, std::string, std::string, int>;  // who, method, what, code
  absl::Mutex mu;
  std::map<Key, int> expected;
  auto expect = [&](std::string who, std::string method, std::string resource, int code) {
    absl::MutexLock lock(&mu);
    ++expected[Key{who, method, resource, code}];
  };
  constexpr int kThreads = 4, kRounds = 5;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto stub = v1::RegistryService::NewStub(sanhak::testing::Connect(server_->address()));
      for (int i = 0; i < kRounds; ++i) {
        // Accepted: a new organization.
        v1::CreateOrganizationRequest create;
        const std::string id = absl::StrCat("org-", t, "-", i);
        create.set_organization_id(id);
        create.mutable_organization()->set_display_name(absl::StrCat("기관 ", t, "-", i));
        create.mutable_organization()->set_kind(v1::COMPANY);
        v1::Organization org;
        grpc::Status s = stub->CreateOrganization(Context().get(), create, &org);
        EXPECT_TRUE(s.ok()) << s.error_message();
        expect("plaintext-dev", "CreateOrganization", "organizations/" + id, s.error_code());
        // Refused: a stale etag (ABORTED).
        v1::UpdateCouncilRequest stale;
        stale.mutable_council()->set_name("councils/a");
        stale.mutable_council()->set_etag("1");
        stale.mutable_council()->set_display_name("x");
        stale.mutable_update_mask()->add_paths("display_name");
        v1::Council council;
        s = stub->UpdateCouncil(Context().get(), stale, &council);
        EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
        expect("plaintext-dev", "UpdateCouncil", "councils/a", s.error_code());
        // Refused: nothing there (NOT_FOUND).
        v1::DeleteOrganizationRequest gone;
        gone.set_name(absl::StrCat("organizations/none-", t, "-", i));
        google::protobuf::Empty empty;
        s = stub->DeleteOrganization(Context().get(), gone, &empty);
        EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
        expect("plaintext-dev", "DeleteOrganization", gone.name(), s.error_code());
        // Refused: invalid (INVALID_ARGUMENT).
        v1::CreateCouncilRequest bad;
        bad.set_council_id("Not An Id");
        s = stub->CreateCouncil(Context().get(), bad, &council);
        EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
        expect("plaintext-dev", "CreateCouncil", "councils/Not An Id", s.error_code());
      }
    });
  }
  // Meanwhile other callers, refused in the domain.
  const Caller reader = MakeCaller("spiffe://sanhak/reader", Role::kReader);
  const Caller scoped = MakeCaller("spiffe://sanhak/editor-a", Role::kEditor, {"councils/a"});
  for (int i = 0; i < kRounds; ++i) {
    EXPECT_FALSE(UpdateCouncil(reader, "councils/a", "r").ok());
    expect(reader.principal, "UpdateCouncil", "councils/a", 7);
    EXPECT_FALSE(UpdateCouncil(scoped, "councils/b", "s").ok());
    expect(scoped.principal, "UpdateCouncil", "councils/b", 7);
  }
  // An accepted update by the scoped editor, with its fields.
  ASSERT_TRUE(UpdateCouncil(scoped, "councils/a", "A!").ok());
  expect(scoped.principal, "UpdateCouncil", "councils/a", 0);
  for (std::thread& t : threads) t.join();

  std::vector<audit::v1::AuditEntry> trail = Trail();
  std::map<Key, int> got;
  for (const audit::v1::AuditEntry& e : trail) {
    ++got[Key{e.principal(), e.method(), e.resource(), e.code()}];
  }
  EXPECT_EQ(got, expected);
  int total = 0;
  for (const auto& [key, n] : expected) total += n;
  EXPECT_EQ(static_cast<int>(trail.size()), total);
  // Sequences ascend; roles and fields as the calls had them.
  for (size_t i = 1; i < trail.size(); ++i) {
    EXPECT_LT(trail[i - 1].sequence(), trail[i].sequence());
  }
  for (const audit::v1::AuditEntry& e : trail) {
    if (e.principal() == "plaintext-dev") {
      EXPECT_EQ(e.role(), "admin");
      EXPECT_EQ(e.authenticated_by(), "plaintext");
    }
    if (e.principal() == scoped.principal && e.code() == 0) {
      EXPECT_EQ(e.role(), "editor");
      EXPECT_THAT(e.fields(), ::testing::ElementsAre("display_name"));
    }
    if (e.method() == "CreateOrganization") {
      EXPECT_THAT(e.fields(), ::testing::UnorderedElementsAre("display_name", "kind"));
    }
    if (e.code() != 0) {
      EXPECT_FALSE(e.message().empty());
    }
  }

  // The log holds one line per entry, each a JSON object naming its method.
  std::ifstream log(audit_log_path_);
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) {
    ++lines;
    EXPECT_TRUE(absl::StartsWith(line, "{\"ts\":")) << line;
    EXPECT_THAT(line, HasSubstr("\"method\":"));
    EXPECT_LT(line.size(), kMaxAuditLineBytes);
  }
  EXPECT_EQ(lines, total);
}

TEST_F(RegistryAuditTest, ListAuditEntriesFiltersAndPages) {
  const Caller scoped = MakeCaller("spiffe://sanhak/editor-a", Role::kEditor, {"councils/a"});
  const absl::Time before = absl::Now();
  ASSERT_TRUE(UpdateCouncil(scoped, "councils/a", "A1").ok());
  EXPECT_FALSE(UpdateCouncil(scoped, "councils/b", "B1").ok());
  absl::SleepFor(absl::Milliseconds(5));
  const absl::Time middle = absl::Now();
  absl::SleepFor(absl::Milliseconds(5));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(UpdateCouncil(PlaintextDevelopmentCaller(), "councils/b", "B2").ok());
  }

  audit::v1::ListAuditEntriesRequest by_principal;
  by_principal.set_principal(scoped.principal);
  EXPECT_EQ(Trail(by_principal, 1).size(), 2u);

  audit::v1::ListAuditEntriesRequest by_resource;
  by_resource.set_resource("councils/b");
  std::vector<audit::v1::AuditEntry> b = Trail(by_resource, 2);
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[0].code(), 7);  // the refusal first: oldest first

  audit::v1::ListAuditEntriesRequest from_middle;
  *from_middle.mutable_start_time() = ToTimestamp(middle);
  EXPECT_EQ(Trail(from_middle).size(), 3u);
  audit::v1::ListAuditEntriesRequest until_middle;
  *until_middle.mutable_start_time() = ToTimestamp(before);
  *until_middle.mutable_end_time() = ToTimestamp(middle);
  EXPECT_EQ(Trail(until_middle).size(), 2u);
  EXPECT_EQ(Trail().size(), 5u);

  // A token is honoured only with the filters that issued it.
  audit::v1::ListAuditEntriesRequest first = by_resource;
  first.set_page_size(1);
  audit::v1::ListAuditEntriesResponse page;
  ASSERT_TRUE(stub_->ListAuditEntries(Context().get(), first, &page).ok());
  ASSERT_FALSE(page.next_page_token().empty());
  audit::v1::ListAuditEntriesRequest moved;
  moved.set_page_token(page.next_page_token());
  grpc::Status s = stub_->ListAuditEntries(Context().get(), moved, &page);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  audit::v1::ListAuditEntriesRequest backwards = until_middle;
  *backwards.mutable_end_time() = ToTimestamp(before - absl::Seconds(1));
  s = stub_->ListAuditEntries(Context().get(), backwards, &page);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  audit::v1::ListAuditEntriesRequest negative;
  negative.set_page_size(-1);
  s = stub_->ListAuditEntries(Context().get(), negative, &page);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// validate_only changes nothing and is recorded as such, in its own transaction.
TEST_F(RegistryAuditTest, ValidateOnlyIsRecordedAsSuch) {
  v1::UpdateCouncilRequest request;
  request.mutable_council()->set_name("councils/a");
  request.mutable_council()->set_display_name("검사만");
  request.mutable_update_mask()->add_paths("display_name");
  request.set_validate_only(true);
  v1::Council out;
  ASSERT_TRUE(stub_->UpdateCouncil(Context().get(), request, &out).ok());
  EXPECT_EQ(GetCouncil("councils/a").display_name(), "협의체 A");
  std::vector<audit::v1::AuditEntry> trail = Trail();
  ASSERT_EQ(trail.size(), 1u);
  EXPECT_TRUE(trail[0].validate_only());
  EXPECT_EQ(trail[0].code(), 0);
}

// A store in front of the real one that fails the next write after its work, audit
// entry included, has run: the transaction rolls back as a whole.
class FailAfterWorkStore final : public store::ResourceStore {
 public:
  explicit FailAfterWorkStore(store::ResourceStore* base) : base_(base) {}
  absl::Status Read(absl::FunctionRef<absl::Status(store::ReadView&)> fn) override {
    return base_->Read(fn);
  }
  void WriteAsync(store::WriteFn fn, store::WriteDone done) override {
    const bool fail = fail_next_.exchange(false);
    base_->WriteAsync(
        [fn = std::move(fn), fail](store::WriteTransaction& tx) mutable -> absl::Status {
          absl::Status s = fn(tx);
          if (s.ok() && fail) return absl::InternalError("injected after the audit entry");
          return s;
        },
        std::move(done));
  }
  absl::Status Ping() override { return base_->Ping(); }
  absl::StatusOr<std::vector<store::OutboxEntry>> ReadOutbox(int limit) override {
    return base_->ReadOutbox(limit);
  }
  absl::Status AckOutbox(int64_t up_to) override { return base_->AckOutbox(up_to); }
  absl::StatusOr<int64_t> OutboxBacklog() override { return base_->OutboxBacklog(); }
  void SetCommitListener(std::function<void()> l) override {
    base_->SetCommitListener(std::move(l));
  }
  absl::StatusOr<store::AuditPage> ListAudit(const store::AuditQuery& q) override {
    return base_->ListAudit(q);
  }
  absl::StatusOr<bool> HoldsRelayLease() override { return base_->HoldsRelayLease(); }
  std::atomic<bool> fail_next_{true};

 private:
  store::ResourceStore* base_;
};

TEST(RegistryAuditAtomicTest, EntryAndWriteCommitTogetherOrNotAtAll) {
  sanhak::testing::TempDir dir;
  auto base = store::SqliteResourceStore::Open({dir.File("r.db"), "registry"});
  ASSERT_TRUE(base.ok()) << base.status();
  FailAfterWorkStore failing(base->get());
  Registry registry(&failing);
  v1::CreateComplexRequest request;
  request.set_complex_id("lost");
  request.mutable_complex()->set_display_name("사라질 단지");
  request.mutable_complex()->set_region("regions/none");
  request.mutable_complex()->set_kind(v1::NATIONAL);
  // Regions are imported; without one the create fails validation. Import a region.
  v1::RegistryData data;
  data.add_regions()->set_name("regions/none");
  data.mutable_regions(0)->set_display_name("없음");
  data.mutable_regions(0)->set_short_name("없음");
  failing.fail_next_ = false;
  ASSERT_TRUE(registry.Import(data).ok());
  failing.fail_next_ = true;

  absl::StatusOr<v1::IndustrialComplex> created =
      Await<v1::IndustrialComplex>([&](crud::Done<v1::IndustrialComplex> done) {
        registry.CreateComplex(PlaintextDevelopmentCaller(), request, std::move(done));
      });
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInternal);
  v1::GetComplexRequest get;
  get.set_name("complexes/lost");
  EXPECT_EQ(registry.GetComplex(get).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<store::AuditPage> trail = failing.ListAudit({});
  ASSERT_TRUE(trail.ok()) << trail.status();
  // Only the refusal, recorded on its own: the accepted entry went with the write.
  ASSERT_EQ(trail->entries.size(), 1u);
  EXPECT_EQ(trail->entries[0].code, static_cast<int>(absl::StatusCode::kInternal));
  EXPECT_EQ(trail->entries[0].method, "CreateComplex");
  EXPECT_EQ(trail->entries[0].resource, "complexes/lost");

  // The same write, not failed: the write and its entry, together.
  created = Await<v1::IndustrialComplex>([&](crud::Done<v1::IndustrialComplex> done) {
    registry.CreateComplex(PlaintextDevelopmentCaller(), request, std::move(done));
  });
  ASSERT_TRUE(created.ok()) << created.status();
  trail = failing.ListAudit({});
  ASSERT_EQ(trail->entries.size(), 2u);
  EXPECT_EQ(trail->entries[1].code, 0);
}

}  // namespace
}  // namespace sanhak::registry

namespace sanhak {
namespace {

// A line of the audit log stays one bounded line of JSON whatever the caller sent.
TEST(AuditLineTest, IsOneBoundedLineWhateverTheCallerSent) {
  Caller caller;
  caller.principal = std::string(100000, 'p') + "\"\n";
  caller.role = Role::kEditor;
  std::vector<std::string> fields(1000, std::string(5000, 'f'));
  store::AuditEntry e =
      Auditor::Entry(caller, "UpdateCouncil", std::string(100000, 'r'), "id\n\"", fields, false);
  Auditor::SetOutcome(absl::InvalidArgumentError(std::string(100000, 'm') + "한"), e);
  std::string line = AuditLine("registry", e);
  EXPECT_LT(line.size(), kMaxAuditLineBytes);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_TRUE(IsValidUtf8(line));
  EXPECT_EQ(e.fields.size(), kMaxAuditFields);
  EXPECT_NE(line.find("\"code\":\"INVALID_ARGUMENT\""), std::string::npos) << line.substr(0, 300);
  EXPECT_NE(line.find("\"request_id\":\"id\\n\\\"\""), std::string::npos);
}

// A write turned away because too many are in flight (OVERLOADED) is a refused write too:
// it is in the trail with its caller and method, and nothing was written.
class RegistryOverloadAuditTest : public registry::RegistryFixture {};

TEST_F(RegistryOverloadAuditTest, AWriteRefusedAsOverloadedIsInTheTrail) {
  max_writes_in_flight_ = 0;  // every write is refused at admission
  StartRegistry();
  registry::v1::CreateOrganizationRequest create;
  create.set_organization_id("overloaded-org");
  create.mutable_organization()->set_display_name("과부하 기관");
  create.mutable_organization()->set_kind(registry::v1::COMPANY);
  registry::v1::Organization created;
  grpc::ClientContext context;
  grpc::Status status = stub_->CreateOrganization(&context, create, &created);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();

  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  std::vector<std::string> seen;
  while (seen.empty() && absl::Now() < give_up) {
    absl::StatusOr<audit::v1::ListAuditEntriesResponse> trail =
        server_->registry().ListAuditEntries(PlaintextDevelopmentCaller(), {});
    ASSERT_TRUE(trail.ok()) << trail.status();
    for (const audit::v1::AuditEntry& e : trail->audit_entries()) {
      seen.push_back(absl::StrCat(e.principal(), " ", e.method(), " ", e.code()));
    }
    if (seen.empty()) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(seen, ::testing::ElementsAre("plaintext-dev CreateOrganization 8"));
  registry::v1::GetOrganizationRequest get;
  get.set_name("organizations/overloaded-org");
  grpc::ClientContext read;
  EXPECT_EQ(stub_->GetOrganization(&read, get, &created).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace sanhak
