// Every registry method over real gRPC on loopback, against a real SQLite file: what
// succeeds, what each kind of bad input gets back, and that a refused call writes nothing.
#include <algorithm>
#include <climits>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/registry/registry_fixture.h"

namespace sanhak::registry {
namespace {

using ::sanhak::testing::Context;
using ::sanhak::testing::ReasonOf;
using ::sanhak::testing::ViolatedFields;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// A small world of its own, so these tests do not depend on the seed data.
constexpr char kWorld[] = R"pb(
  fields { name: "fields/mobility" display_name: "미래 모빌리티" english_name: "Future mobility" }
  fields { name: "fields/mobility-auto" display_name: "자동차" parent: "fields/mobility" }
  fields { name: "fields/manufacturing" display_name: "첨단제조" }
  regions { name: "regions/seoul" display_name: "서울특별시" short_name: "서울" }
  regions { name: "regions/gyeonggi" display_name: "경기도" short_name: "경기" }
  regions { name: "regions/ulsan" display_name: "울산광역시" short_name: "울산" }
  complexes {
    name: "complexes/seoul-digital" display_name: "디지털첨단국가"
    region: "regions/seoul" kind: NATIONAL aliases: "서울디지털"
  }
  complexes {
    name: "complexes/banwol-sihwa" display_name: "반월·시화국가"
    region: "regions/gyeonggi" kind: NATIONAL aliases: "경기반월·시화"
  }
  complexes {
    name: "complexes/pyeongtaek" display_name: "평택드림테크일반"
    region: "regions/gyeonggi" kind: GENERAL
  }
  complexes {
    name: "complexes/mipo-onsan" display_name: "미포·온산국가"
    region: "regions/ulsan" kind: NATIONAL aliases: "미포국가"
  }
  organizations {
    name: "organizations/widetns" display_name: "(주)와이드티엔에스" kind: COMPANY
    home_complex: "complexes/seoul-digital"
  }
  organizations { name: "organizations/kicox" display_name: "한국산업단지공단" kind: GOVERNMENT }
  councils {
    name: "councils/smart-mobility" display_name: "스마트그린모빌리티"
    field: "fields/mobility-auto" forum_session: 1
    complexes: "complexes/banwol-sihwa" complexes: "complexes/seoul-digital"
  }
  councils {
    name: "councils/manufacturing-dx" display_name: "첨단제조디지털전환"
    field: "fields/manufacturing" forum_session: 3
    complexes: "complexes/seoul-digital" complexes: "complexes/banwol-sihwa"
    complexes: "complexes/mipo-onsan"
    host_organization: "organizations/widetns"
    reported_members {
      total: 126 companies: 95 universities: 11 research_institutes: 4 support_agencies: 16
      as_of { year: 2025 month: 7 day: 30 }
    }
  }
  memberships {
    name: "councils/manufacturing-dx/memberships/widetns"
    role: HOST join_date { year: 2025 month: 1 }
  }
)pb";

class RegistryApiTest : public RegistryFixture {
 protected:
  void SetUp() override {
    v1::RegistryData world;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kWorld, &world));
    std::string path = dir_.File("world.textproto");
    std::string text;
    google::protobuf::TextFormat::PrintToString(world, &text);
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fwrite(text.data(), 1, text.size(), f);
    fclose(f);
    StartRegistry(path);
  }

  v1::Council ValidCouncil() {
    v1::Council c;
    c.set_display_name("경기+울산 미래모빌리티");
    c.set_field("fields/mobility-auto");
    c.set_forum_session(1);
    c.add_complexes("complexes/pyeongtaek");
    c.add_complexes("complexes/mipo-onsan");
    return c;
  }

  grpc::Status Create(const v1::Council& council, const std::string& id, v1::Council* out,
                      const std::string& request_id = "") {
    v1::CreateCouncilRequest request;
    *request.mutable_council() = council;
    request.set_council_id(id);
    request.set_request_id(request_id);
    return stub_->CreateCouncil(Context().get(), request, out);
  }

  v1::Council Get(const std::string& name) {
    v1::GetCouncilRequest request;
    request.set_name(name);
    v1::Council out;
    grpc::Status status = stub_->GetCouncil(Context().get(), request, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    return out;
  }

  v1::ListCouncilsResponse List(v1::ListCouncilsRequest request) {
    v1::ListCouncilsResponse out;
    grpc::Status status = stub_->ListCouncils(Context().get(), request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }

  int CouncilCount() { return List({}).total_size(); }

  std::vector<std::string> Names(const v1::ListCouncilsResponse& response) {
    std::vector<std::string> names;
    for (const auto& c : response.councils()) names.push_back(c.name());
    return names;
  }
};

TEST_F(RegistryApiTest, GetCouncilReturnsStoredAndDerivedFields) {
  v1::Council c = Get("councils/manufacturing-dx");
  EXPECT_EQ(c.display_name(), "첨단제조디지털전환");
  EXPECT_THAT(c.regions(),
              ElementsAre("regions/seoul", "regions/gyeonggi", "regions/ulsan"));
  EXPECT_EQ(c.membership_count(), 1);
  EXPECT_EQ(c.reported_members().total(), 126);
  EXPECT_EQ(c.reported_members().companies(), 95);
  EXPECT_FALSE(c.etag().empty());
  EXPECT_GT(c.create_time().seconds(), 0);
}

TEST_F(RegistryApiTest, GetUnknownCouncilIsNotFound) {
  v1::GetCouncilRequest request;
  request.set_name("councils/no-such-council");
  v1::Council out;
  grpc::Status status = stub_->GetCouncil(Context().get(), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_NOT_FOUND");
}

TEST_F(RegistryApiTest, MalformedNamesAreInvalidArgumentNamingTheField) {
  for (const std::string name : {"", "council/x", "councils/Upper", "councils/a/b",
                                 "complexes/seoul-digital"}) {
    v1::GetCouncilRequest request;
    request.set_name(name);
    v1::Council out;
    grpc::Status status = stub_->GetCouncil(Context().get(), request, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name;
    EXPECT_THAT(ViolatedFields(status), ElementsAre("name")) << name;
  }
}

TEST_F(RegistryApiTest, CreateCouncilStoresAndDerivesRegions) {
  v1::Council created;
  ASSERT_TRUE(Create(ValidCouncil(), "gyeonggi-ulsan-mobility", &created).ok());
  EXPECT_EQ(created.name(), "councils/gyeonggi-ulsan-mobility");
  EXPECT_THAT(created.regions(), ElementsAre("regions/gyeonggi", "regions/ulsan"));
  v1::Council read = Get(created.name());
  EXPECT_EQ(read.display_name(), "경기+울산 미래모빌리티");
  EXPECT_EQ(read.etag(), created.etag());
  EXPECT_EQ(CouncilCount(), 3);
}

TEST_F(RegistryApiTest, CreateWithoutIdGeneratesAReadableOne) {
  v1::Council created;
  ASSERT_TRUE(Create(ValidCouncil(), "", &created).ok());
  EXPECT_THAT(created.name(), ::testing::StartsWith("councils/council-"));
  EXPECT_EQ(Get(created.name()).display_name(), ValidCouncil().display_name());
}

TEST_F(RegistryApiTest, CreateWithTakenIdIsAlreadyExists) {
  v1::Council out;
  grpc::Status status = Create(ValidCouncil(), "smart-mobility", &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Get("councils/smart-mobility").display_name(), "스마트그린모빌리티");
}

TEST_F(RegistryApiTest, RetriedCreateWithSameRequestIdReturnsTheFirstResult) {
  v1::Council first, second;
  ASSERT_TRUE(Create(ValidCouncil(), "", &first, "req-7f1c").ok());
  ASSERT_TRUE(Create(ValidCouncil(), "", &second, "req-7f1c").ok());
  EXPECT_EQ(second.name(), first.name());
  EXPECT_EQ(second.etag(), first.etag());
  EXPECT_EQ(CouncilCount(), 3);  // two seeded + one, not two

  // The same id with another request is a client bug, not a retry.
  v1::Council other = ValidCouncil();
  other.set_display_name("다른 협의체");
  v1::Council out;
  grpc::Status status = Create(other, "", &out, "req-7f1c");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("request_id"));
  EXPECT_EQ(CouncilCount(), 3);
}

// Each bad council: the fields the error must name. Nothing may be written.
struct BadCouncilCase {
  std::string label;
  std::function<void(v1::Council&)> spoil;
  std::vector<std::string> fields;
};

TEST_F(RegistryApiTest, InvalidCouncilsAreRefusedNamingEachFieldAndWriteNothing) {
  std::vector<BadCouncilCase> cases = {
      {"no name", [](v1::Council& c) { c.clear_display_name(); }, {"council.display_name"}},
      {"blank name", [](v1::Council& c) { c.set_display_name("   "); },
       {"council.display_name"}},
      {"description too long",
       [](v1::Council& c) { c.set_description(std::string(8001, 'x')); },
       {"council.description"}},
      {"no field", [](v1::Council& c) { c.clear_field(); }, {"council.field"}},
      {"unknown field", [](v1::Council& c) { c.set_field("fields/space"); }, {"council.field"}},
      {"one complex", [](v1::Council& c) { c.mutable_complexes()->RemoveLast(); },
       {"council.complexes"}},
      {"one region",
       [](v1::Council& c) {
         c.clear_complexes();
         c.add_complexes("complexes/pyeongtaek");
         c.add_complexes("complexes/banwol-sihwa");
       },
       {"council.complexes"}},
      {"duplicate complex",
       [](v1::Council& c) { c.add_complexes("complexes/pyeongtaek"); },
       {"council.complexes[2]"}},
      {"unknown complex", [](v1::Council& c) { c.add_complexes("complexes/atlantis"); },
       {"council.complexes[2]"}},
      {"session 5", [](v1::Council& c) { c.set_forum_session(5); }, {"council.forum_session"}},
      {"month 13", [](v1::Council& c) { c.mutable_launch_date()->set_year(2025);
                                        c.mutable_launch_date()->set_month(13); },
       {"council.launch_date"}},
      {"unknown host",
       [](v1::Council& c) { c.set_host_organization("organizations/nobody"); },
       {"council.host_organization"}},
      {"kinds do not add up",
       [](v1::Council& c) {
         c.mutable_reported_members()->set_total(100);
         c.mutable_reported_members()->set_companies(90);
       },
       {"council.reported_members.total"}},
      {"negative count",
       [](v1::Council& c) { c.mutable_reported_members()->set_universities(-1); },
       {"council.reported_members.universities"}},
      {"several at once",
       [](v1::Council& c) {
         c.clear_display_name();
         c.set_forum_session(-1);
         c.set_field("fields/space");
       },
       {"council.display_name", "council.field", "council.forum_session"}},
  };
  for (const BadCouncilCase& bad : cases) {
    v1::Council council = ValidCouncil();
    bad.spoil(council);
    v1::Council out;
    grpc::Status status = Create(council, "would-be-new", &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.label;
    EXPECT_THAT(ViolatedFields(status), ::testing::UnorderedElementsAreArray(bad.fields))
        << bad.label << ": " << status.error_message();
    EXPECT_EQ(ReasonOf(status), "INVALID_ARGUMENT") << bad.label;
  }
  EXPECT_EQ(CouncilCount(), 2);
}

// validate_only (AIP-163): every check runs (rules, references, conflicts, etag) and the
// answer is what the write would return, but nothing is kept: no council, no change
// record, and the request_id stays free for the real request.
TEST_F(RegistryApiTest, ValidateOnlyChecksEverythingAndWritesNothing) {
  auto create = [&](const v1::Council& council, const std::string& id, v1::Council* out,
                    const std::string& request_id = "") {
    v1::CreateCouncilRequest request;
    *request.mutable_council() = council;
    request.set_council_id(id);
    request.set_request_id(request_id);
    request.set_validate_only(true);
    return stub_->CreateCouncil(Context().get(), request, out);
  };
  v1::Council would_be;
  grpc::Status status = create(ValidCouncil(), "checked-only", &would_be, "req-check-1");
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(would_be.name(), "councils/checked-only");
  EXPECT_THAT(would_be.regions(), ::testing::Not(::testing::IsEmpty()));
  EXPECT_EQ(CouncilCount(), 2);
  v1::GetCouncilRequest get;
  get.set_name("councils/checked-only");
  v1::Council missing;
  EXPECT_EQ(stub_->GetCouncil(Context().get(), get, &missing).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // The refusals are the real ones.
  v1::Council bad = ValidCouncil();
  bad.add_complexes("complexes/atlantis");
  status = create(bad, "checked-only", &would_be);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("council.complexes[2]"));
  EXPECT_EQ(create(ValidCouncil(), "smart-mobility", &would_be).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  // The same request_id then creates for real, once.
  v1::Council created;
  ASSERT_TRUE(Create(ValidCouncil(), "checked-only", &created, "req-check-1").ok());
  EXPECT_EQ(CouncilCount(), 3);

  // An update checked only: the would-be result, the stored council unchanged.
  v1::Council before = Get("councils/smart-mobility");
  v1::UpdateCouncilRequest update;
  update.mutable_council()->set_name(before.name());
  update.mutable_council()->set_display_name("검토만");
  update.mutable_council()->set_etag(before.etag());
  update.mutable_update_mask()->add_paths("display_name");
  update.set_validate_only(true);
  v1::Council updated;
  ASSERT_TRUE(stub_->UpdateCouncil(Context().get(), update, &updated).ok());
  EXPECT_EQ(updated.display_name(), "검토만");
  v1::Council after = Get(before.name());
  EXPECT_EQ(after.display_name(), before.display_name());
  EXPECT_EQ(after.etag(), before.etag());
  update.mutable_council()->set_etag("999");
  EXPECT_EQ(stub_->UpdateCouncil(Context().get(), update, &updated).error_code(),
            grpc::StatusCode::ABORTED);
}

TEST_F(RegistryApiTest, InvalidCouncilIdIsRefused) {
  v1::Council out;
  grpc::Status status = Create(ValidCouncil(), "Not_An_Id", &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("council_id"));
  EXPECT_EQ(CouncilCount(), 2);
}

TEST_F(RegistryApiTest, UpdateChangesOnlyTheMaskedFields) {
  v1::Council before = Get("councils/smart-mobility");
  v1::UpdateCouncilRequest request;
  request.mutable_council()->set_name(before.name());
  request.mutable_council()->set_display_name("스마트그린모빌리티(개편)");
  request.mutable_council()->set_forum_session(2);  // not in the mask: ignored
  request.mutable_council()->set_etag(before.etag());
  request.mutable_update_mask()->add_paths("display_name");
  v1::Council updated;
  ASSERT_TRUE(stub_->UpdateCouncil(Context().get(), request, &updated).ok());
  EXPECT_EQ(updated.display_name(), "스마트그린모빌리티(개편)");
  EXPECT_EQ(updated.forum_session(), 1);
  EXPECT_NE(updated.etag(), before.etag());
  EXPECT_EQ(Get(before.name()).display_name(), "스마트그린모빌리티(개편)");
}

// List pages are served from memory until the next commit: each of a create, an update
// and a delete shows in the very next page of the same request (read before, so cached).
TEST_F(RegistryApiTest, AListPageShowsEachCommitInTheNextRead) {
  v1::ListCouncilsRequest request;
  request.set_field("fields/mobility-auto");
  const v1::ListCouncilsResponse before = List(request);
  EXPECT_EQ(List(request).SerializeAsString(), before.SerializeAsString());  // the same page

  v1::Council created;
  ASSERT_TRUE(Create(ValidCouncil(), "gyeonggi-ulsan-mobility", &created).ok());
  v1::ListCouncilsResponse page = List(request);
  EXPECT_EQ(page.total_size(), before.total_size() + 1);
  EXPECT_EQ(page.councils_size(), before.councils_size() + 1);

  v1::UpdateCouncilRequest update;
  update.mutable_council()->set_name(created.name());
  update.mutable_council()->set_description("갱신된 설명");
  update.mutable_council()->set_etag(created.etag());
  update.mutable_update_mask()->add_paths("description");
  v1::Council updated;
  ASSERT_TRUE(stub_->UpdateCouncil(Context().get(), update, &updated).ok());
  page = List(request);
  auto it = std::find_if(page.councils().begin(), page.councils().end(),
                         [&](const v1::Council& c) { return c.name() == created.name(); });
  ASSERT_NE(it, page.councils().end());
  EXPECT_EQ(it->description(), "갱신된 설명");
  EXPECT_EQ(it->etag(), updated.etag());

  v1::DeleteCouncilRequest del;
  del.set_name(created.name());
  del.set_etag(updated.etag());
  google::protobuf::Empty empty;
  ASSERT_TRUE(stub_->DeleteCouncil(Context().get(), del, &empty).ok());
  EXPECT_EQ(Names(List(request)), Names(before));
  EXPECT_EQ(List(request).total_size(), before.total_size());
}

TEST_F(RegistryApiTest, UpdateReplacesRepeatedFieldsAndRederivesRegions) {
  v1::UpdateCouncilRequest request;
  request.mutable_council()->set_name("councils/smart-mobility");
  request.mutable_council()->add_complexes("complexes/pyeongtaek");
  request.mutable_council()->add_complexes("complexes/mipo-onsan");
  request.mutable_update_mask()->add_paths("complexes");
  v1::Council updated;
  ASSERT_TRUE(stub_->UpdateCouncil(Context().get(), request, &updated).ok());
  EXPECT_THAT(updated.complexes(),
              ElementsAre("complexes/pyeongtaek", "complexes/mipo-onsan"));
  EXPECT_THAT(updated.regions(), ElementsAre("regions/gyeonggi", "regions/ulsan"));
}

TEST_F(RegistryApiTest, StaleEtagIsAbortedAndChangesNothing) {
  v1::Council before = Get("councils/smart-mobility");
  v1::UpdateCouncilRequest first;
  first.mutable_council()->set_name(before.name());
  first.mutable_council()->set_description("첫 번째 수정");
  first.mutable_council()->set_etag(before.etag());
  first.mutable_update_mask()->add_paths("description");
  v1::Council out;
  ASSERT_TRUE(stub_->UpdateCouncil(Context().get(), first, &out).ok());

  v1::UpdateCouncilRequest second = first;  // still carries the old etag
  second.mutable_council()->set_description("두 번째 수정");
  grpc::Status status = stub_->UpdateCouncil(Context().get(), second, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ReasonOf(status), "ETAG_MISMATCH");
  EXPECT_EQ(Get(before.name()).description(), "첫 번째 수정");

  v1::DeleteCouncilRequest del;
  del.set_name(before.name());
  del.set_etag(before.etag());
  google::protobuf::Empty empty;
  EXPECT_EQ(stub_->DeleteCouncil(Context().get(), del, &empty).error_code(),
            grpc::StatusCode::ABORTED);
}

TEST_F(RegistryApiTest, UpdateMaskMustNameUpdatableFields) {
  for (const std::string path : {"name", "etag", "regions", "no_such_field", "membership_count"}) {
    v1::UpdateCouncilRequest request;
    request.mutable_council()->set_name("councils/smart-mobility");
    request.mutable_update_mask()->add_paths(path);
    v1::Council out;
    grpc::Status status = stub_->UpdateCouncil(Context().get(), request, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << path;
    EXPECT_THAT(ViolatedFields(status), ElementsAre("update_mask")) << path;
  }
}

TEST_F(RegistryApiTest, InvalidUpdateWritesNothing) {
  v1::Council before = Get("councils/smart-mobility");
  v1::UpdateCouncilRequest request;
  request.mutable_council()->set_name(before.name());
  request.mutable_council()->add_complexes("complexes/seoul-digital");
  request.mutable_update_mask()->add_paths("complexes");
  v1::Council out;
  grpc::Status status = stub_->UpdateCouncil(Context().get(), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("council.complexes"));
  v1::Council after = Get(before.name());
  EXPECT_EQ(after.etag(), before.etag());
  EXPECT_EQ(after.complexes_size(), 2);
}

TEST_F(RegistryApiTest, UpdateOfMissingCouncilIsNotFound) {
  v1::UpdateCouncilRequest request;
  request.mutable_council()->set_name("councils/ghost");
  request.mutable_council()->set_display_name("x");
  request.mutable_update_mask()->add_paths("display_name");
  v1::Council out;
  EXPECT_EQ(stub_->UpdateCouncil(Context().get(), request, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(RegistryApiTest, CouncilWithMembershipsCannotBeDeleted) {
  google::protobuf::Empty empty;
  v1::DeleteCouncilRequest del;
  del.set_name("councils/manufacturing-dx");
  grpc::Status status = stub_->DeleteCouncil(Context().get(), del, &empty);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "COUNCIL_HAS_MEMBERSHIPS");
  EXPECT_EQ(CouncilCount(), 2);

  v1::DeleteMembershipRequest del_member;
  del_member.set_name("councils/manufacturing-dx/memberships/widetns");
  ASSERT_TRUE(stub_->DeleteMembership(Context().get(), del_member, &empty).ok());
  ASSERT_TRUE(stub_->DeleteCouncil(Context().get(), del, &empty).ok());
  // Soft delete: still there, marked deleted; deleting it again is NOT_FOUND.
  EXPECT_TRUE(Get(del.name()).has_delete_time());
  EXPECT_EQ(CouncilCount(), 1);
  EXPECT_EQ(stub_->DeleteCouncil(Context().get(), del, &empty).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// ------------------------------------------------------------ soft delete (AIP-164)

// Issue #10 observation 6: a deleted council must stay resolvable for what names it.
TEST_F(RegistryApiTest, DeletedCouncilStillResolvesWithDeleteTimeAndListsOnlyWhenAsked) {
  v1::Council before = Get("councils/smart-mobility");
  EXPECT_FALSE(before.has_delete_time());
  google::protobuf::Empty empty;
  v1::DeleteCouncilRequest del;
  del.set_name("councils/smart-mobility");
  del.set_etag(before.etag());
  ASSERT_TRUE(stub_->DeleteCouncil(Context().get(), del, &empty).ok());

  v1::Council deleted = Get("councils/smart-mobility");
  EXPECT_TRUE(deleted.has_delete_time());
  EXPECT_GT(deleted.delete_time().seconds(), 0);
  EXPECT_EQ(deleted.display_name(), "스마트그린모빌리티");
  EXPECT_NE(deleted.etag(), before.etag());  // a delete is a change

  EXPECT_THAT(Names(List({})), ElementsAre("councils/manufacturing-dx"));
  EXPECT_EQ(List({}).total_size(), 1);
  v1::ListCouncilsRequest all;
  all.set_show_deleted(true);
  EXPECT_THAT(Names(List(all)),
              ElementsAre("councils/manufacturing-dx", "councils/smart-mobility"));
  EXPECT_EQ(List(all).total_size(), 2);
  // Filters apply to deleted ones alike.
  all.set_field("fields/mobility");
  EXPECT_THAT(Names(List(all)), ElementsAre("councils/smart-mobility"));

  // A token of one view is not honoured by the other.
  v1::ListCouncilsRequest paged;
  paged.set_page_size(1);
  paged.set_show_deleted(true);
  v1::ListCouncilsResponse first = List(paged);
  ASSERT_FALSE(first.next_page_token().empty());
  v1::ListCouncilsRequest other;
  other.set_page_token(first.next_page_token());
  v1::ListCouncilsResponse out;
  EXPECT_EQ(stub_->ListCouncils(Context().get(), other, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // The complexes it named no longer count it.
  v1::GetComplexRequest get_complex;
  get_complex.set_name("complexes/banwol-sihwa");
  v1::IndustrialComplex complex;
  ASSERT_TRUE(stub_->GetComplex(Context().get(), get_complex, &complex).ok());
  EXPECT_EQ(complex.council_count(), 1);
}

TEST_F(RegistryApiTest, EveryDeleteChecksItsEtag) {
  google::protobuf::Empty empty;
  {
    v1::DeleteCouncilRequest del;
    del.set_name("councils/smart-mobility");
    del.set_etag("0");
    grpc::Status status = stub_->DeleteCouncil(Context().get(), del, &empty);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
    EXPECT_EQ(ReasonOf(status), "ETAG_MISMATCH");
    EXPECT_FALSE(Get("councils/smart-mobility").has_delete_time());
    EXPECT_EQ(CouncilCount(), 2);
  }
  {
    v1::DeleteOrganizationRequest del;
    del.set_name("organizations/kicox");
    del.set_etag("0");
    grpc::Status status = stub_->DeleteOrganization(Context().get(), del, &empty);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
    EXPECT_EQ(ReasonOf(status), "ETAG_MISMATCH");
    v1::GetOrganizationRequest get;
    get.set_name(del.name());
    v1::Organization org;
    ASSERT_TRUE(stub_->GetOrganization(Context().get(), get, &org).ok());
    EXPECT_FALSE(org.has_delete_time());
    del.set_etag(org.etag());
    EXPECT_TRUE(stub_->DeleteOrganization(Context().get(), del, &empty).ok());
  }
  {
    v1::CreateComplexRequest create;
    create.set_complex_id("spare");
    create.mutable_complex()->set_display_name("예비일반");
    create.mutable_complex()->set_region("regions/ulsan");
    create.mutable_complex()->set_kind(v1::GENERAL);
    v1::IndustrialComplex spare;
    ASSERT_TRUE(stub_->CreateComplex(Context().get(), create, &spare).ok());
    v1::DeleteComplexRequest del;
    del.set_name(spare.name());
    del.set_etag("0");
    grpc::Status status = stub_->DeleteComplex(Context().get(), del, &empty);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
    EXPECT_EQ(ReasonOf(status), "ETAG_MISMATCH");
    del.set_etag(spare.etag());
    EXPECT_TRUE(stub_->DeleteComplex(Context().get(), del, &empty).ok());
  }
  {
    v1::DeleteMembershipRequest del;
    del.set_name("councils/manufacturing-dx/memberships/widetns");
    del.set_etag("0");
    grpc::Status status = stub_->DeleteMembership(Context().get(), del, &empty);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
    EXPECT_EQ(ReasonOf(status), "ETAG_MISMATCH");
    EXPECT_EQ(Get("councils/manufacturing-dx").membership_count(), 1);
  }
}

TEST_F(RegistryApiTest, DeletedCouncilCannotBeUpdatedNorItsIdTakenAgain) {
  google::protobuf::Empty empty;
  v1::DeleteCouncilRequest del;
  del.set_name("councils/smart-mobility");
  ASSERT_TRUE(stub_->DeleteCouncil(Context().get(), del, &empty).ok());
  v1::Council deleted = Get("councils/smart-mobility");

  v1::UpdateCouncilRequest update;
  update.mutable_council()->set_name("councils/smart-mobility");
  update.mutable_council()->set_display_name("되살린 이름");
  update.mutable_update_mask()->add_paths("display_name");
  v1::Council out;
  grpc::Status status = stub_->UpdateCouncil(Context().get(), update, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_DELETED");
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("councils/smart-mobility"));

  status = Create(ValidCouncil(), "smart-mobility", &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);

  v1::Council after = Get("councils/smart-mobility");
  EXPECT_EQ(after.display_name(), "스마트그린모빌리티");
  EXPECT_EQ(after.etag(), deleted.etag());
  EXPECT_TRUE(after.has_delete_time());
}

TEST_F(RegistryApiTest, NothingNewMayNameADeletedComplexOrOrganization) {
  google::protobuf::Empty empty;
  v1::CreateComplexRequest create;
  create.set_complex_id("spare");
  create.mutable_complex()->set_display_name("예비일반");
  create.mutable_complex()->set_region("regions/ulsan");
  create.mutable_complex()->set_kind(v1::GENERAL);
  v1::IndustrialComplex spare;
  ASSERT_TRUE(stub_->CreateComplex(Context().get(), create, &spare).ok());
  v1::DeleteComplexRequest del_complex;
  del_complex.set_name(spare.name());
  ASSERT_TRUE(stub_->DeleteComplex(Context().get(), del_complex, &empty).ok());
  v1::DeleteOrganizationRequest del_org;
  del_org.set_name("organizations/kicox");
  ASSERT_TRUE(stub_->DeleteOrganization(Context().get(), del_org, &empty).ok());

  v1::Council council = ValidCouncil();
  council.set_complexes(1, "complexes/spare");
  v1::Council out;
  grpc::Status status = Create(council, "spare-council", &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_DELETED");
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("complexes/spare"));

  council = ValidCouncil();
  council.set_host_organization("organizations/kicox");
  status = Create(council, "kicox-hosted", &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("organizations/kicox"));

  v1::UpdateCouncilRequest update;
  update.mutable_council()->set_name("councils/smart-mobility");
  update.mutable_council()->set_host_organization("organizations/kicox");
  update.mutable_update_mask()->add_paths("host_organization");
  status = stub_->UpdateCouncil(Context().get(), update, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_DELETED");

  v1::CreateMembershipRequest member;
  member.set_parent("councils/smart-mobility");
  member.mutable_membership()->set_organization("organizations/kicox");
  member.mutable_membership()->set_role(v1::MEMBER);
  v1::Membership membership;
  status = stub_->CreateMembership(Context().get(), member, &membership);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_DELETED");

  EXPECT_EQ(CouncilCount(), 2);
  EXPECT_EQ(Get("councils/smart-mobility").host_organization(), "");
  EXPECT_EQ(Get("councils/smart-mobility").membership_count(), 0);
}

TEST_F(RegistryApiTest, AComplexNamedOnlyByDeletedCouncilsCanBeDeleted) {
  google::protobuf::Empty empty;
  v1::DeleteComplexRequest del_complex;
  del_complex.set_name("complexes/pyeongtaek");  // named by no seeded council
  v1::Council created;
  ASSERT_TRUE(Create(ValidCouncil(), "gyeonggi-ulsan", &created).ok());
  grpc::Status status = stub_->DeleteComplex(Context().get(), del_complex, &empty);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "COMPLEX_IN_USE");

  v1::DeleteCouncilRequest del;
  del.set_name(created.name());
  ASSERT_TRUE(stub_->DeleteCouncil(Context().get(), del, &empty).ok());
  ASSERT_TRUE(stub_->DeleteComplex(Context().get(), del_complex, &empty).ok());
  // The deleted council still names it, and it still resolves.
  EXPECT_THAT(Get(created.name()).complexes(), Contains("complexes/pyeongtaek"));
  v1::GetComplexRequest get;
  get.set_name("complexes/pyeongtaek");
  v1::IndustrialComplex complex;
  ASSERT_TRUE(stub_->GetComplex(Context().get(), get, &complex).ok());
  EXPECT_TRUE(complex.has_delete_time());
  v1::ListComplexesRequest list;
  v1::ListComplexesResponse listed;
  ASSERT_TRUE(stub_->ListComplexes(Context().get(), list, &listed).ok());
  EXPECT_EQ(listed.total_size(), 3);
  list.set_show_deleted(true);
  ASSERT_TRUE(stub_->ListComplexes(Context().get(), list, &listed).ok());
  EXPECT_EQ(listed.total_size(), 4);
}

// Undelete is a domain method until the handler is wired: called on the server's Registry.
TEST_F(RegistryApiTest, UndeleteBringsADeletedCouncilBack) {
  auto undelete = [&](const std::string& name) {
    v1::UndeleteCouncilRequest request;
    request.set_name(name);
    absl::Notification done;
    absl::StatusOr<v1::Council> result;
    server_->registry().UndeleteCouncil(PlaintextDevelopmentCaller(), request, [&](absl::StatusOr<v1::Council> r) {
      result = std::move(r);
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  };
  EXPECT_EQ(undelete("councils/smart-mobility").status().code(),
            absl::StatusCode::kAlreadyExists);
  google::protobuf::Empty empty;
  v1::DeleteCouncilRequest del;
  del.set_name("councils/smart-mobility");
  ASSERT_TRUE(stub_->DeleteCouncil(Context().get(), del, &empty).ok());
  absl::StatusOr<v1::Council> back = undelete("councils/smart-mobility");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->has_delete_time());
  EXPECT_FALSE(Get("councils/smart-mobility").has_delete_time());
  EXPECT_EQ(CouncilCount(), 2);
}

// Issue #10 observation 7: a request_id replayed after its resource was deleted answered
// the deleted resource as if just created.
TEST_F(RegistryApiTest, RequestIdReplayedAfterTheResourceWasDeletedIsRefused) {
  v1::Council first;
  ASSERT_TRUE(Create(ValidCouncil(), "", &first, "req-replay").ok());
  google::protobuf::Empty empty;
  v1::DeleteCouncilRequest del;
  del.set_name(first.name());
  ASSERT_TRUE(stub_->DeleteCouncil(Context().get(), del, &empty).ok());
  v1::Council again;
  grpc::Status status = Create(ValidCouncil(), "", &again, "req-replay");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_DELETED");
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr(first.name()));
  EXPECT_EQ(CouncilCount(), 2);  // nothing created

  // A hard-deleted membership alike.
  v1::CreateMembershipRequest member;
  member.set_parent("councils/smart-mobility");
  member.mutable_membership()->set_organization("organizations/kicox");
  member.mutable_membership()->set_role(v1::MEMBER);
  member.set_request_id("req-member");
  v1::Membership membership;
  ASSERT_TRUE(stub_->CreateMembership(Context().get(), member, &membership).ok());
  v1::DeleteMembershipRequest del_member;
  del_member.set_name(membership.name());
  ASSERT_TRUE(stub_->DeleteMembership(Context().get(), del_member, &empty).ok());
  status = stub_->CreateMembership(Context().get(), member, &membership);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "RESOURCE_DELETED");
  EXPECT_EQ(Get("councils/smart-mobility").membership_count(), 0);
}

TEST_F(RegistryApiTest, ListFiltersByFieldIncludingSubFieldsRegionComplexAndSession) {
  v1::Council created;
  ASSERT_TRUE(Create(ValidCouncil(), "gyeonggi-ulsan-mobility", &created).ok());

  v1::ListCouncilsRequest by_parent_field;
  by_parent_field.set_field("fields/mobility");
  EXPECT_THAT(Names(List(by_parent_field)),
              ElementsAre("councils/gyeonggi-ulsan-mobility", "councils/smart-mobility"));

  v1::ListCouncilsRequest by_region;
  by_region.set_region("regions/ulsan");
  EXPECT_THAT(Names(List(by_region)),
              ElementsAre("councils/gyeonggi-ulsan-mobility", "councils/manufacturing-dx"));

  v1::ListCouncilsRequest by_complex;
  by_complex.set_complex("complexes/seoul-digital");
  EXPECT_THAT(Names(List(by_complex)),
              ElementsAre("councils/manufacturing-dx", "councils/smart-mobility"));

  v1::ListCouncilsRequest by_session;
  by_session.set_forum_session(3);
  EXPECT_THAT(Names(List(by_session)), ElementsAre("councils/manufacturing-dx"));

  v1::ListCouncilsRequest combined;
  combined.set_region("regions/ulsan");
  combined.set_field("fields/mobility");
  v1::ListCouncilsResponse response = List(combined);
  EXPECT_THAT(Names(response), ElementsAre("councils/gyeonggi-ulsan-mobility"));
  EXPECT_EQ(response.total_size(), 1);
}

TEST_F(RegistryApiTest, BadFiltersNameTheirField) {
  v1::ListCouncilsRequest request;
  request.set_field("mobility");
  request.set_region("regions/");
  request.set_forum_session(9);
  request.set_page_size(-1);
  v1::ListCouncilsResponse out;
  grpc::Status status = stub_->ListCouncils(Context().get(), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status),
              UnorderedElementsAre("field", "region", "forum_session"));
  v1::ListCouncilsRequest paging;
  paging.set_page_size(-1);
  paging.set_page_token("not-a-token");
  status = stub_->ListCouncils(Context().get(), paging, &out);
  EXPECT_THAT(ViolatedFields(status), UnorderedElementsAre("page_size", "page_token"));
}

TEST_F(RegistryApiTest, KoreanTextQueryMatchesNamesAliasesFieldsAndIgnoresSpaces) {
  auto query = [&](const std::string& q) {
    v1::ListCouncilsRequest request;
    request.set_query(q);
    return Names(List(request));
  };
  EXPECT_THAT(query("모빌리티"), ElementsAre("councils/smart-mobility"));
  EXPECT_THAT(query("미래 모빌리티"), ElementsAre("councils/smart-mobility"));  // field name
  EXPECT_THAT(query("미포국가"), ElementsAre("councils/manufacturing-dx"));   // an alias
  EXPECT_THAT(query("와이드티엔에스"), ElementsAre("councils/manufacturing-dx"));  // host
  EXPECT_THAT(query("울산"), ElementsAre("councils/manufacturing-dx"));        // region
  EXPECT_THAT(query("Future Mobility"), ElementsAre("councils/smart-mobility"));
  EXPECT_THAT(query("조선"), IsEmpty());
}

TEST_F(RegistryApiTest, PagesStayStableWhileCouncilsAreInserted) {
  // 30 councils named c00..c29 (plus the two seeded ones, which sort before them).
  for (int i = 0; i < 30; ++i) {
    v1::Council out;
    char id[8];
    snprintf(id, sizeof(id), "c%02d", i * 2);
    ASSERT_TRUE(Create(ValidCouncil(), id, &out).ok());
  }
  std::set<std::string> at_start;
  for (const auto& name : Names([&] {
         v1::ListCouncilsRequest all;
         all.set_page_size(1000);
         return List(all);
       }())) {
    at_start.insert(name);
  }
  ASSERT_EQ(at_start.size(), 32u);

  std::vector<std::string> seen;
  v1::ListCouncilsRequest request;
  request.set_page_size(7);
  int inserted = 0;
  do {
    v1::ListCouncilsResponse page = List(request);
    ASSERT_LE(page.councils_size(), 7);
    for (const auto& c : page.councils()) seen.push_back(c.name());
    // Between pages, insert rows both behind and ahead of the cursor.
    v1::Council out;
    char id[8];
    snprintf(id, sizeof(id), "c%02d", inserted * 2 + 1);
    ASSERT_TRUE(Create(ValidCouncil(), id, &out).ok());
    ++inserted;
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());

  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "a council was returned twice";
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  for (const std::string& name : at_start) EXPECT_THAT(unique, Contains(name));
}

TEST_F(RegistryApiTest, PageTokenOnlyWorksWithTheFiltersThatIssuedIt) {
  v1::ListCouncilsRequest request;
  request.set_page_size(1);
  v1::ListCouncilsResponse first = List(request);
  ASSERT_FALSE(first.next_page_token().empty());
  request.set_page_token(first.next_page_token());
  request.set_region("regions/ulsan");
  v1::ListCouncilsResponse out;
  grpc::Status status = stub_->ListCouncils(Context().get(), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("page_token"));
}

TEST_F(RegistryApiTest, FieldsAndRegionsAreListedAndFetched) {
  v1::ListFieldsRequest sub;
  sub.set_parent("fields/mobility");
  v1::ListFieldsResponse fields;
  ASSERT_TRUE(stub_->ListFields(Context().get(), sub, &fields).ok());
  ASSERT_EQ(fields.fields_size(), 1);
  EXPECT_EQ(fields.fields(0).display_name(), "자동차");

  v1::GetRegionRequest get;
  get.set_name("regions/ulsan");
  v1::Region region;
  ASSERT_TRUE(stub_->GetRegion(Context().get(), get, &region).ok());
  EXPECT_EQ(region.short_name(), "울산");
  v1::ListRegionsResponse regions;
  ASSERT_TRUE(stub_->ListRegions(Context().get(), {}, &regions).ok());
  EXPECT_EQ(regions.total_size(), 3);

  v1::GetFieldRequest get_field;
  get_field.set_name("fields/nope");
  v1::Field field;
  EXPECT_EQ(stub_->GetField(Context().get(), get_field, &field).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(RegistryApiTest, ComplexesCrudFiltersAndCouncilCounts) {
  v1::CreateComplexRequest create;
  create.set_complex_id("onsan-new");
  create.mutable_complex()->set_display_name("온산신규일반");
  create.mutable_complex()->set_region("regions/ulsan");
  create.mutable_complex()->set_kind(v1::GENERAL);
  create.mutable_complex()->add_aliases("온산신규");
  v1::IndustrialComplex created;
  ASSERT_TRUE(stub_->CreateComplex(Context().get(), create, &created).ok());
  EXPECT_EQ(created.name(), "complexes/onsan-new");
  EXPECT_EQ(created.council_count(), 0);

  v1::GetComplexRequest get;
  get.set_name("complexes/seoul-digital");
  v1::IndustrialComplex seoul;
  ASSERT_TRUE(stub_->GetComplex(Context().get(), get, &seoul).ok());
  EXPECT_EQ(seoul.council_count(), 2);

  v1::ListComplexesRequest list;
  list.set_region("regions/ulsan");
  list.set_kind(v1::GENERAL);
  v1::ListComplexesResponse listed;
  ASSERT_TRUE(stub_->ListComplexes(Context().get(), list, &listed).ok());
  ASSERT_EQ(listed.complexes_size(), 1);
  EXPECT_EQ(listed.complexes(0).name(), "complexes/onsan-new");

  v1::ListComplexesRequest by_alias;
  by_alias.set_query("경기반월·시화");
  ASSERT_TRUE(stub_->ListComplexes(Context().get(), by_alias, &listed).ok());
  ASSERT_EQ(listed.complexes_size(), 1);
  EXPECT_EQ(listed.complexes(0).name(), "complexes/banwol-sihwa");

  // Invalid: no region, unspecified kind, the same alias twice.
  v1::CreateComplexRequest bad;
  bad.mutable_complex()->set_display_name("x");
  bad.mutable_complex()->add_aliases("a");
  bad.mutable_complex()->add_aliases("a");
  grpc::Status status = stub_->CreateComplex(Context().get(), bad, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status),
              UnorderedElementsAre("complex.region", "complex.kind", "complex.aliases[1]"));

  google::protobuf::Empty empty;
  v1::DeleteComplexRequest del;
  del.set_name("complexes/seoul-digital");
  status = stub_->DeleteComplex(Context().get(), del, &empty);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "COMPLEX_IN_USE");
  del.set_name("complexes/onsan-new");
  EXPECT_TRUE(stub_->DeleteComplex(Context().get(), del, &empty).ok());
}

TEST_F(RegistryApiTest, MovingAComplexToAnotherRegionUpdatesItsCouncils) {
  v1::UpdateComplexRequest update;
  update.mutable_complex()->set_name("complexes/mipo-onsan");
  update.mutable_complex()->set_region("regions/seoul");
  update.mutable_update_mask()->add_paths("region");
  v1::IndustrialComplex moved;
  ASSERT_TRUE(stub_->UpdateComplex(Context().get(), update, &moved).ok());
  EXPECT_EQ(moved.region(), "regions/seoul");
  v1::Council council = Get("councils/manufacturing-dx");
  EXPECT_THAT(council.regions(), ElementsAre("regions/seoul", "regions/gyeonggi"));
  v1::ListCouncilsRequest by_region;
  by_region.set_region("regions/ulsan");
  EXPECT_THAT(Names(List(by_region)), IsEmpty());

  // Moving banwol-sihwa to Seoul too would leave smart-mobility inside one region.
  update.mutable_complex()->set_name("complexes/banwol-sihwa");
  grpc::Status status = stub_->UpdateComplex(Context().get(), update, &moved);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "DEPENDENT_WOULD_BE_INVALID");
  v1::GetComplexRequest get;
  get.set_name("complexes/banwol-sihwa");
  ASSERT_TRUE(stub_->GetComplex(Context().get(), get, &moved).ok());
  EXPECT_EQ(moved.region(), "regions/gyeonggi");
}

TEST_F(RegistryApiTest, OrganizationsCrudAndFilters) {
  v1::CreateOrganizationRequest create;
  create.set_organization_id("ulsan-univ");
  create.mutable_organization()->set_display_name("울산대학교");
  create.mutable_organization()->set_kind(v1::UNIVERSITY);
  create.mutable_organization()->set_home_complex("complexes/mipo-onsan");
  v1::Organization org;
  ASSERT_TRUE(stub_->CreateOrganization(Context().get(), create, &org).ok());

  auto list = [&](v1::ListOrganizationsRequest request) {
    v1::ListOrganizationsResponse response;
    EXPECT_TRUE(stub_->ListOrganizations(Context().get(), request, &response).ok());
    std::vector<std::string> names;
    for (const auto& o : response.organizations()) names.push_back(o.name());
    return names;
  };
  v1::ListOrganizationsRequest by_kind;
  by_kind.set_kind(v1::UNIVERSITY);
  EXPECT_THAT(list(by_kind), ElementsAre("organizations/ulsan-univ"));
  v1::ListOrganizationsRequest by_region;
  by_region.set_region("regions/ulsan");
  EXPECT_THAT(list(by_region), ElementsAre("organizations/ulsan-univ"));
  v1::ListOrganizationsRequest by_council;
  by_council.set_council("councils/manufacturing-dx");
  EXPECT_THAT(list(by_council), ElementsAre("organizations/widetns"));
  v1::ListOrganizationsRequest by_query;
  by_query.set_query("울산대");
  EXPECT_THAT(list(by_query), ElementsAre("organizations/ulsan-univ"));

  // Renaming the host is found by text search on the councils it hosts.
  v1::UpdateOrganizationRequest rename;
  rename.mutable_organization()->set_name("organizations/widetns");
  rename.mutable_organization()->set_display_name("와이드티엔에스 주식회사");
  rename.mutable_update_mask()->add_paths("display_name");
  ASSERT_TRUE(stub_->UpdateOrganization(Context().get(), rename, &org).ok());
  v1::ListCouncilsRequest q;
  q.set_query("주식회사");
  EXPECT_THAT(Names(List(q)), ElementsAre("councils/manufacturing-dx"));

  v1::CreateOrganizationRequest bad;
  bad.mutable_organization()->set_display_name("무명");
  bad.mutable_organization()->set_home_complex("complexes/atlantis");
  grpc::Status status = stub_->CreateOrganization(Context().get(), bad, &org);
  EXPECT_THAT(ViolatedFields(status),
              UnorderedElementsAre("organization.kind", "organization.home_complex"));

  google::protobuf::Empty empty;
  v1::DeleteOrganizationRequest del;
  del.set_name("organizations/widetns");
  status = stub_->DeleteOrganization(Context().get(), del, &empty);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(status), "ORGANIZATION_IN_USE");
  del.set_name("organizations/ulsan-univ");
  EXPECT_TRUE(stub_->DeleteOrganization(Context().get(), del, &empty).ok());
}

TEST_F(RegistryApiTest, MembershipsCrud) {
  v1::CreateMembershipRequest create;
  create.set_parent("councils/smart-mobility");
  create.mutable_membership()->set_organization("organizations/widetns");
  create.mutable_membership()->set_role(v1::MEMBER);
  v1::Membership m;
  ASSERT_TRUE(stub_->CreateMembership(Context().get(), create, &m).ok());
  EXPECT_EQ(m.name(), "councils/smart-mobility/memberships/widetns");
  EXPECT_EQ(Get("councils/smart-mobility").membership_count(), 1);

  grpc::Status status = stub_->CreateMembership(Context().get(), create, &m);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);

  v1::CreateMembershipRequest no_council = create;
  no_council.set_parent("councils/ghost");
  EXPECT_EQ(stub_->CreateMembership(Context().get(), no_council, &m).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::CreateMembershipRequest no_org = create;
  no_org.mutable_membership()->set_organization("organizations/ghost");
  status = stub_->CreateMembership(Context().get(), no_org, &m);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("membership.organization"));

  v1::CreateMembershipRequest no_role = create;
  no_role.mutable_membership()->set_organization("organizations/kicox");
  no_role.mutable_membership()->clear_role();
  status = stub_->CreateMembership(Context().get(), no_role, &m);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("membership.role"));

  v1::ListMembershipsRequest all;
  all.set_parent("councils/-");
  v1::ListMembershipsResponse listed;
  ASSERT_TRUE(stub_->ListMemberships(Context().get(), all, &listed).ok());
  EXPECT_EQ(listed.total_size(), 2);
  all.set_role(v1::HOST);
  ASSERT_TRUE(stub_->ListMemberships(Context().get(), all, &listed).ok());
  ASSERT_EQ(listed.memberships_size(), 1);
  EXPECT_EQ(listed.memberships(0).name(), "councils/manufacturing-dx/memberships/widetns");
  v1::ListMembershipsRequest missing_parent;
  status = stub_->ListMemberships(Context().get(), missing_parent, &listed);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("parent"));

  v1::UpdateMembershipRequest update;
  update.mutable_membership()->set_name(m.name());
  update.mutable_membership()->set_role(v1::LEADING_COMPANY);
  update.mutable_update_mask()->add_paths("role");
  ASSERT_TRUE(stub_->UpdateMembership(Context().get(), update, &m).ok());
  v1::GetMembershipRequest get;
  get.set_name(m.name());
  ASSERT_TRUE(stub_->GetMembership(Context().get(), get, &m).ok());
  EXPECT_EQ(m.role(), v1::LEADING_COMPANY);

  google::protobuf::Empty empty;
  v1::DeleteMembershipRequest del;
  del.set_name(m.name());
  ASSERT_TRUE(stub_->DeleteMembership(Context().get(), del, &empty).ok());
  EXPECT_EQ(Get("councils/smart-mobility").membership_count(), 0);
  v1::ListOrganizationsRequest by_council;
  by_council.set_council("councils/smart-mobility");
  v1::ListOrganizationsResponse orgs;
  ASSERT_TRUE(stub_->ListOrganizations(Context().get(), by_council, &orgs).ok());
  EXPECT_EQ(orgs.organizations_size(), 0);
}

// ------------------------------------------------- issue #10: names, bounds, numbers

// Observation 7: display names took NUL, control characters, U+202E and a lone BOM. Each is
// refused naming the field, Hangul is not, and the listing is as it was.
TEST_F(RegistryApiTest, SpoofingCharactersInNamesAreRefusedAndWriteNothing) {
  const v1::ListCouncilsResponse before = List({});
  for (const std::string& name :
       {std::string("경기+울산\0모빌리티", 20), std::string("경기+울산\x07"),
        std::string("경기\u202E울산"), std::string("\uFEFF"), std::string("경기\u2066울산"),
        std::string("경기\u0085울산"), std::string("경기\n울산")}) {
    v1::Council council = ValidCouncil();
    council.set_display_name(name);
    v1::Council out;
    grpc::Status status = Create(council, "spoofed", &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << absl::CEscape(name);
    EXPECT_THAT(ViolatedFields(status), ElementsAre("council.display_name"))
        << absl::CEscape(name) << ": " << status.error_message();
  }
  // An update is held to the same rule.
  v1::UpdateCouncilRequest update;
  *update.mutable_council() = Get("councils/manufacturing-dx");
  update.mutable_council()->set_display_name("첨단제조\u202E디지털전환");
  update.mutable_update_mask()->add_paths("display_name");
  v1::Council updated;
  grpc::Status status = stub_->UpdateCouncil(Context().get(), update, &updated);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("council.display_name"));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(List({}), before));

  // Hangul, and line breaks in a description, are fine.
  v1::Council korean = ValidCouncil();
  korean.set_description("수소 모빌리티 실증\n부품 국산화");
  v1::Council created;
  ASSERT_TRUE(Create(korean, "korean", &created).ok());
  EXPECT_EQ(created.display_name(), "경기+울산 미래모빌리티");
}

// Observation 3 (registry side): every list and count a caller sends has a maximum.
TEST_F(RegistryApiTest, OversizedListsAndCountsAreRefusedNamingTheField) {
  const v1::ListCouncilsResponse before = List({});
  struct Case {
    std::string label;
    std::function<void(v1::Council&)> spoil;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"101 complexes",
       [](v1::Council& c) {
         for (int i = 0; i < 99; ++i) c.add_complexes(absl::StrCat("complexes/c-", i));
       },
       "council.complexes"},
      {"members above 10,000,000",
       [](v1::Council& c) { c.mutable_reported_members()->set_others(10'000'001); },
       "council.reported_members.others"},
      {"description of 8,001 characters",
       [](v1::Council& c) { c.set_description(std::string(8001, 'a')); },
       "council.description"},
      {"launch date month INT_MAX",
       [](v1::Council& c) {
         c.mutable_launch_date()->set_year(2024);
         c.mutable_launch_date()->set_month(INT_MAX);
       },
       "council.launch_date"},
  };
  for (const Case& c : cases) {
    v1::Council council = ValidCouncil();
    c.spoil(council);
    v1::Council out;
    grpc::Status status = Create(council, "oversized", &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.label;
    EXPECT_THAT(ViolatedFields(status), Contains(c.field)) << c.label << ": "
                                                           << status.error_message();
  }
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(List({}), before));
}

}  // namespace
}  // namespace sanhak::registry
