// sanhakctl's pure parts: display width and tables, exit codes and error text, the
// import/export formats, resource names.
#include <string>
#include <vector>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "sanhak/analytics/v1/analytics.pb.h"
#include "sanhak/events/v1/events.pb.h"
#include "sanhak/registry/v1/registry.pb.h"
#include "tools/sanhakctl/client.h"
#include "tools/sanhakctl/commands.h"
#include "tools/sanhakctl/display.h"
#include "common/status.h"
#include "tools/sanhakctl/errors.h"
#include "tools/sanhakctl/csv_table.h"
#include "tools/sanhakctl/records.h"
#include "tools/sanhakctl/watch.h"
#include "tools/sanhakctl/yaml.h"

namespace sanhak::ctl {
namespace {

TEST(DisplayWidthTest, HangulAndCjkTakeTwoColumns) {
  EXPECT_EQ(DisplayWidth("abc"), 3);
  EXPECT_EQ(DisplayWidth("산학연"), 6);
  EXPECT_EQ(DisplayWidth("반월·시화국가"), 13);  // the middle dot is narrow
  EXPECT_EQ(DisplayWidth("漢字"), 4);
  EXPECT_EQ(DisplayWidth("ＡＢ"), 4);  // fullwidth forms
  EXPECT_EQ(DisplayWidth("ㄱ"), 2);   // compatibility jamo
}

TEST(DisplayWidthTest, CombiningMarksTakeNone) {
  EXPECT_EQ(DisplayWidth("e\xCC\x81"), 1);  // e + U+0301
  // Conjoining jamo: initial (2) + medial (0) + final (0) is one syllable cell.
  EXPECT_EQ(DisplayWidth("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"), 2);
}

TEST(DisplayWidthTest, MalformedBytesCountOneEach) {
  EXPECT_EQ(DisplayWidth("\xFF\xFE"), 2);
  EXPECT_EQ(DisplayWidth("\xEC\x82"), 2);  // truncated sequence
}

TEST(TruncateTest, CutsAtWidthWithEllipsis) {
  EXPECT_EQ(TruncateToWidth("short", 10), "short");
  EXPECT_EQ(TruncateToWidth("abcdefgh", 5), "abcd…");
  // 4 columns left for text: two syllables, never half of one.
  EXPECT_EQ(TruncateToWidth("미래형석유화학", 5), "미래…");
  EXPECT_EQ(TruncateToWidth("미래형석유화학", 6), "미래…");
  EXPECT_LE(DisplayWidth(TruncateToWidth("미래형석유화학", 6)), 6);
  EXPECT_EQ(TruncateToWidth("abc", 0), "");
}

TEST(PadTest, PadsByDisplayWidth) {
  EXPECT_EQ(PadToWidth("산", 4), "산  ");
  EXPECT_EQ(PadToWidth("7", 3, /*right_align=*/true), "  7");
}

// The display column where `needle` starts in `line`.
int ColumnOf(const std::string& line, const std::string& needle) {
  const size_t at = line.find(needle);
  return at == std::string::npos ? -1 : DisplayWidth(line.substr(0, at));
}

TEST(TableTest, AlignsKoreanAndAscii) {
  Table t({"NAME", "DISPLAY", "N"});
  t.AlignRight(2);
  t.AddRow({"councils/a", "미래형 석유화학", "1"});
  t.AddRow({"councils/bb", "Display", "22"});
  t.AddRow({"councils/c", "반월·시화", "333"});
  std::vector<std::string> lines = absl::StrSplit(t.Render(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(ColumnOf(lines[0], "DISPLAY"), ColumnOf(lines[1], "미래"));
  EXPECT_EQ(ColumnOf(lines[1], "미래"), ColumnOf(lines[2], "Display"));
  EXPECT_EQ(ColumnOf(lines[2], "Display"), ColumnOf(lines[3], "반월"));
  // Right-aligned numbers end in the same column.
  for (const auto& line : lines) EXPECT_EQ(DisplayWidth(lines[1]), DisplayWidth(line)) << line;
}

TEST(TableTest, TruncatesWideCells) {
  Table t({"A", "B"});
  t.set_max_cell_width(6);
  t.AddRow({"한국산업단지공단", "x"});
  const std::string out = t.Render();
  EXPECT_NE(out.find("한국…"), std::string::npos) << out;
  EXPECT_EQ(out.find("공단"), std::string::npos) << out;
}

TEST(TableTest, KeepsWholeColumnsUncut) {
  Table t({"NAME", "B"});
  t.set_max_cell_width(5);
  t.KeepWhole(0);
  t.AddRow({"councils/long-name", "협의체이름"});
  const std::string out = t.Render();
  EXPECT_NE(out.find("councils/long-name"), std::string::npos) << out;
  EXPECT_NE(out.find("협의…"), std::string::npos) << out;
}

TEST(TableTest, NoTrailingSpacesAndOneLinePerRow) {
  Table t({"A", "B"});
  t.AddRow({"line\nbreak", ""});
  const std::string out = t.Render();
  EXPECT_EQ(out, "A           B\nline break\n");
}

TEST(TableTest, FitsTheLineWidthByCuttingTheWidestColumnsButNotWholeOnes) {
  Table t({"NAME", "TITLE", "NOTE"});
  t.KeepWhole(0);
  t.AddRow({"councils/special-purpose-ships", "특수목적선 조선·해양기자재 초광역 협의체",
            "a rather long note about it"});
  Table::SetLineWidth(60);
  const std::string out = t.Render();
  Table::SetLineWidth(0);
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    EXPECT_LE(DisplayWidth(line), 60) << out;
  }
  EXPECT_NE(out.find("councils/special-purpose-ships  "), std::string::npos) << out;
  EXPECT_NE(out.find("…"), std::string::npos) << out;
  // Only whole columns too wide: the line stays long rather than lose a name.
  Table names({"NAME"});
  names.KeepWhole(0);
  names.AddRow({"councils/special-purpose-ships"});
  Table::SetLineWidth(10);
  EXPECT_EQ(names.Render(), "NAME\ncouncils/special-purpose-ships\n");
  Table::SetLineWidth(0);
}

TEST(ExitCodeTest, MapsCodes) {
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kOk), 0);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kInvalidArgument), 2);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kOutOfRange), 2);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kNotFound), 3);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kAlreadyExists), 4);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kAborted), 4);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kFailedPrecondition), 4);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kUnavailable), 5);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kDeadlineExceeded), 5);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kInternal), 1);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kPermissionDenied), 1);
}

