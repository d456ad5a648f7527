// Request-check helpers: dates as googleapis allows them and text limits counted in
// characters (Korean names are 3 bytes a character in UTF-8).
#include "common/validation.h"

#include <unistd.h>

#include <climits>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "common/time_proto.h"
#include "common/time_zones.h"
#include "google/type/date.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sanhak {
namespace {

google::type::Date MakeDate(int year, int month, int day) {
  google::type::Date date;
  date.set_year(year);
  date.set_month(month);
  date.set_day(day);
  return date;
}

// The fields of every violation, in order.
std::vector<std::string> Fields(const FieldViolations& violations) {
  // Named, not a temporary: a range-for over a temporary's member would dangle.
  const google::rpc::BadRequest bad_request = GetBadRequest(violations.ToStatus());
  std::vector<std::string> fields;
  for (const auto& v : bad_request.field_violations()) fields.push_back(v.field());
  return fields;
}

// The fields ValidateDate reported, in order.
std::vector<std::string> DateViolations(int year, int month, int day) {
  FieldViolations violations;
  ValidateDate(MakeDate(year, month, day), "founded_date", violations);
  return Fields(violations);
}

std::vector<std::string> TextViolations(absl::string_view text, bool required,
                                        size_t max_chars) {
  FieldViolations violations;
  ValidateText(text, "display_name", required, max_chars, violations);
  return Fields(violations);
}

const std::vector<std::string> kNone;
const std::vector<std::string> kDateField = {"founded_date"};
const std::vector<std::string> kTextField = {"display_name"};

TEST(ValidateDateTest, AcceptedShapes) {
  EXPECT_EQ(DateViolations(2024, 3, 15), kNone);  // Full date.
  EXPECT_EQ(DateViolations(2024, 3, 0), kNone);   // Year and month.
  EXPECT_EQ(DateViolations(2024, 0, 0), kNone);   // Year alone.
  EXPECT_EQ(DateViolations(0, 0, 0), kNone);      // Unset.
  EXPECT_EQ(DateViolations(2024, 12, 31), kNone);
  EXPECT_EQ(DateViolations(2024, 1, 31), kNone);
  EXPECT_EQ(DateViolations(2023, 4, 30), kNone);
}

TEST(ValidateDateTest, LeapYears) {
  EXPECT_EQ(DateViolations(2024, 2, 29), kNone);
  EXPECT_EQ(DateViolations(2000, 2, 29), kNone);       // Divisible by 400.
  EXPECT_EQ(DateViolations(2023, 2, 29), kDateField);
  EXPECT_EQ(DateViolations(1900, 2, 29), kDateField);  // Divisible by 100 only.
  EXPECT_EQ(DateViolations(2023, 2, 28), kNone);
}

TEST(ValidateDateTest, Rejected) {
  EXPECT_EQ(DateViolations(2024, 13, 1), kDateField);
  EXPECT_EQ(DateViolations(2024, 13, 0), kDateField);
  EXPECT_EQ(DateViolations(2024, -1, 0), kDateField);
  EXPECT_EQ(DateViolations(2024, 0, 5), kDateField);  // A day without a month.
  EXPECT_EQ(DateViolations(2024, 4, 31), kDateField);
  EXPECT_EQ(DateViolations(2024, 1, 32), kDateField);
  EXPECT_EQ(DateViolations(2024, 1, -1), kDateField);
  EXPECT_EQ(DateViolations(0, 3, 15), kDateField);  // Month and day need a year here.
  EXPECT_EQ(DateViolations(10000, 1, 1), kDateField);
}

TEST(ValidateDateTest, OneViolationPerDate) {
  // A date wrong in several ways is still one violation, so the reply stays readable.
  EXPECT_EQ(DateViolations(2024, 13, 40), kDateField);
}

TEST(Utf8Test, ValidText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("미래모빌리티 협의회"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9"));          // é, two bytes.
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x9a\x97"));  // 🚗, four bytes.
}

TEST(Utf8Test, TruncatedMultibyteIsInvalid) {
  const std::string korean = "미";  // EB AF B8
  ASSERT_EQ(korean.size(), 3u);
  EXPECT_FALSE(IsValidUtf8(korean.substr(0, 1)));
  EXPECT_FALSE(IsValidUtf8(korean.substr(0, 2)));
  EXPECT_FALSE(IsValidUtf8("abc" + korean.substr(0, 2)));
  EXPECT_FALSE(IsValidUtf8(korean.substr(0, 2) + "a"));
  EXPECT_FALSE(IsValidUtf8("\xf0\x9f\x9a"));
}

TEST(Utf8Test, LoneContinuationByteIsInvalid) {
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("a\xbf"));
  EXPECT_FALSE(IsValidUtf8("미\x80"));
}

TEST(Utf8Test, ImpossibleLeadBytesAreInvalid) {
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xf8\x80\x80\x80\x80"));
}

TEST(Utf8Test, LengthCountsCharacters) {
  EXPECT_EQ(Utf8Length(""), 0u);
  EXPECT_EQ(Utf8Length("abc"), 3u);
  EXPECT_EQ(Utf8Length("미래모빌리티"), 6u);
  EXPECT_EQ(Utf8Length("미래 AI"), 5u);
  EXPECT_EQ(Utf8Length("\xf0\x9f\x9a\x97"), 1u);
}

TEST(Utf8PrefixTest, ShortTextIsWhole) {
  EXPECT_EQ(Utf8Prefix("abc", 3), "abc");
  EXPECT_EQ(Utf8Prefix("abc", 100), "abc");
  EXPECT_EQ(Utf8Prefix("abcdef", 3), "abc");
  EXPECT_EQ(Utf8Prefix("abc", 0), "");
}

TEST(Utf8PrefixTest, NeverSplitsACharacter) {
  const std::string car = "\xf0\x9f\x9a\x97";  // 🚗, four bytes.
  const std::string text = "a미래" + car + "b";    // 1 + 3 + 3 + 4 + 1 bytes.
  const std::vector<std::string> expected = {
      "", "a", "a", "a", "a미", "a미", "a미", "a미래", "a미래", "a미래", "a미래",
      "a미래" + car, "a미래" + car + "b"};
  for (size_t max = 0; max <= text.size(); ++max) {
    EXPECT_EQ(Utf8Prefix(text, max), expected[max]) << max;
    EXPECT_TRUE(IsValidUtf8(Utf8Prefix(text, max))) << max;
  }
}

TEST(AbbreviateTest, FitsAndSaysHowLongTheTextWas) {
  EXPECT_EQ(Abbreviate("short", 64), "short");
  std::string text(4 * 1024 * 1024, 'x');
  std::string cut = Abbreviate(text, 64);
  EXPECT_LE(cut.size(), 64u);
  EXPECT_TRUE(absl::StartsWith(cut, "xxxx"));
  EXPECT_TRUE(absl::EndsWith(cut, "\u2026(4194304 bytes)")) << cut;
}

TEST(AbbreviateTest, KoreanStaysValidUtf8) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "산학연";
  for (size_t max : {32, 33, 34, 35, 64, 100, 2048}) {
    std::string cut = Abbreviate(text, max);
    EXPECT_LE(cut.size(), max);
    EXPECT_TRUE(IsValidUtf8(cut)) << max;
    EXPECT_TRUE(absl::EndsWith(cut, "\u2026(9000 bytes)")) << cut;
  }
}

