// The source documents' facts, read back through the API after importing
// data/registry.textproto: what a ministry analyst would check first. Expected values are
// quoted from shared/seed (press release, forum plan, cards, reference table 3).
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/registry/registry_fixture.h"

namespace sanhak::registry {
namespace {

using ::sanhak::testing::Context;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

class RegistrySeedTest : public RegistryFixture {
 protected:
  void SetUp() override { StartRegistry(SeedPath()); }

  static std::string SeedPath() {
    return sanhak::testing::SourceDir() + "/data/registry.textproto";
  }

  std::vector<v1::Council> Councils(v1::ListCouncilsRequest request) {
    std::vector<v1::Council> out;
    request.set_page_size(10);  // several pages, as a client would walk them
    do {
      v1::ListCouncilsResponse page;
      grpc::Status status = stub_->ListCouncils(Context().get(), request, &page);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      out.insert(out.end(), page.councils().begin(), page.councils().end());
      request.set_page_token(page.next_page_token());
    } while (!request.page_token().empty());
    return out;
  }

  std::vector<std::string> DisplayNames(const std::vector<v1::Council>& councils) {
    std::vector<std::string> names;
    for (const auto& c : councils) names.push_back(c.display_name());
    return names;
  }

  v1::Council Council(const std::string& name) {
    v1::GetCouncilRequest request;
    request.set_name(name);
    v1::Council out;
    EXPECT_TRUE(stub_->GetCouncil(Context().get(), request, &out).ok()) << name;
    return out;
  }
};

TEST_F(RegistrySeedTest, TwentyFiveCouncilsInNineFields) {
  EXPECT_EQ(Councils({}).size(), 25u);
  v1::ListFieldsResponse fields;
  ASSERT_TRUE(stub_->ListFields(Context().get(), {}, &fields).ok());
  int top_level = 0;
  for (const auto& f : fields.fields()) top_level += f.parent().empty();
  EXPECT_EQ(top_level, 9);  // "9대 분야"
  v1::ListFieldsRequest mobility;
  mobility.set_parent("fields/future-mobility");
  ASSERT_TRUE(stub_->ListFields(Context().get(), mobility, &fields).ok());
  std::vector<std::string> sub;
  for (const auto& f : fields.fields()) sub.push_back(f.display_name());
  EXPECT_THAT(sub, UnorderedElementsAre("자동차", "조선"));
}

TEST_F(RegistrySeedTest, ForumSessionsHoldSevenFiveSevenAndSix) {
  std::map<int, size_t> per_session;
  for (int session = 1; session <= 4; ++session) {
    v1::ListCouncilsRequest request;
    request.set_forum_session(session);
    per_session[session] = Councils(request).size();
  }
  EXPECT_THAT(per_session, ElementsAre(std::pair(1, 7u), std::pair(2, 5u), std::pair(3, 7u),
                                       std::pair(4, 6u)));
}

TEST_F(RegistrySeedTest, KoreanQueryFindsEveryMobilityCouncil) {
  v1::ListCouncilsRequest by_field;
  by_field.set_field("fields/future-mobility");
  std::vector<std::string> mobility = DisplayNames(Councils(by_field));
  ASSERT_EQ(mobility.size(), 7u);

  v1::ListCouncilsRequest query;
  query.set_query("모빌리티");
  EXPECT_THAT(DisplayNames(Councils(query)),
              ::testing::UnorderedElementsAreArray(mobility));

  v1::ListCouncilsRequest shipbuilding;
  shipbuilding.set_query("조선");
  EXPECT_THAT(DisplayNames(Councils(shipbuilding)),
              UnorderedElementsAre("친환경조선해양기자재", "특수목적선 조선·해양기자재",
                                   "GDX친환경첨단융합중소형선박&장비"));
}

TEST_F(RegistrySeedTest, TheFourCardsMemberCompositions) {
  struct Card {
    std::string council;
    int total, companies, universities, institutes, agencies;
    std::string host;
  };
  // (구성) ... 회원수 N명 / (회원현황) 기업, 학교, 연구소, 지원기관.
  for (const Card& card : std::vector<Card>{
           {"councils/petrochemical-core-materials", 103, 73, 6, 7, 17,
            "organizations/jeonnam-yeosu-iuci"},
           {"councils/special-purpose-ships", 104, 66, 15, 6, 17,
            "organizations/special-purpose-ship-association"},
           {"councils/advanced-manufacturing-dx", 126, 95, 11, 4, 16, "organizations/widetns"},
           {"councils/gdx-small-medium-ships", 111, 80, 4, 5, 22,
            "organizations/jeonnam-daebul-iuci"},
       }) {
    v1::Council c = Council(card.council);
    const v1::MemberComposition& m = c.reported_members();
    EXPECT_EQ(m.total(), card.total) << card.council;
    EXPECT_EQ(m.companies(), card.companies) << card.council;
    EXPECT_EQ(m.universities(), card.universities) << card.council;
    EXPECT_EQ(m.research_institutes(), card.institutes) << card.council;
    EXPECT_EQ(m.support_agencies(), card.agencies) << card.council;
    EXPECT_EQ(m.as_of().year(), 2025) << card.council;
    EXPECT_EQ(c.host_organization(), card.host) << card.council;
    EXPECT_FALSE(c.outcome_summary().empty()) << card.council;
    // The host is also recorded as a HOST membership.
    v1::ListMembershipsRequest hosts;
    hosts.set_parent(card.council);
    hosts.set_role(v1::HOST);
    v1::ListMembershipsResponse listed;
    ASSERT_TRUE(stub_->ListMemberships(Context().get(), hosts, &listed).ok());
    ASSERT_EQ(listed.memberships_size(), 1) << card.council;
    EXPECT_EQ(listed.memberships(0).organization(), card.host);
  }
}

TEST_F(RegistrySeedTest, ComplexesInTheMostCouncils) {
  std::vector<v1::IndustrialComplex> complexes;
  v1::ListComplexesRequest request;
  request.set_page_size(1000);
  v1::ListComplexesResponse response;
  ASSERT_TRUE(stub_->ListComplexes(Context().get(), request, &response).ok());
  complexes.assign(response.complexes().begin(), response.complexes().end());
  std::sort(complexes.begin(), complexes.end(), [](const auto& a, const auto& b) {
    return a.council_count() != b.council_count() ? a.council_count() > b.council_count()
                                                  : a.name() < b.name();
  });
  ASSERT_GE(complexes.size(), 4u);
  // 성서일반 (Daegu) and 미포·온산 (Ulsan, all three spellings) take part in five councils
  // each; 창원국가 and 첨단과학국가 in four.
  EXPECT_EQ(complexes[0].display_name(), "성서일반");
  EXPECT_EQ(complexes[0].council_count(), 5);
  EXPECT_EQ(complexes[1].display_name(), "미포·온산국가");
  EXPECT_EQ(complexes[1].council_count(), 5);
  EXPECT_EQ(complexes[2].display_name(), "창원국가");
  EXPECT_EQ(complexes[2].council_count(), 4);
  EXPECT_EQ(complexes[3].display_name(), "첨단과학국가");
  EXPECT_EQ(complexes[3].council_count(), 4);
  EXPECT_LT(complexes[4].council_count(), 4);

  // A council's count agrees with listing councils by that complex.
  v1::ListCouncilsRequest by_complex;
  by_complex.set_complex(complexes[0].name());
  EXPECT_EQ(Councils(by_complex).size(), 5u);
}

TEST_F(RegistrySeedTest, EveryCouncilSpansTwoRegions) {
  for (const v1::Council& c : Councils({})) {
    EXPECT_GE(c.complexes_size(), 2) << c.name();
    EXPECT_GE(c.regions_size(), 2) << c.name();
    EXPECT_EQ(c.display_name().find("&amp;"), std::string::npos) << c.name();
  }
}

TEST_F(RegistrySeedTest, SourceDefectsAreResolved) {
  // Broken parentheses: 천안일반 (충남), 오창일반 (충북), 충주일반 (충북).
  v1::Council display = Council("councils/display");
  EXPECT_THAT(display.complexes(), ElementsAre("complexes/cheonan", "complexes/ochang",
                                               "complexes/chungju"));
  EXPECT_THAT(display.regions(), ElementsAre("regions/chungnam", "regions/chungbuk"));
  // The GDX row lost its session and field cells.
  v1::Council gdx = Council("councils/gdx-small-medium-ships");
  EXPECT_EQ(gdx.forum_session(), 1);
  EXPECT_EQ(gdx.field(), "fields/mobility-shipbuilding");
  EXPECT_EQ(gdx.display_name(), "GDX친환경첨단융합중소형선박&장비");
  // Every spelling of a complex finds it.
  for (const std::string spelling : {"울산미포·온산", "미포국가", "미포·온산국가"}) {
    v1::ListComplexesRequest request;
    request.set_query(spelling);
    v1::ListComplexesResponse response;
    ASSERT_TRUE(stub_->ListComplexes(Context().get(), request, &response).ok());
    ASSERT_EQ(response.complexes_size(), 1) << spelling;
    EXPECT_EQ(response.complexes(0).name(), "complexes/ulsan-mipo-onsan") << spelling;
  }
  v1::ListComplexesRequest banwol;
  banwol.set_query("경기반월·시화");
  v1::ListComplexesResponse response;
  ASSERT_TRUE(stub_->ListComplexes(Context().get(), banwol, &response).ok());
  ASSERT_EQ(response.complexes_size(), 1);
  EXPECT_EQ(response.complexes(0).name(), "complexes/banwol-sihwa");
}

TEST_F(RegistrySeedTest, ProgramReportedTotals) {
  v1::ListReportedFiguresResponse figures;
  ASSERT_TRUE(stub_->ListReportedFigures(Context().get(), {}, &figures).ok());
  std::map<std::string, v1::ReportedFigure> by_metric;
  for (const auto& f : figures.reported_figures()) by_metric[f.metric()] = f;
  EXPECT_EQ(by_metric["councils"].value(), 25);
  EXPECT_EQ(by_metric["participating_organizations"].value(), 2079);
  EXPECT_EQ(by_metric["networking_activities"].value(), 270);
  EXPECT_TRUE(by_metric["networking_activities"].approximate());  // "270여 회"
  v1::GetReportedFigureRequest get;
  get.set_name("reportedFigures/participating-organizations");
  v1::ReportedFigure figure;
  ASSERT_TRUE(stub_->GetReportedFigure(Context().get(), get, &figure).ok());
  EXPECT_EQ(figure.as_of().day(), 30);
}

TEST_F(RegistrySeedTest, ImportingTwiceChangesNothing) {
  std::vector<v1::Council> before = Councils({});
  const ImportSummary& first = server_->import_summary();
  EXPECT_GT(first.created, 60);
  auto data = LoadRegistryData(SeedPath());
  ASSERT_TRUE(data.ok()) << data.status();
  auto again = server_->registry().Import(*data);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->created, 0);
  EXPECT_EQ(again->updated, 0);
  EXPECT_EQ(again->unchanged, first.created);
  std::vector<v1::Council> after = Councils({});
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].etag(), before[i].etag()) << after[i].name();
  }
}

