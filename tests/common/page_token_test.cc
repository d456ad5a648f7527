// Page tokens as a caller sees them: they round-trip, and nothing else is honoured — not
// a token forged from its readable parts, altered, signed by another key, issued for
// other filters, or too long. The key file keeps tokens valid across a restart.
#include "common/page_token.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace sanhak {
namespace {

using ::sanhak::testing::TempDir;

std::vector<std::string> ViolatedFields(const absl::Status& status) {
  const google::rpc::BadRequest bad_request = GetBadRequest(status);
  std::vector<std::string> fields;
  for (const auto& v : bad_request.field_violations()) fields.push_back(v.field());
  return fields;
}

void ExpectRefused(const absl::StatusOr<std::string>& after, const std::string& what) {
  ASSERT_FALSE(after.ok()) << what << " was honoured, after " << *after;
  EXPECT_EQ(after.status().code(), absl::StatusCode::kInvalidArgument) << what;
  EXPECT_EQ(ViolatedFields(after.status()), std::vector<std::string>{"page_token"}) << what;
}

class PageTokenTest : public ::testing::Test {
 protected:
  void SetUp() override { SetPageTokenKey(std::string(32, 'k')); }
};

TEST_F(PageTokenTest, RoundTrip) {
  for (const char* after : {"councils/a", "councils/smart-green-mobility", "x/y\nz", ""}) {
    std::string token = EncodePageToken(after, "filters");
    EXPECT_FALSE(token.empty());
    absl::StatusOr<std::string> back = DecodePageToken(token, "filters");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, after);
  }
}

TEST_F(PageTokenTest, TokenIsUrlSafe) {
  std::string token = EncodePageToken("councils/a", "f");
  EXPECT_EQ(token.find_first_of("+/=\n "), std::string::npos) << token;
  EXPECT_LE(EncodePageToken(std::string(200, 'n'), "f").size(), kMaxPageTokenChars);
}

TEST_F(PageTokenTest, EmptyTokenIsFirstPage) {
  absl::StatusOr<std::string> after = DecodePageToken("", "anything");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, "");
}

TEST_F(PageTokenTest, RefusedForOtherFilters) {
  std::string token = EncodePageToken("councils/a", "region=seoul");
  ExpectRefused(DecodePageToken(token, "region=busan"), "a token of other filters");
}

// The forgery: the old format was base64("p1\n" + FNV fingerprint + "\n" + name),
// so anyone could start a listing after any name ("councils/m").
TEST_F(PageTokenTest, ForgedFromReadablePartsIsRefused) {
  for (const std::string& raw :
       {absl::StrCat("p1\n", "0123456789abcdef", "\n", "councils/m"),
        absl::StrCat("2", std::string(16, '\0'), "councils/m"),
        absl::StrCat("2", std::string(16, 'A'), "councils/m"), std::string("2")}) {
    ExpectRefused(DecodePageToken(absl::WebSafeBase64Escape(raw), "filters"),
                  absl::CHexEscape(raw));
  }
}

TEST_F(PageTokenTest, AlteredTokenIsRefused) {
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(EncodePageToken("councils/a", "f"), &raw));
  // Every single-byte change: the version, any MAC byte, or the name.
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string altered = raw;
    altered[i] ^= 0x01;
    ExpectRefused(DecodePageToken(absl::WebSafeBase64Escape(altered), "f"),
                  absl::StrCat("byte ", i, " altered"));
  }
  // The MAC of one name carried over to another.
  std::string moved = raw.substr(0, raw.size() - 1) + "z";
  ExpectRefused(DecodePageToken(absl::WebSafeBase64Escape(moved), "f"), "name changed");
}

TEST_F(PageTokenTest, AnotherKeysTokenIsRefused) {
  std::string token = EncodePageToken("councils/a", "f");
  SetPageTokenKey(std::string(32, 'o'));
  ExpectRefused(DecodePageToken(token, "f"), "a token of another key");
}

TEST_F(PageTokenTest, GarbageAndHugeTokensAreRefused) {
  for (const std::string& garbage :
       {std::string("!!!not a token!!!"), std::string("abcd"), std::string("councils/a"),
        std::string("%%"), std::string(kMaxPageTokenChars + 1, 'A'),
        std::string(1 << 20, 'A')}) {
    ExpectRefused(DecodePageToken(garbage, "f"), garbage.substr(0, 20));
  }
}

TEST(PageTokenKeyFileTest, CreatedOnceThenKeptSoTokensSurviveARestart) {
  TempDir dir;
  const std::string path = dir.File("registry.db.token-key");
  ASSERT_TRUE(InstallPageTokenKeyFile(path).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, static_cast<off_t>(kPageTokenKeyBytes));
  std::string token = EncodePageToken("councils/a", "f");

  // Another process's key in between, then a "restart" that reads the same file.
  SetPageTokenKey(std::string(32, 'x'));
  ExpectRefused(DecodePageToken(token, "f"), "before the restart");
  ASSERT_TRUE(InstallPageTokenKeyFile(path).ok());
  absl::StatusOr<std::string> after = DecodePageToken(token, "f");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, "councils/a");
}

// Replicas sharing a key file may start together on a volume where it does not exist yet:
// each must read one whole key, the same one, never a file another is still writing.
TEST(PageTokenKeyFileTest, ProcessesCreatingItAtOnceAllReadTheSameWholeKey) {
  for (int round = 0; round < 50; ++round) {
    TempDir dir;
    const std::string path = dir.File("shared.key");
    // The children wait at a gate (a pipe's read end) the parent opens for all at once.
    int gate[2];
    ASSERT_EQ(pipe(gate), 0);
    std::vector<pid_t> children;
    for (int i = 0; i < 6; ++i) {
      pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        close(gate[1]);
        char c;
        while (read(gate[0], &c, 1) > 0) {
        }
        absl::Status s = InstallPageTokenKeyFile(path);
        _exit(s.ok() ? 0 : 1);
      }
      children.push_back(pid);
    }
    close(gate[0]);
    close(gate[1]);
    for (pid_t pid : children) {
      int status = 0;
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "round " << round;
    }
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, static_cast<off_t>(kPageTokenKeyBytes));
    // No temporary file is left beside it.
    std::vector<std::string> entries;
    if (DIR* d = opendir(dir.path().c_str()); d != nullptr) {
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') entries.push_back(e->d_name);
      }
      closedir(d);
    }
    EXPECT_EQ(entries, std::vector<std::string>{"shared.key"});
  }
}

TEST(PageTokenKeyFileTest, ShortOrUnreadableKeyIsAnError) {
  TempDir dir;
  const std::string short_key = dir.File("short");
  std::ofstream(short_key) << "too short";
  EXPECT_EQ(InstallPageTokenKeyFile(short_key).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(InstallPageTokenKeyFile(dir.File("no-such-dir/key")).ok());
}

}  // namespace
}  // namespace sanhak