TEST(AbbreviateTest, AppliedTwiceChangesNothing) {
  // A value cut where it is quoted must not be cut again, with a second marker, at the edge.
  std::string once = Abbreviate(std::string(10000, 'a'), 256);
  EXPECT_EQ(Abbreviate(once, 256), once);
}

TEST(ValidateTextTest, Required) {
  EXPECT_EQ(TextViolations("", true, 10), kTextField);
  EXPECT_EQ(TextViolations(" \t\n", true, 10), kTextField);  // Blank counts as missing.
  EXPECT_EQ(TextViolations("", false, 10), kNone);
  EXPECT_EQ(TextViolations("협의회", true, 10), kNone);
}

TEST(ValidateTextTest, LimitIsInCharactersNotBytes) {
  // Ten Korean characters are 30 bytes but within a 10-character limit.
  const std::string ten = "가나다라마바사아자차";
  ASSERT_EQ(ten.size(), 30u);
  EXPECT_EQ(TextViolations(ten, true, 10), kNone);
  EXPECT_EQ(TextViolations(ten + "카", true, 10), kTextField);
  EXPECT_EQ(TextViolations(std::string(10, 'a'), true, 10), kNone);
  EXPECT_EQ(TextViolations(std::string(11, 'a'), true, 10), kTextField);
}

