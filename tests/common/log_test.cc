// Log lines are parsed as JSON by shippers, so every string must come out as a valid JSON
// literal: escapes where JSON requires them, Korean text left readable.
#include "common/log.h"

#include <string>

#include "gtest/gtest.h"

namespace sanhak {
namespace {

std::string Json(absl::string_view text) {
  std::string out;
  AppendJsonString(&out, text);
  return out;
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