TEST(FormatErrorTest, ShowsFieldViolationsAndReason) {
  google::rpc::Status rpc;
  rpc.set_code(3);
  google::rpc::BadRequest bad;
  auto* v = bad.add_field_violations();
  v->set_field("council.complexes[2]");
  v->set_description("complexes/x does not exist");
  rpc.add_details()->PackFrom(bad);
  google::rpc::ErrorInfo info;
  info.set_reason("INVALID_ARGUMENT");
  info.set_domain("sanhak.kr");
  rpc.add_details()->PackFrom(info);
  grpc::Status status(grpc::StatusCode::INVALID_ARGUMENT, "bad council",
                      rpc.SerializeAsString());
  const absl::Status s = FromGrpcStatus(status);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetReason(s), "INVALID_ARGUMENT");
  EXPECT_EQ(FormatError(s),
            "INVALID_ARGUMENT: bad council\n"
            "  council.complexes[2]: complexes/x does not exist\n"
            "  reason: INVALID_ARGUMENT\n");
}

TEST(FormatErrorTest, StaleEtagSaysWhatToDo) {
  google::rpc::Status rpc;
  google::rpc::ErrorInfo info;
  info.set_reason("ETAG_MISMATCH");
  rpc.add_details()->PackFrom(info);
  const absl::Status s =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::ABORTED, "stale", rpc.SerializeAsString()));
  EXPECT_EQ(ExitCodeFor(s), kExitConflict);
  EXPECT_NE(FormatError(s).find("changed since it was read"), std::string::npos);
}

