// Resource names, ids, page sizes, request fingerprints and search text as every List and Get
// handler relies on them.
#include "common/resource_names.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "gtest/gtest.h"

namespace sanhak {
namespace {

// The field names of an INVALID_ARGUMENT's BadRequest, in order.
std::vector<std::string> ViolatedFields(const absl::Status& status) {
  // Named, not a temporary: a range-for over a temporary's member would dangle.
  const google::rpc::BadRequest bad_request = GetBadRequest(status);
  std::vector<std::string> fields;
  for (const auto& v : bad_request.field_violations()) fields.push_back(v.field());
  return fields;
}

TEST(IsValidIdTest, Accepts) {
  EXPECT_TRUE(IsValidId("a"));
  EXPECT_TRUE(IsValidId("smart-green-mobility"));
  EXPECT_TRUE(IsValidId("council-k3x9q2vd7m"));
  EXPECT_TRUE(IsValidId("a1"));
  EXPECT_TRUE(IsValidId("a--b"));
  EXPECT_TRUE(IsValidId(std::string(63, 'a')));
  EXPECT_TRUE(IsValidId("a" + std::string(62, '9')));
}

TEST(IsValidIdTest, Rejects) {
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId("Council"));
  EXPECT_FALSE(IsValidId("coUncil"));
  EXPECT_FALSE(IsValidId("1council"));
  EXPECT_FALSE(IsValidId("-council"));
  EXPECT_FALSE(IsValidId("council-"));
  EXPECT_FALSE(IsValidId("smart_green"));
  EXPECT_FALSE(IsValidId("smart green"));
  EXPECT_FALSE(IsValidId("smart.green"));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId(std::string(64, 'a')));
  EXPECT_FALSE(IsValidId("미래모빌리티"));
  EXPECT_FALSE(IsValidId("a미래"));
}

TEST(ParseNameTest, ReturnsId) {
  absl::StatusOr<std::string> id = ParseName("councils/smart-green", "councils", "name");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "smart-green");
}

TEST(ParseNameTest, ErrorsNameTheGivenField) {
  for (const char* bad : {"", "councils/", "regions/seoul", "councils", "councils/Bad",
                          "councils/a/b", "councils/미래", "xcouncils/a"}) {
    absl::StatusOr<std::string> id = ParseName(bad, "councils", "membership.council");
    ASSERT_FALSE(id.ok()) << bad;
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(ViolatedFields(id.status()), std::vector<std::string>{"membership.council"})
        << bad;
    EXPECT_NE(id.status().message().find("membership.council"), absl::string_view::npos);
  }
}

TEST(ParseNameTest, ErrorQuotesOnlyAPrefixOfALongName) {
  // A 32 KB name once came back whole in the error, past what a client accepts in trailers.
  const std::string long_id = std::string(32 * 1024, 'a');
  // Each bad name and the size of what its error quotes: the id, or the whole name.
  const std::vector<std::pair<std::string, size_t>> cases = {
      {"councils/" + long_id, 32768}, {"regions/" + long_id, 32776}, {long_id, 32768}};
  for (const auto& [bad, quoted_size] : cases) {
    absl::StatusOr<std::string> id = ParseName(bad, "councils", "name");
    ASSERT_FALSE(id.ok());
    EXPECT_EQ(ViolatedFields(id.status()), std::vector<std::string>{"name"});
    const std::string description =
        GetBadRequest(id.status()).field_violations(0).description();
    EXPECT_LT(description.size(), 200u) << description.size();
    EXPECT_LT(id.status().message().size(), 256u);
    // Still says what is wrong, and how long the value was.
    EXPECT_TRUE(absl::StrContains(description, "aaaa")) << description;
    EXPECT_TRUE(absl::StrContains(description, absl::StrCat("(", quoted_size, " bytes)")))
        << description;
  }
}

TEST(ParseNameTest, ShortNamesAreQuotedWhole) {
  absl::StatusOr<std::string> id = ParseName("regions/seoul", "councils", "name");
  EXPECT_EQ(GetBadRequest(id.status()).field_violations(0).description(),
            "must look like councils/{id}, got \"regions/seoul\"");
  id = ParseName("councils/Bad", "councils", "name");
  EXPECT_EQ(GetBadRequest(id.status()).field_violations(0).description(),
            "id \"Bad\" must match [a-z][a-z0-9-]{0,62} and not end in '-'");
}

TEST(ParseNameTest, OtherCollectionPrefixIsNotEnough) {
  // "council" must not match names of "councils": the separator is part of the prefix.
  EXPECT_FALSE(ParseName("councils/x", "council", "name").ok());
}

TEST(GenerateIdTest, ValidWithPrefix) {
  std::string id = GenerateId("council");
  EXPECT_TRUE(IsValidId(id)) << id;
  EXPECT_EQ(id.rfind("council-", 0), 0u) << id;
  EXPECT_GT(id.size(), std::string("council-").size());
}

TEST(GenerateIdTest, UniqueOverManyCalls) {
  absl::flat_hash_set<std::string> seen;
  constexpr int kCalls = 100000;
  for (int i = 0; i < kCalls; ++i) {
    std::string id = GenerateId("m");
    ASSERT_TRUE(IsValidId(id)) << id;
    ASSERT_TRUE(seen.insert(id).second) << "duplicate " << id;
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kCalls));
}

TEST(NormalizeSearchTextTest, RemovesSpaceAndLowercasesAscii) {
  EXPECT_EQ(NormalizeSearchText("  Smart Green\tMobility\n"), "smartgreenmobility");
  EXPECT_EQ(NormalizeSearchText("ABC-123"), "abc-123");
  EXPECT_EQ(NormalizeSearchText(""), "");
}

TEST(NormalizeSearchTextTest, KoreanUnchanged) {
  EXPECT_EQ(NormalizeSearchText("미래 모빌리티"), "미래모빌리티");
  EXPECT_EQ(NormalizeSearchText("미래모빌리티"), "미래모빌리티");
  EXPECT_EQ(NormalizeSearchText("서울 AI 허브"), "서울ai허브");
}

TEST(NormalizeSearchTextTest, QueryWithSpacesFindsIndexedText) {
  // Both sides are normalized, so a spaced query is a substring of the unspaced name.
  std::string indexed = NormalizeSearchText("스마트 그린 미래모빌리티 협의회");
  EXPECT_NE(indexed.find(NormalizeSearchText("미래 모빌리티")), std::string::npos);
}

TEST(PageSizeTest, DefaultsAndCaps) {
  EXPECT_EQ(*PageSize(0), 50);
  EXPECT_EQ(*PageSize(1), 1);
  EXPECT_EQ(*PageSize(20), 20);
  EXPECT_EQ(*PageSize(1000), 1000);
  EXPECT_EQ(*PageSize(1001), 1000);
  EXPECT_EQ(*PageSize(5000), 1000);
}

TEST(PageSizeTest, NegativeIsInvalid) {
  absl::StatusOr<int> size = PageSize(-1);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ViolatedFields(size.status()), std::vector<std::string>{"page_size"});
}

TEST(FingerprintTest, StableAndDistinguishing) {
  EXPECT_EQ(Fingerprint("region=seoul"), Fingerprint("region=seoul"));
  EXPECT_NE(Fingerprint("region=seoul"), Fingerprint("region=busan"));
  EXPECT_NE(Fingerprint(""), Fingerprint(" "));
}

}  // namespace
}  // namespace sanhak