TEST(ValidateTextTest, InvalidUtf8) {
  EXPECT_EQ(TextViolations("abc\xeb\xaf", false, 100), kTextField);
}

TEST(ValidateTextTest, DescriptionSaysWhy) {
  FieldViolations violations;
  ValidateText(std::string(11, 'a'), "display_name", true, 10, violations);
  google::rpc::BadRequest bad_request = GetBadRequest(violations.ToStatus());
  ASSERT_EQ(bad_request.field_violations_size(), 1);
  EXPECT_NE(bad_request.field_violations(0).description().find("10"), std::string::npos);
}

TEST(CompareDatesTest, Orders) {
  EXPECT_EQ(CompareDates(MakeDate(2024, 3, 15), MakeDate(2024, 3, 15)), 0);
  EXPECT_EQ(CompareDates(MakeDate(2024, 3, 14), MakeDate(2024, 3, 15)), -1);
  EXPECT_EQ(CompareDates(MakeDate(2024, 3, 15), MakeDate(2024, 3, 14)), 1);
  EXPECT_EQ(CompareDates(MakeDate(2023, 12, 31), MakeDate(2024, 1, 1)), -1);
  EXPECT_EQ(CompareDates(MakeDate(2024, 2, 1), MakeDate(2024, 1, 31)), 1);
  // Unset parts are 0: a year-and-month sorts before every day of that month.
  EXPECT_EQ(CompareDates(MakeDate(2024, 3, 0), MakeDate(2024, 3, 1)), -1);
  EXPECT_EQ(CompareDates(MakeDate(2024, 0, 0), MakeDate(2024, 1, 1)), -1);
  EXPECT_EQ(CompareDates(MakeDate(2025, 0, 0), MakeDate(2024, 12, 31)), 1);
  EXPECT_EQ(CompareDates(MakeDate(0, 0, 0), MakeDate(1900, 1, 1)), -1);
}

// Observation 4 of issue #10: month = INT_MAX overflowed the comparison key (UBSan).
TEST(CompareDatesTest, ExtremePartsCompareWithoutOverflow) {
  EXPECT_EQ(CompareDates(MakeDate(2024, INT_MAX, 1), MakeDate(2024, 12, 31)), 1);
  EXPECT_EQ(CompareDates(MakeDate(2024, 1, INT_MAX), MakeDate(2024, 2, 1)), -1);
  EXPECT_EQ(CompareDates(MakeDate(INT_MIN, INT_MIN, INT_MIN), MakeDate(1, 1, 1)), -1);
  EXPECT_EQ(DateViolations(2024, INT_MAX, 1), kDateField);
  EXPECT_EQ(DateViolations(INT_MAX, INT_MAX, INT_MAX), kDateField);
}

// ------------------------------------------------------------- text: what a name may hold

// The description of the one violation ValidateText reports, "" when none.
std::string TextRule(absl::string_view text, TextForm form = TextForm::kLine) {
  FieldViolations violations;
  ValidateText(text, "display_name", false, 1000, violations, form);
  const google::rpc::BadRequest bad_request = GetBadRequest(violations.ToStatus());
  return bad_request.field_violations_size() == 0
             ? ""
             : bad_request.field_violations(0).description();
}