TEST(CsvTest, ParsesQuotesCommasAndNewlines) {
  auto rows = ParseCsv("a,b,c\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\nlast,,\n");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[1].first, 2);
  EXPECT_EQ((*rows)[1].second, (std::vector<std::string>{"x,1", "say \"hi\"", "two\nlines"}));
  EXPECT_EQ((*rows)[2].first, 4);  // the quoted newline moved it down a line
  EXPECT_EQ((*rows)[2].second, (std::vector<std::string>{"last", "", ""}));
}

TEST(CsvTest, RoundTripsThroughCsvRow) {
  const std::vector<std::string> cells = {"plain", "한글, 쉼표", "quote \"q\"", "multi\nline"};
  auto rows = ParseCsv(CsvRow(cells) + CsvRow({"x"}));
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].second, cells);
}

TEST(CsvTest, ReportsTheLineOfAnUnterminatedQuote) {
  auto rows = ParseCsv("kind,name,resource\ncouncil,x,\"{\n");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().message(), "line 2: unterminated quoted cell");
}

// A resource with every kind of cell a spreadsheet can break: separators, quotes, line
// breaks, Korean, emoji, list separators and backslashes, nested messages, lists of
// messages, times and enums.
events::v1::Activity HostileActivity() {
  events::v1::Activity a;
  a.set_name("activities/hostile");
  a.set_kind(events::v1::SEMINAR);
  a.set_title("쉼표, \"따옴표\"\n줄바꿈 😀 ;\\ 끝 ");
  a.add_councils("councils/a;b");
  a.add_councils("councils/c\\d");
  a.mutable_start_time()->set_seconds(1753837200);
  a.set_time_zone("Asia/Seoul");
  a.mutable_place()->set_city("부산, 해운대");
  a.set_reported_attendance(0);
  a.set_attendance_approximate(true);
  a.set_description("=SUM(A1)\r\nCRLF inside");
  auto* session = a.add_sessions();
  session->set_number(1);
  session->set_title("1세션");
  session->add_councils("councils/x");
  auto* slot = a.add_timetable();
  slot->set_id("s1");
  slot->mutable_start_time()->set_seconds(1753837200);
  slot->mutable_end_time()->set_seconds(1753840800);
  slot->set_title("개회, \"환영\"");
  slot->set_kind(events::v1::OPENING);
  slot->add_leads(events::v1::MASTER_OF_CEREMONIES);
  slot->set_note("두 줄\n메모");
  auto* second = a.add_timetable();
  second->set_id("s2");
  second->set_title("'인용");
  second->set_note("+82 10\n@everyone -1");
  return a;
}

TEST(CsvTableTest, ColumnsAreFieldPathsFromTheDescriptor) {
  const std::vector<std::string> columns = CsvColumns(*FindKind("council"));
  ASSERT_FALSE(columns.empty());
  EXPECT_EQ(columns[0], "name");
  auto has = [&](const std::string& c) {
    return std::find(columns.begin(), columns.end(), c) != columns.end();
  };
  EXPECT_TRUE(has("display_name"));
  EXPECT_TRUE(has("reported_members.total"));
  EXPECT_TRUE(has("reported_members.as_of"));
  EXPECT_TRUE(has("launch_date"));
  EXPECT_TRUE(has("complexes"));
  EXPECT_FALSE(has("etag"));
  EXPECT_FALSE(has("create_time"));
  EXPECT_FALSE(has("membership_count"));
}

