#include "tools/sanhakctl/config.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace sanhak::ctl {
namespace {

std::string RunConfig(const std::vector<std::string>& args, const Context& settings,
                const std::string& path, absl::StatusCode expected = absl::StatusCode::kOk) {
  std::ostringstream out;
  absl::Status status = ConfigCommand(args, settings, path, out);
  EXPECT_EQ(status.code(), expected) << status;
  return out.str();
}

TEST(SanhakctlConfigTest, SetUseAndDeleteContextsAsKubectlDoes) {
  sanhak::testing::TempDir dir;
  const std::string path = dir.path() + "/nested/config.json";
  Context local;
  local.registry = "127.0.0.1:50051";
  local.ca = "tls/ca.pem";
  local.cert = "tls/admin.pem";
  local.key = "tls/admin-key.pem";
  EXPECT_EQ(RunConfig({"set-context", "local"}, local, path), "context \"local\" set\n");
  Context prod;
  prod.registry = "registry.sanhak.example:443";
  prod.token_file = "/home/u/.sanhak-token";
  RunConfig({"set-context", "prod"}, prod, path);
  // The first context set becomes current; a second does not steal it.
  EXPECT_EQ(RunConfig({"current-context"}, {}, path), "local\n");
  RunConfig({"use-context", "prod"}, {}, path);
  EXPECT_EQ(RunConfig({"current-context"}, {}, path), "prod\n");

  absl::StatusOr<Config> config = LoadConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->contexts.size(), 2u);
  const Context* found = config->Find("local");
  ASSERT_NE(found, nullptr);
  // Relative paths resolve against the config file's folder.
  Context resolved = ResolvePaths(*found, path);
  EXPECT_EQ(resolved.ca, dir.path() + "/nested/tls/ca.pem");
  EXPECT_EQ(resolved.registry, "127.0.0.1:50051");
  EXPECT_EQ(ResolvePaths(*config->Find("prod"), path).token_file, "/home/u/.sanhak-token");

  // Changing one setting keeps the others.
  Context only_events;
  only_events.events = "127.0.0.1:60052";
  RunConfig({"set-context", "local"}, only_events, path);
  config = LoadConfig(path);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->Find("local")->registry, "127.0.0.1:50051");
  EXPECT_EQ(config->Find("local")->events, "127.0.0.1:60052");

  const std::string table = RunConfig({"get-contexts"}, {}, path);
  EXPECT_NE(table.find("\tlocal\t127.0.0.1:50051\t127.0.0.1:60052\t\tcertificate"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("*\tprod\t"), std::string::npos) << table;

  RunConfig({"delete-context", "prod"}, {}, path);
  RunConfig({"current-context"}, {}, path, absl::StatusCode::kNotFound);
  RunConfig({"use-context", "prod"}, {}, path, absl::StatusCode::kNotFound);

  // It names key and token files: only its owner may read it.
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST(SanhakctlConfigTest, AMissingFileIsAnEmptyConfigAndABadOneIsNamed) {
  sanhak::testing::TempDir dir;
  absl::StatusOr<Config> none = LoadConfig(dir.path() + "/absent.json");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->contexts.empty());

  const std::pair<const char*, const char*> bad[] = {
      {"{not json", "not JSON"},
      {R"({"contexts": [{"name": "a", "registy": "x"}]})", "unknown context field \"registy\""},
      {R"({"current_context": "b", "contexts": [{"name": "a"}]})", "names no context"},
      {R"({"contexts": [{"name": "a"}, {"name": "a"}]})", "appears twice"},
      {R"({"contexts": [{"registry": "x"}]})", "has no name"},
  };
  for (const auto& [text, why] : bad) {
    const std::string path = dir.path() + "/bad.json";
    std::ofstream(path) << text;
    absl::StatusOr<Config> config = LoadConfig(path);
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find(why), absl::string_view::npos)
        << config.status() << " for " << text;
    EXPECT_NE(config.status().message().find(path), absl::string_view::npos);
  }
  RunConfig({"frobnicate"}, {}, dir.path() + "/c.json", absl::StatusCode::kInvalidArgument);
  RunConfig({"use-context"}, {}, dir.path() + "/c.json", absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sanhak::ctl