// Observation 7 of issue #10: display names took NUL, control characters, a right-to-left
// override and a lone BOM.
TEST(ValidateTextTest, RefusesInvisibleAndReorderingCharactersNamingTheRule) {
  struct Case {
    std::string text, rule;
  };
  const std::vector<Case> cases = {
      {std::string("a\0b", 3), "control character"},
      {"a\x01" "b", "control character"},
      {"a\x1b[31mred", "control character"},
      {"a\x7f", "control character"},
      {"line\nbreak", "control character"},
      {"tab\there", "control character"},
      {"a\u0085b", "C1 control"},      // NEXT LINE
      {"a\u009bb", "C1 control"},      // CSI
      {"invoice\u202Egpj.exe", "bidirectional"},  // RIGHT-TO-LEFT OVERRIDE
      {"\u202Aa", "bidirectional"},    // LEFT-TO-RIGHT EMBEDDING
      {"\u2066a\u2069", "bidirectional"},  // LEFT-TO-RIGHT ISOLATE
      {"\u2068a", "bidirectional"},    // FIRST STRONG ISOLATE
      {"\uFEFF", "byte order mark"},    // lone BOM
      {"협의회\uFEFF", "byte order mark"},
      {"\xc0\xaf", "UTF-8"},            // overlong '/'
      {"\xed\xa0\x80", "UTF-8"},        // a surrogate
      {"\xf4\x90\x80\x80", "UTF-8"},    // beyond U+10FFFF
  };
  for (const Case& c : cases) {
    EXPECT_THAT(TextRule(c.text), ::testing::HasSubstr(c.rule)) << absl::CEscape(c.text);
  }
  // The character is named, so a caller can find it.
  EXPECT_THAT(TextRule("invoice\u202Egpj.exe"), ::testing::HasSubstr("U+202E at character 8"));
}

TEST(ValidateTextTest, KoreanAndOtherPrintableTextStaysAccepted) {
  for (const std::string& text :
       {std::string("조선해양 기술교류 세미나"), std::string("미래모빌리티(자동차, 조선)"),
        std::string("한국산업단지공단 본사 2층 대회의실"), std::string("Ünïcödé — “quotes” 🚗"),
        std::string("العربية עברית"),  // right-to-left scripts themselves are fine
        std::string("a\u200Fb")}) {     // a right-to-left mark is not an override
    EXPECT_EQ(TextRule(text), "") << text;
  }
}

TEST(ValidateTextTest, MultilineTextTakesLineBreaksAndTabsOnly) {
  EXPECT_EQ(TextRule("첫 줄\n둘째 줄\r\n\t셋째", TextForm::kMultiline), "");
  EXPECT_THAT(TextRule(std::string("a\0b", 3), TextForm::kMultiline),
              ::testing::HasSubstr("control character"));
  EXPECT_THAT(TextRule("a\u202Eb", TextForm::kMultiline), ::testing::HasSubstr("bidirectional"));
  EXPECT_THAT(TextRule("\uFEFFa", TextForm::kMultiline), ::testing::HasSubstr("byte order mark"));
}

// ---------------------------------------------------------------- numbers, lists, times

std::vector<std::string> TimestampViolations(int64_t seconds, int32_t nanos) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  t.set_nanos(nanos);
  FieldViolations violations;
  ValidateTimestamp(t, "start_time", violations);
  return Fields(violations);
}