TEST(CsvTableTest, HostileValuesRoundTripWithAndWithoutBom) {
  const events::v1::Activity activity = HostileActivity();
  std::vector<CsvFile> files = WriteCsvTables(*FindKind("activity"), {&activity});
  std::vector<std::string> names;
  for (const CsvFile& f : files) {
    names.push_back(f.name);
    EXPECT_EQ(f.text.substr(0, 3), kUtf8Bom) << f.name;
    EXPECT_EQ(f.text.substr(f.text.size() - 2), "\r\n") << f.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"activity.csv", "activity.sessions.csv",
                                             "activity.timetable.csv"}));
  EXPECT_TRUE(absl::StartsWith(files[2].text, "\xEF\xBB\xBF" "activity,id,start_time,end_time,"))
      << files[2].text;
  EXPECT_NE(files[0].text.find("councils/a\\;b;councils/c\\\\d"), std::string::npos)
      << files[0].text;
  EXPECT_NE(files[0].text.find("2025-07-30T01:00:00Z"), std::string::npos) << files[0].text;
  // No text reaches a spreadsheet as a formula: the description starts with "=" (and is
  // quoted, for the line break it holds).
  EXPECT_NE(files[0].text.find(",\"'=SUM(A1)\r\nCRLF inside\""), std::string::npos)
      << files[0].text;
  EXPECT_EQ(files[0].text.find("\"=SUM"), std::string::npos) << files[0].text;
  EXPECT_NE(files[2].text.find(",\"'+82 10\n"), std::string::npos) << files[2].text;
  EXPECT_NE(files[2].text.find(",''인용"), std::string::npos) << files[2].text;
  for (bool bom : {true, false}) {
    std::vector<CsvFile> input = files;
    if (!bom) {
      for (CsvFile& f : input) f.text = f.text.substr(3);
    }
    auto records = ReadCsvTables(input);
    ASSERT_TRUE(records.ok()) << records.status();
    ASSERT_EQ(records->size(), 1u);
    EXPECT_EQ((*records)[0].file, "activity.csv");
    EXPECT_EQ((*records)[0].line, 2);
    events::v1::Activity back;
    ASSERT_TRUE(FromJson((*records)[0].resource_json, &back).ok());
    EXPECT_EQ(back.SerializeAsString(), activity.SerializeAsString())
        << back.DebugString() << "\nvs\n" << activity.DebugString();
  }
}