// A database whose index entries a release derived otherwise (here: councils stored
// with none at all, and a mark from another signature) is reindexed when the registry
// starts: filters and the Korean query find every council again, nothing else changes
// (etags stay), and the next start finds nothing to do.
TEST_F(RegistrySeedTest, IndexEntriesAnOlderReleaseDerivedOtherwiseAreRewrittenAtStart) {
  // A fresh database: marked, with nothing to reindex yet (the import runs after).
  EXPECT_TRUE(server_->index_update().ran);
  EXPECT_EQ(server_->index_update().reindexed, 0);
  v1::ListCouncilsRequest session;
  session.set_forum_session(1);
  v1::ListCouncilsRequest by_field;
  by_field.set_field("fields/future-mobility");
  v1::ListCouncilsRequest query;
  query.set_query("모빌리티");
  ASSERT_EQ(Councils(session).size(), 7u);
  ASSERT_EQ(Councils(by_field).size(), 7u);
  std::vector<v1::Council> before = Councils({});
  ASSERT_EQ(before.size(), 25u);

  ASSERT_TRUE(server_->store()
                  .Write([&](store::WriteTransaction& tx) -> absl::Status {
                    for (const v1::Council& c : before) {
                      if (absl::Status s = tx.Reindex(c.name(), {}, ""); !s.ok()) return s;
                    }
                    return tx.SetImportMark("~index/councils", 1);
                  })
                  .ok());
  EXPECT_THAT(Councils(session), ::testing::IsEmpty());

  server_->Shutdown();
  StartRegistry(SeedPath());
  EXPECT_TRUE(server_->index_update().ran);
  EXPECT_EQ(server_->index_update().reindexed, 25);
  EXPECT_EQ(server_->index_update().skipped, 0);
  EXPECT_EQ(Councils(session).size(), 7u);
  EXPECT_EQ(Councils(by_field).size(), 7u);
  EXPECT_EQ(Councils(query).size(), 7u);
  std::vector<v1::Council> after = Councils({});
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].etag(), before[i].etag()) << after[i].name();
  }

  server_->Shutdown();
  StartRegistry(SeedPath());
  EXPECT_FALSE(server_->index_update().ran);
  EXPECT_EQ(server_->index_update().reindexed, 0);
}