// Observation 4 of issue #10: seconds = INT64_MIN, year 10000 and nanos = -1 were stored.
TEST(ValidateTimestampTest, ProtobufRangeOnly) {
  const std::vector<std::string> field = {"start_time"};
  EXPECT_EQ(TimestampViolations(0, 0), kNone);
  EXPECT_EQ(TimestampViolations(kMinTimestampSeconds, 0), kNone);            // 0001-01-01
  EXPECT_EQ(TimestampViolations(kMaxTimestampSeconds, 999999999), kNone);    // 9999-12-31
  EXPECT_EQ(TimestampViolations(INT64_MIN, 0), field);
  EXPECT_EQ(TimestampViolations(INT64_MAX, 0), field);
  EXPECT_EQ(TimestampViolations(kMinTimestampSeconds - 1, 0), field);
  EXPECT_EQ(TimestampViolations(kMaxTimestampSeconds + 1, 0), field);        // year 10000
  EXPECT_EQ(TimestampViolations(1757480400, -1), field);
  EXPECT_EQ(TimestampViolations(1757480400, 1000000000), field);
  EXPECT_EQ(TimestampViolations(1757480400, INT32_MIN), field);
  // The constants are the documented instants.
  EXPECT_EQ(absl::ToCivilSecond(absl::FromUnixSeconds(kMinTimestampSeconds), absl::UTCTimeZone()),
            absl::CivilSecond(1, 1, 1, 0, 0, 0));
  EXPECT_EQ(absl::ToCivilSecond(absl::FromUnixSeconds(kMaxTimestampSeconds), absl::UTCTimeZone()),
            absl::CivilSecond(9999, 12, 31, 23, 59, 59));
}