TEST(CsvTableTest, ErrorsNameTheFileAndLine) {
  auto bad_number = ReadCsvTables(
      {{"council.csv", "\xEF\xBB\xBFname,forum_session\r\ncouncils/a,1\r\ncouncils/b,x\r\n"}});
  ASSERT_FALSE(bad_number.ok());
  EXPECT_EQ(bad_number.status().message(),
            "council.csv line 3: column \"forum_session\": \"x\" is not an integer");
  // A huge cell is quoted by a short prefix: the error names the file, line, column and rule.
  auto huge = ReadCsvTables({{"council.csv", absl::StrCat("name,forum_session\r\ncouncils/a,",
                                                          std::string(1 << 20, '9'), "x\r\n")}});
  ASSERT_FALSE(huge.ok());
  EXPECT_TRUE(absl::StartsWith(huge.status().message(),
                               "council.csv line 2: column \"forum_session\": \"999"))
      << huge.status().message().substr(0, 200);
  EXPECT_TRUE(absl::EndsWith(huge.status().message(), "\" is not an integer"));
  EXPECT_LT(huge.status().message().size(), 200u);
  auto unknown = ReadCsvTables({{"council.csv", "name,colour\r\n"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(absl::StartsWith(unknown.status().message(),
                               "council.csv line 1: unknown column \"colour\""))
      << unknown.status();
  auto orphan = ReadCsvTables({{"activity.csv", "name\nactivities/a\n"},
                               {"activity.timetable.csv", "activity,id\nactivities/b,s1\n"}});
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.status().message(),
            "activity.timetable.csv line 2: activity \"activities/b\" has no row in activity.csv");
  auto stray = ReadCsvTables({{"colours.csv", "name\n"}});
  ASSERT_FALSE(stray.ok());
  EXPECT_TRUE(absl::StrContains(stray.status().message(), "colours.csv: not a table"));
}

TEST(YamlTest, WritesBlockYamlQuotingWhatCouldReadAsSomethingElse) {
  auto yaml = JsonToYaml(
      R"({"name":"councils/x","title":"조선 기술 세미나","yes":"yes","num":"12","t":"2025-07-30T01:00:00Z",)"
      R"("list":[{"a":1,"b":[]},"z",["q"]],"empty":{},"text":"a: b\n\"c\" 😀","ok":true,)"
      R"("big":1e+30,"k":"\ud83d\ude00"})");
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  EXPECT_EQ(*yaml,
            "name: councils/x\n"
            "title: 조선 기술 세미나\n"
            "\"yes\": \"yes\"\n"
            "num: \"12\"\n"
            "t: \"2025-07-30T01:00:00Z\"\n"
            "list:\n"
            "- a: 1\n"
            "  b: []\n"
            "- z\n"
            "- - q\n"
            "empty: {}\n"
            "text: \"a: b\\n\\\"c\\\" 😀\"\n"
            "ok: true\n"
            "big: 1.0e+30\n"
            "k: 😀\n");
  EXPECT_FALSE(JsonToYaml("{\"a\":").ok());
}

TEST(JsonLinesTest, ParsesEnvelopesAndSkipsBlankLines) {
  auto records = ParseJsonLines(
      "{\"kind\":\"council\",\"resource\":{\"name\":\"councils/x\",\"displayName\":\"석유\"}}\n"
      "\n# comment\n"
      "{\"kind\":\"region\",\"resource\":{\"name\":\"regions/y\"}}\n");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].kind, "council");
  EXPECT_EQ((*records)[1].line, 4);
  registry::v1::Council council;
  ASSERT_TRUE(FromJson((*records)[0].resource_json, &council).ok());
  EXPECT_EQ(council.display_name(), "석유");
}

TEST(JsonLinesTest, NamesTheBadLine) {
  auto records = ParseJsonLines("{\"kind\":\"council\",\"resource\":{}}\n{not json\n");
  ASSERT_FALSE(records.ok());
  EXPECT_TRUE(absl::StartsWith(records.status().message(), "line 2: ")) << records.status();
  auto missing = ParseJsonLines("{\"resource\":{}}\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "line 1: missing \"kind\"");
}

TEST(JsonLinesTest, ResourceRoundTrips) {
  registry::v1::Council council;
  council.set_name("councils/x");
  council.set_display_name("미래형 석유화학");
  council.add_complexes("complexes/a");
  auto records = ParseJsonLines(JsonLine("council", council));
  ASSERT_TRUE(records.ok());
  registry::v1::Council back;
  ASSERT_TRUE(FromJson((*records)[0].resource_json, &back).ok());
  EXPECT_EQ(back.SerializeAsString(), council.SerializeAsString());
}

TEST(NamesTest, ResolvesBareIdsAndChildNames) {
  const Kind& council = *FindKind("council");
  EXPECT_EQ(*ResolveName(council, "x"), "councils/x");
  EXPECT_EQ(*ResolveName(council, "councils/x"), "councils/x");
  EXPECT_FALSE(ResolveName(council, "complexes/x").ok());
  const Kind& membership = *FindKind("memberships");
  EXPECT_EQ(*ResolveName(membership, "c/o"), "councils/c/memberships/o");
  EXPECT_EQ(*ResolveName(membership, "councils/c/memberships/o"), "councils/c/memberships/o");
  EXPECT_FALSE(ResolveName(membership, "o").ok());
  EXPECT_EQ(ParentOf("councils/c/memberships/o"), "councils/c");
  EXPECT_EQ(IdOf("councils/c/memberships/o"), "o");
  EXPECT_EQ(FindKind("nonsense"), nullptr);
}

