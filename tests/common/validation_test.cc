// Request-check helpers: dates as googleapis allows them and text limits counted in
// characters (Korean names are 3 bytes a character in UTF-8).
#include "common/validation.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/status.h"
#include "google/type/date.pb.h"
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

}  // namespace
}  // namespace sanhak
