// Log lines are parsed as JSON by shippers, so every string must come out as a valid JSON
// literal: escapes where JSON requires them, Korean text left readable; and a line stays
// one bounded line whatever a caller managed to put into it.
#include "common/log.h"

#include <unistd.h>

#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/validation.h"
#include "gtest/gtest.h"
#include "tests/support/capture_stderr.h"
#include "tests/support/json_fields.h"

namespace sanhak {
namespace {

using ::sanhak::testing::CaptureStderr;
using ::sanhak::testing::JsonFields;
using ::sanhak::testing::ParseJsonFields;

std::string Json(absl::string_view text) {
  std::string out;
  AppendJsonString(&out, text);
  return out;
}

// One log line parsed as a JSON object, as a shipper would (protobuf's JSON parser).
JsonFields ParseLine(const std::string& line) {
  absl::StatusOr<JsonFields> parsed = ParseJsonFields(line);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *std::move(parsed) : JsonFields();
}

TEST(LogTest, FourMegabyteFieldIsOneBoundedJsonLine) {
  const std::string huge(4 * 1024 * 1024, 'a');
  const std::string out = CaptureStderr(
      [&] { Log(LogLevel::kInfo, "rpc", {{"error", huge}, {"code", int64_t{3}}}); });
  ASSERT_TRUE(absl::EndsWith(out, "\n"));
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LT(out.size(), 20u * 1024);
  JsonFields line = ParseLine(lines[0]);
  EXPECT_EQ(line.at("msg").string_value(), "rpc");
  EXPECT_EQ(line.at("code").number_value(), 3);
  const std::string& error = line.at("error").string_value();
  EXPECT_LE(error.size(), kMaxLogValueBytes);
  EXPECT_TRUE(absl::StartsWith(error, "aaaa"));
  EXPECT_TRUE(absl::EndsWith(error, "\u2026(4194304 bytes)")) << error.substr(error.size() - 40);
}

TEST(LogTest, LongMessageAndKoreanValueAreCutOnCharacters) {
  std::string korean;
  for (int i = 0; i < 400000; ++i) korean += "협의회";
  const std::string out =
      CaptureStderr([&] { Log(LogLevel::kWarning, korean, {{"name", korean}}); });
  EXPECT_LT(out.size(), 20u * 1024);
  EXPECT_TRUE(IsValidUtf8(out));
  JsonFields line = ParseLine(out);
  EXPECT_TRUE(absl::StartsWith(line.at("msg").string_value(), "협의회협의회"));
  EXPECT_TRUE(absl::EndsWith(line.at("name").string_value(), "(3600000 bytes)"));
}

TEST(LogTest, ControlCharactersCannotPushALinePastItsBound) {
  // Escaped as \u00XX, every byte of these values grows six-fold.
  const std::string controls(1 << 20, '\x01');
  const std::string out = CaptureStderr([&] {
    Log(LogLevel::kError, controls,
        {{"a", controls}, {"b", controls}, {"c", controls}, {"d", int64_t{7}}});
  });
  EXPECT_LE(out.size(), kMaxLogLineBytes);
  JsonFields line = ParseLine(out);
  // Fields that did not fit are counted, not silently lost.
  ASSERT_TRUE(line.count("fields_dropped") == 1);
  EXPECT_GE(line.at("fields_dropped").number_value(), 1);
}

TEST(LogTest, InvalidUtf8AndNonFiniteNumbersStillParse) {
  const std::string out = CaptureStderr([&] {
    Log(LogLevel::kInfo, "bad \xff\xfe bytes",
        {{"peer", std::string("ipv4:\xc3(")}, {"ratio", std::numeric_limits<double>::quiet_NaN()}});
  });
  EXPECT_TRUE(IsValidUtf8(out));
  JsonFields line = ParseLine(out);
  EXPECT_EQ(line.at("msg").string_value(), "bad \ufffd\ufffd bytes");
  EXPECT_EQ(line.at("peer").string_value(), "ipv4:\ufffd(");
}

TEST(AppendJsonStringTest, PlainTextIsQuoted) {
  EXPECT_EQ(Json(""), "\"\"");
  EXPECT_EQ(Json("registry started"), "\"registry started\"");
}

TEST(AppendJsonStringTest, AppendsToExistingText) {
  std::string out = "{\"msg\":";
  AppendJsonString(&out, "hi");
  EXPECT_EQ(out, "{\"msg\":\"hi\"");
}

TEST(AppendJsonStringTest, EscapesQuotesAndBackslash) {
  EXPECT_EQ(Json("say \"hi\""), R"("say \"hi\"")");
  EXPECT_EQ(Json("C:\\dir"), R"("C:\\dir")");
  EXPECT_EQ(Json("\\\""), R"("\\\"")");
}

TEST(AppendJsonStringTest, EscapesNewlinesAndTabs) {
  // A raw newline would split one log record into two lines.
  EXPECT_EQ(Json("a\nb"), R"("a\nb")");
  EXPECT_EQ(Json("a\r\nb"), R"("a\r\nb")");
  EXPECT_EQ(Json("a\tb"), R"("a\tb")");
}

TEST(AppendJsonStringTest, EscapesOtherControlCharacters) {
  EXPECT_EQ(Json(std::string("a\0b", 3)), R"("a\u0000b")");
  EXPECT_EQ(Json("\x01"), R"("\u0001")");
  EXPECT_EQ(Json("\x1b[31m"), R"("\u001b[31m")");
  EXPECT_EQ(Json("\x1f"), R"("\u001f")");
}

TEST(AppendJsonStringTest, NoRawControlBytesSurvive) {
  std::string all;
  for (int c = 0; c < 0x20; ++c) all.push_back(static_cast<char>(c));
  std::string json = Json(all);
  for (char c : json) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << json;
}

TEST(AppendJsonStringTest, KoreanUtf8Unchanged) {
  EXPECT_EQ(Json("미래모빌리티 협의회"), "\"미래모빌리티 협의회\"");
  EXPECT_EQ(Json("councils/미래\n"), "\"councils/미래\\n\"");
}

}  // namespace
}  // namespace sanhak