TEST(ValidateNonNegativeTest, ZeroToMax) {
  for (auto [value, ok] : {std::pair<int64_t, bool>{0, true}, {1'000'000'000'000'000, true},
                           {1'000'000'000'000'001, false}, {INT64_MAX, false}, {-1, false},
                           {INT64_MIN, false}}) {
    FieldViolations violations;
    ValidateNonNegative(value, 1'000'000'000'000'000, "total_budget_krw", violations);
    EXPECT_EQ(violations.empty(), ok) << value;
  }
}

TEST(ValidateListSizeTest, SaysHowManyAndTheMaximum) {
  FieldViolations violations;
  ValidateListSize(50, 50, "activity.sessions", violations);
  EXPECT_TRUE(violations.empty());
  ValidateListSize(20000, 50, "activity.sessions", violations);
  const google::rpc::BadRequest bad_request = GetBadRequest(violations.ToStatus());
  ASSERT_EQ(bad_request.field_violations_size(), 1);
  EXPECT_EQ(bad_request.field_violations(0).field(), "activity.sessions");
  EXPECT_EQ(bad_request.field_violations(0).description(), "has 20000 entries; at most 50");
}

// ------------------------------------------------------------------------- time zones

std::vector<std::string> ZoneViolations(absl::string_view name) {
  FieldViolations violations;
  ValidateTimeZone(name, "activity.time_zone", violations);
  return Fields(violations);
}

// Observation 2 of issue #10: paths and "file:" names reached the zone loader.
TEST(TimeZonesTest, PathsAndUnknownNamesAreRefused) {
  const std::vector<std::string> field = {"activity.time_zone"};
  for (const std::string& name :
       {std::string("/etc/localtime"), std::string("../../../../etc/localtime"),
        std::string("file:/etc/localtime"), std::string("Asia/../Asia/Seoul"),
        std::string("./Asia/Seoul"), std::string("Asia//Seoul"), std::string("Asia/Seoul/"),
        std::string("localtime"), std::string("posixrules"), std::string("zone1970.tab"),
        std::string("posix/Asia/Seoul"), std::string("right/Asia/Seoul"),
        std::string("Asia/Atlantis"), std::string("Fixed/UTC+09:00:00"), std::string(""),
        std::string("Asia/Seoul\n"), std::string("Asia/Seoul", 11),
        std::string(16 * 1024, 'A')}) {
    EXPECT_EQ(ZoneViolations(name), field) << absl::CEscape(name);
    EXPECT_FALSE(FindTimeZone(name).has_value()) << absl::CEscape(name);
  }
}

TEST(TimeZonesTest, IanaNamesAreAccepted) {
  ASSERT_FALSE(KnownTimeZoneNames().empty()) << "is tzdata installed (scripts/install-deps.sh)?";
  for (const char* name : {"Asia/Seoul", "UTC", "Etc/UTC", "Asia/Jakarta", "Europe/Berlin",
                           "America/Argentina/ComodRivadavia", "Etc/GMT+9", "EST5EDT",
                           "Asia/Calcutta" /* a link */}) {
    EXPECT_EQ(ZoneViolations(name), kNone) << name;
    std::optional<absl::TimeZone> zone = FindTimeZone(name);
    ASSERT_TRUE(zone.has_value()) << name;
  }
  // The zone is the real one: 2025-09-10 14:00 KST is 05:00 UTC.
  absl::CivilMinute kst = absl::ToCivilMinute(absl::FromUnixSeconds(1757480400),
                                              *FindTimeZone("Asia/Seoul"));
  EXPECT_EQ(kst, absl::CivilMinute(2025, 9, 10, 14, 0));
}

TEST(TimeZonesTest, NameGrammar) {
  EXPECT_TRUE(IsTimeZoneNameSyntax("Asia/Seoul"));
  EXPECT_TRUE(IsTimeZoneNameSyntax("Etc/GMT-14"));
  EXPECT_TRUE(IsTimeZoneNameSyntax("America/Port-au-Prince"));
  EXPECT_FALSE(IsTimeZoneNameSyntax("/Asia/Seoul"));
  EXPECT_FALSE(IsTimeZoneNameSyntax("Asia/.."));
  EXPECT_FALSE(IsTimeZoneNameSyntax("Asia/.hidden"));
  EXPECT_FALSE(IsTimeZoneNameSyntax("-Asia"));
  EXPECT_FALSE(IsTimeZoneNameSyntax("file:Asia/Seoul"));
  EXPECT_FALSE(IsTimeZoneNameSyntax("Asia/Seoul Asia/Tokyo"));
  EXPECT_FALSE(IsTimeZoneNameSyntax(std::string(kMaxTimeZoneNameChars + 1, 'A')));
}

TEST(TimeZonesTest, TzdataZiZonesAndLinks) {
  const auto names = ParseTzdataZiNames(
      "# version 2025b\n"
      "R K 1960 o - May 1 0 1 D\n"
      "Z Asia/Seoul 8:27:52 - LMT 1908 Ap\n"
      "9 - KST\n"
      "L Etc/UTC UTC\n"
      "L Asia/Kolkata Asia/Calcutta\n"
      "L Etc/UTC ../../etc/passwd\n");
  EXPECT_EQ(names, (absl::flat_hash_set<std::string>{"Asia/Seoul", "UTC", "Asia/Calcutta"}));
}

// Resident memory of this process, bytes (/proc/self/statm's second field, in pages).
int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// Observation 2 of issue #10: 6,000 calls with unique 16 KB names took the events service
// from 21 to 121 MB, never freed (the zone loader caches every name it is given). The
// name is one buffer changed in place, so the only allocations are the check's own.
TEST(TimeZonesTest, UniqueLongNamesDoNotGrowMemory) {
  std::string name = "Asia/" + std::string(16 * 1024, 'X');
  FieldViolations warm;
  ValidateTimeZone("Asia/Seoul", "time_zone", warm);  // reads tzdata.zi once
  const int64_t before = ResidentBytes();
  for (int i = 0; i < 6000; ++i) {
    const std::string unique = absl::StrCat(i);
    name.replace(5, unique.size(), unique);
    FieldViolations violations;
    ValidateTimeZone(name, "time_zone", violations);
    ASSERT_FALSE(violations.empty());
    // The same name in a valid shape but unknown: refused before the loader too.
    FieldViolations short_name;
    ValidateTimeZone(absl::StrCat("Asia/Nowhere", i), "time_zone", short_name);
    ASSERT_FALSE(short_name.empty());
  }
  const int64_t growth = ResidentBytes() - before;
  // Caching them would take 6,000 x 16 KB = 94 MiB; allow a sixth of that for noise.
  EXPECT_LT(growth, 16 << 20) << "grew " << growth / 1024 << " KiB";
}

}  // namespace
}  // namespace sanhak