// Issue #10, observation 1: what callers wrote through the API survives every later
// import, of the same data file and of a changed one; a changed file still reaches the
// records nobody touched since the last import.
TEST_F(RegistrySeedTest, ImportsNeverOverrideWhatTheApiChanged) {
  const std::string ships = "councils/special-purpose-ships";
  const std::string untouched = "councils/future-mobility-automotive-convergence";
  const std::string kicox = "organizations/kicox";
  const std::string made = "organizations/made-by-api";
  const int seeded = server_->import_summary().created;

  v1::UpdateCouncilRequest rename;
  rename.mutable_council()->set_name(ships);
  rename.mutable_council()->set_display_name("API가 바꾼 이름");
  rename.mutable_update_mask()->add_paths("display_name");
  v1::Council renamed;
  ASSERT_TRUE(stub_->UpdateCouncil(Context().get(), rename, &renamed).ok());
  // kicox hosts no council and has no membership in the data file: deletable as it is.
  v1::DeleteOrganizationRequest remove;
  remove.set_name(kicox);
  google::protobuf::Empty empty;
  grpc::Status deleted = stub_->DeleteOrganization(Context().get(), remove, &empty);
  ASSERT_TRUE(deleted.ok()) << deleted.error_message();
  v1::CreateOrganizationRequest create;
  create.set_organization_id("made-by-api");
  create.mutable_organization()->set_display_name("API가 만든 기관");
  create.mutable_organization()->set_kind(v1::COMPANY);
  v1::Organization created;
  ASSERT_TRUE(stub_->CreateOrganization(Context().get(), create, &created).ok());
  const std::string untouched_etag = Council(untouched).etag();

  auto organization_exists = [&](const std::string& name) {
    v1::GetOrganizationRequest get;
    get.set_name(name);
    v1::Organization out;
    grpc::Status status = stub_->GetOrganization(Context().get(), get, &out);
    EXPECT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::NOT_FOUND)
        << status.error_message();
    return status.ok() ? std::optional<v1::Organization>(out) : std::nullopt;
  };

  // The same data file again: nothing the API did is undone.
  auto data = LoadRegistryData(SeedPath());
  ASSERT_TRUE(data.ok()) << data.status();
  auto same = server_->registry().Import(*data);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->created, 0);
  EXPECT_EQ(same->updated, 0);
  EXPECT_EQ(same->kept, 2);  // the renamed council, the deleted organization
  EXPECT_EQ(same->unchanged, seeded - 2);
  EXPECT_EQ(Council(ships).display_name(), "API가 바꾼 이름");
  EXPECT_EQ(Council(ships).etag(), renamed.etag());
  // Deleted stays deleted (a soft delete: still resolvable, with its delete_time).
  ASSERT_TRUE(organization_exists(kicox).has_value());
  EXPECT_TRUE(organization_exists(kicox)->has_delete_time());
  ASSERT_TRUE(organization_exists(made).has_value());
  EXPECT_EQ(organization_exists(made)->etag(), created.etag());
  EXPECT_EQ(Council(untouched).etag(), untouched_etag);

  // A changed data file: it renames the edited council, changes the deleted organization,
  // names the API-made one, moves a complex (which changes the regions of three councils,
  // the renamed one among them) and describes a council nobody touched.
  auto find = [](auto* items, const std::string& name) {
    for (auto& item : *items) {
      if (item.name() == name) return &item;
    }
    ADD_FAILURE() << name << " is not in the data file";
    return static_cast<decltype(&*items->begin())>(nullptr);
  };
  find(data->mutable_councils(), ships)->set_display_name("파일이 바꾼 이름");
  find(data->mutable_councils(), untouched)->set_description("파일이 바꾼 설명");
  find(data->mutable_organizations(), kicox)->set_display_name("한국산업단지공단 (개명)");
  find(data->mutable_complexes(), "complexes/gunsan")->set_region("regions/chungnam");
  v1::Organization* also_in_file = data->add_organizations();
  also_in_file->set_name(made);
  also_in_file->set_display_name("파일의 기관");
  also_in_file->set_kind(v1::RESEARCH_INSTITUTE);
  auto changed = server_->registry().Import(*data);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(changed->created, 0);
  EXPECT_EQ(changed->updated, 2);  // the complex, the untouched council
  EXPECT_EQ(changed->kept, 3);     // the renamed council, kicox, the API-made organization
  EXPECT_EQ(Council(ships).display_name(), "API가 바꾼 이름");
  ASSERT_TRUE(organization_exists(kicox).has_value());
  EXPECT_TRUE(organization_exists(kicox)->has_delete_time());
  EXPECT_NE(organization_exists(kicox)->display_name(), "한국산업단지공단 (개명)");
  EXPECT_EQ(organization_exists(made)->display_name(), "API가 만든 기관");
  v1::Council described = Council(untouched);
  EXPECT_EQ(described.description(), "파일이 바꾼 설명");
  EXPECT_THAT(described.regions(), ::testing::Contains("regions/chungnam"));
  // What the import derived for the renamed council (its regions) follows its complexes.
  EXPECT_THAT(Council(ships).regions(), ::testing::Contains("regions/chungnam"));

  // The import's own writes are not mistaken for the API's: the council whose regions
  // it moved takes the next change of the file too, and a third import changes nothing.
  find(data->mutable_councils(), "councils/digital-manufacturing-convergence")
      ->set_description("또 바뀐 설명");
  auto third = server_->registry().Import(*data);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->updated, 1);
  EXPECT_EQ(third->kept, 3);
  EXPECT_EQ(Council("councils/digital-manufacturing-convergence").description(),
            "또 바뀐 설명");
  auto fourth = server_->registry().Import(*data);
  ASSERT_TRUE(fourth.ok()) << fourth.status();
  EXPECT_EQ(fourth->created + fourth->updated, 0);
  EXPECT_EQ(fourth->kept, 3);
}

TEST_F(RegistrySeedTest, ABadBundleIsRefusedWholeAndNamesTheEntry) {
  auto data = LoadRegistryData(SeedPath());
  ASSERT_TRUE(data.ok());
  data->mutable_councils(0)->set_display_name("바뀐 이름");
  data->mutable_councils(3)->add_complexes("complexes/atlantis");
  auto result = server_->registry().Import(*data);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              ::testing::HasSubstr("councils[3].complexes["));
  // Council 0's rename, before the bad entry, was rolled back with it.
  EXPECT_NE(Council(data->councils(0).name()).display_name(), "바뀐 이름");
}

TEST_F(RegistrySeedTest, ADataFileWithASyntaxErrorNamesTheLine) {
  std::string path = dir_.File("broken.textproto");
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("fields {\n  name: \"fields/x\"\n  colour: 3\n}\n", f);
  fclose(f);
  auto data = LoadRegistryData(path);
  ASSERT_FALSE(data.ok());
  EXPECT_THAT(std::string(data.status().message()), ::testing::HasSubstr("line 3"));
}

}  // namespace
}  // namespace sanhak::registry