TEST(KindsTest, EveryKindHasItsMethods) {
  for (const Kind& kind : Kinds()) {
    EXPECT_NE(MethodOf(kind, "Get"), nullptr) << kind.name;
    EXPECT_NE(MethodOf(kind, "List"), nullptr) << kind.name;
    if (kind.writable) {
      for (const char* verb : {"Create", "Update", "Delete"}) {
        EXPECT_NE(MethodOf(kind, verb), nullptr) << kind.name << " " << verb;
      }
    }
    for (const auto& c : kind.columns) {
      EXPECT_NE(ResourceDescriptor(kind)->FindFieldByName(c), nullptr) << kind.name << "." << c;
    }
  }
}

TEST(SetFieldTest, ParsesEnumsNumbersAndReferences) {
  registry::v1::ListCouncilsRequest request;
  ASSERT_TRUE(SetFieldFromText(request, "field", "future-mobility").ok());
  EXPECT_EQ(request.field(), "fields/future-mobility");
  ASSERT_TRUE(SetFieldFromText(request, "forum_session", "2").ok());
  EXPECT_EQ(request.forum_session(), 2);
  EXPECT_FALSE(SetFieldFromText(request, "forum_session", "two").ok());
  registry::v1::ListComplexesRequest complexes;
  ASSERT_TRUE(SetFieldFromText(complexes, "kind", "national").ok());
  EXPECT_EQ(complexes.kind(), registry::v1::NATIONAL);
  EXPECT_FALSE(SetFieldFromText(complexes, "kind", "moon").ok());
}

TEST(FormatTest, KrwAndCells) {
  EXPECT_EQ(FormatKrw(300000000), "3억원");
  EXPECT_EQ(FormatKrw(1250000000), "12.5억원");
  EXPECT_EQ(FormatKrw(35000000), "3500만원");
  EXPECT_EQ(FormatKrw(900), "900원");
  registry::v1::Council council;
  council.mutable_launch_date()->set_year(2025);
  council.mutable_launch_date()->set_month(1);
  council.add_regions("regions/a");
  council.add_regions("regions/b");
  EXPECT_EQ(CellText(council, "launch_date"), "2025-01");
  EXPECT_EQ(CellText(council, "regions"), "regions/a, regions/b");
  EXPECT_EQ(CellText(council, "forum_session"), "0");
}

TEST(SummaryTest, TotalsFromAggregates) {
  analytics::v1::Aggregates a;
  a.set_councils(25);
  a.set_activities(5);
  a.mutable_outcomes_total()->set_outcomes(4);
  a.mutable_outcomes_total()->set_total_budget_krw(300000000);
  auto* r = a.add_reported_vs_counted();
  r->set_metric("participating_organizations");
  r->set_counted(7);
  const Totals t = TotalsOf(a);
  EXPECT_EQ(t.organizations, 7);
  EXPECT_EQ(SummaryLine(t),
            "councils 25 · organizations 7 · activities 5 · registrations 0 · outcomes 4 · "
            "funding 3억원 (national 0원) · deals 0원");
}

TEST(DescribeUpdateTest, ShowsBeforeAndAfter) {
  analytics::v1::AggregatesUpdate u;
  u.set_change_id("events-7");
  u.set_resource_name("activities/x");
  u.add_changed("activities");
  u.add_changed("activities_by_kind[SEMINAR]");
  EXPECT_EQ(DescribeUpdate(u, {{"activities", 5}}, {{"activities", 6},
                                                    {"activities_by_kind[SEMINAR]", 1}}),
            "events-7 activities/x: activities 5→6, activities_by_kind[SEMINAR] -→1");
}

}  // namespace
}  // namespace sanhak::ctl
