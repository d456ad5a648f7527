// The real sanhakctl binary (SANHAKCTL_PATH) against real servers: registry, events and
// analytics in process on loopback ports, a real redis-server, SQLite in a temp dir, the
// registry and events seeded from data/. Each case runs the binary as a child process
// and checks its stdout, stderr and exit code.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "sanhak/analytics/v1/analytics.pb.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "sanhak/registry/v1/registry_data.pb.h"
#include "services/analytics/analytics_server.h"
#include "services/events/events_server.h"
#include "services/registry/registry_server.h"
#include "tests/support/await.h"
#include "tests/support/child_process.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"
#include "tests/support/test_support.h"
#include "google/protobuf/struct.pb.h"
#include "tools/sanhakctl/client.h"
#include "tools/sanhakctl/csv_table.h"
#include "tools/sanhakctl/display.h"

namespace sanhak::ctl {
namespace {

using ::sanhak::testing::TempDir;
using ::sanhak::testing::WaitUntil;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// A sanhakctl child process with stdout and stderr going to files.
class Process {
 public:
  Process(const std::vector<std::string>& args, const std::string& out, const std::string& err,
          const std::string& in_path = "/dev/null")
      : out_(out), err_(err) {
    // Hermetic: no context from the user's config file (scripts/run.sh writes one) and no
    // credentials from the environment; these servers are plaintext.
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "SANHAKCTL_CONFIG=" + out + ".no-config.json",
                                     "SANHAK_CA=",
                                     "SANHAK_CERT=",
                                     "SANHAK_KEY=",
                                     "SANHAK_TOKEN_FILE=",
                                     "COLUMNS=",
                                     SANHAKCTL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    sanhak::testing::ChildStreams streams;
    streams.stdin_path = in_path;
    streams.stdout_path = out;
    streams.stderr_path = err;
    streams.truncate = true;
    absl::Status started = child_.Start(argv, streams);
    EXPECT_TRUE(started.ok()) << started;
  }
  // The exit code, or -1 when it has not exited within `limit` (it is killed with this
  // object).
  int Wait(absl::Duration limit = absl::Seconds(60)) { return child_.WaitExit(limit); }
  std::string out() const { return ReadAll(out_); }
  std::string err() const { return ReadAll(err_); }

 private:
  std::string out_, err_;
  sanhak::testing::ChildProcess child_;
};

struct Result {
  int code;
  std::string out;
  std::string err;
};

// How often `what` occurs in `text`.
int CountOf(absl::string_view text, absl::string_view what) {
  int n = 0;
  for (size_t at = text.find(what); at != absl::string_view::npos;
       at = text.find(what, at + what.size())) {
    ++n;
  }
  return n;
}

class SanhakctlTest : public ::testing::Test {
 protected:
  static constexpr char kForum[] = "activities/development-forum-2025";
  static constexpr char kCouncil[] = "councils/special-purpose-ships";

  void SetUp() override {
    ASSERT_TRUE(redis_.Start()) << redis_.Log();
    registry_ = StartRegistry(dir_.File("registry.db"),
                              sanhak::testing::SourceDir() + "/data/registry.textproto",
                              redis_.address());
    ASSERT_NE(registry_, nullptr);
    events_ = StartEvents(dir_.File("events.db"), registry_->address(),
                          sanhak::testing::SourceDir() + "/data/events.textproto",
                          redis_.address());
    ASSERT_NE(events_, nullptr);
    absl::StatusOr<sanhak::testing::ReservedPort> port = sanhak::testing::ReservedPort::Pick();
    ASSERT_TRUE(port.ok()) << port.status();
    analytics_port_ = port->port();
    analytics_port_held_ = *std::move(port);
    StartAnalytics();
    events_stub_ = events::v1::EventsService::NewStub(
        sanhak::testing::Connect(events_->address()));
  }

  void TearDown() override {
    if (analytics_ != nullptr) analytics_->Shutdown();
    if (events_ != nullptr) events_->Shutdown();
    if (registry_ != nullptr) registry_->Shutdown();
  }

  static std::unique_ptr<registry::RegistryServer> StartRegistry(const std::string& db,
                                                                 const std::string& seed,
                                                                 const std::string& redis) {
    registry::RegistryConfig rc;
    rc.server.listen_address = "127.0.0.1:0";
    rc.server.log_calls = false;
    rc.server.drain_deadline = absl::Seconds(2);
    rc.database_path = db;
    rc.import_path = seed;
    rc.redis_address = redis;
    auto registry = registry::RegistryServer::Start(rc);
    EXPECT_TRUE(registry.ok()) << registry.status();
    return registry.ok() ? *std::move(registry) : nullptr;
  }

  static std::unique_ptr<events::EventsServer> StartEvents(const std::string& db,
                                                           const std::string& registry,
                                                           const std::string& seed,
                                                           const std::string& redis) {
    events::EventsConfig ec;
    ec.server.listen_address = "127.0.0.1:0";
    ec.server.log_calls = false;
    ec.server.drain_deadline = absl::Seconds(2);
    ec.database_path = db;
    ec.registry_address = registry;
    ec.import_path = seed;
    ec.redis_address = redis;
    auto events = events::EventsServer::Start(ec);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() ? *std::move(events) : nullptr;
  }

  // (Re)starts analytics on its fixed port, so a client keeps its target across restarts.
  void StartAnalytics() {
    analytics::AnalyticsConfig config;
    config.server.listen_address = absl::StrCat("127.0.0.1:", analytics_port_);
    config.server.log_calls = false;
    config.server.drain_deadline = absl::Seconds(1);
    config.registry_address = registry_->address();
    config.events_address = events_->address();
    config.engine.redis_address = redis_.address();
    config.engine.replica_id = "replica-ctl";
    auto server = analytics::AnalyticsServer::Start(config);
    // The port is reserved (tests/support/ports.h), yet a process outside the reservations
    // may hold it a moment after a restart: wait for it, bounded, rather than move (the
    // clients know this port).
    for (int i = 0; !server.ok() && i < 50; ++i) {
      absl::SleepFor(absl::Milliseconds(100));
      server = analytics::AnalyticsServer::Start(config);
    }
    ASSERT_TRUE(server.ok()) << server.status();
    analytics_ = *std::move(server);
    ASSERT_TRUE(WaitUntil([&] { return analytics_->analytics().stats().redis_reachable; }))
        << "analytics did not load its state from Redis";
  }

  std::vector<std::string> TargetFlags(const std::string& registry, const std::string& events) {
    return {"--registry_target=" + registry, "--events_target=" + events,
            absl::StrCat("--analytics_target=127.0.0.1:", analytics_port_), "--timeout=10s"};
  }

  // Runs sanhakctl against the fixture's servers (or `registry`/`events` when given).
  Result Ctl(std::vector<std::string> args, const std::string& registry = "",
             const std::string& events = "") {
    for (const auto& f : TargetFlags(registry.empty() ? registry_->address() : registry,
                                     events.empty() ? events_->address() : events)) {
      args.push_back(f);
    }
    const std::string n = absl::StrCat(runs_++);
    Process p(args, dir_.File("out" + n), dir_.File("err" + n));
    const int code = p.Wait();
    return {code, p.out(), p.err()};
  }

  // Runs any program (e.g. a shell trying a completion script).
  Result RunCommand(const std::vector<std::string>& argv) {
    const std::string n = absl::StrCat(runs_++);
    sanhak::testing::ProgramRun run =
        sanhak::testing::RunToEnd(argv, dir_.File("out" + n), dir_.File("err" + n));
    EXPECT_NE(run.code, -1) << run.err;
    return {run.code, run.out, run.err};
  }

  // Runs sanhakctl with exactly `args` (no target flags added), stdin from `in`.
  Result CtlBare(const std::vector<std::string>& args, const std::string& in = "/dev/null") {
    const std::string n = absl::StrCat(runs_++);
    Process p(args, dir_.File("out" + n), dir_.File("err" + n), in);
    const int code = p.Wait();
    return {code, p.out(), p.err()};
  }

  std::unique_ptr<Process> Spawn(std::vector<std::string> args) {
    for (const auto& f : TargetFlags(registry_->address(), events_->address())) args.push_back(f);
    const std::string n = absl::StrCat(runs_++);
    return std::make_unique<Process>(args, dir_.File("out" + n), dir_.File("err" + n));
  }

  void CreateActivity(const std::string& id) {
    events::v1::CreateActivityRequest request;
    request.set_activity_id(id);
    request.mutable_activity()->set_kind(events::v1::SEMINAR);
    request.mutable_activity()->set_title("세미나 " + id);
    request.mutable_activity()->add_councils(kCouncil);
    events::v1::Activity out;
    grpc::Status status =
        events_stub_->CreateActivity(sanhak::testing::Context().get(), request, &out);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  int64_t ActivityCount() {
    events::v1::ListActivitiesRequest request;
    request.set_page_size(1);
    events::v1::ListActivitiesResponse response;
    EXPECT_TRUE(
        events_stub_->ListActivities(sanhak::testing::Context().get(), request, &response).ok());
    return response.total_size();
  }

  TempDir dir_;
  sanhak::testing::RedisServer redis_;
  std::unique_ptr<registry::RegistryServer> registry_;
  std::unique_ptr<events::EventsServer> events_;
  std::unique_ptr<analytics::AnalyticsServer> analytics_;
  std::unique_ptr<events::v1::EventsService::Stub> events_stub_;
  int analytics_port_ = 0;
  sanhak::testing::ReservedPort analytics_port_held_;
  int runs_ = 0;
};

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST_F(SanhakctlTest, ListCouncilsShowsEveryCouncilWithKoreanAligned) {
  Result r = Ctl({"list", "councils"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 26u) << r.out;  // header + 25 councils
  const auto column = [](const std::string& line, const std::string& needle) {
    const size_t at = line.find(needle);
    return at == std::string::npos ? -1 : DisplayWidth(line.substr(0, at));
  };
  const int field_column = column(lines[0], "FIELD");
  ASSERT_GT(field_column, 0);
  bool korean = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(column(lines[i], " fields/") + 1, field_column) << lines[i];
    korean |= DisplayWidth(lines[i]) < static_cast<int>(lines[i].size());
  }
  EXPECT_TRUE(korean) << "no Korean display names in\n" << r.out;
}

TEST_F(SanhakctlTest, ListFiltersAndLimit) {
  Result r = Ctl({"list", "councils", "--query=모빌리티", "--output=json"});
  ASSERT_EQ(r.code, 0) << r.err;
  registry::v1::ListCouncilsResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &response).ok()) << r.out;
  EXPECT_GT(response.councils_size(), 0);
  EXPECT_LT(response.councils_size(), 25);
  Result limited = Ctl({"list", "complexes", "--limit=3"});
  ASSERT_EQ(limited.code, 0) << limited.err;
  EXPECT_EQ(Lines(limited.out).size(), 4u) << limited.out;
  Result bad = Ctl({"list", "councils", "--state=REGISTERED"});
  EXPECT_EQ(bad.code, 2) << bad.err;
}

TEST_F(SanhakctlTest, GetUnknownIsNotFound) {
  Result r = Ctl({"get", "council", "no-such-council"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "NOT_FOUND")) << r.err;
}

TEST_F(SanhakctlTest, UsageErrorsAreBadInput) {
  EXPECT_EQ(Ctl({"frobnicate"}).code, 2);
  EXPECT_EQ(Ctl({"get", "council"}).code, 2);
  EXPECT_EQ(Ctl({"get", "planet", "x"}).code, 2);
  EXPECT_EQ(Ctl({"list", "councils", "--no_such_flag"}).code, 2);
  EXPECT_EQ(Ctl({"list", "councils", "--timeout=soon"}).code, 2);
  Result help = Ctl({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(absl::StrContains(help.out, "Exit codes")) << help.out;
}

// What people type: display names in Korean for names, as arguments and in filters.
TEST_F(SanhakctlTest, DisplayNamesFindTheResourceOrSayWhatTheyCouldBe) {
  Result card = Ctl({"scorecard", "특수목적선"});
  EXPECT_EQ(card.code, 0) << card.err;
  EXPECT_TRUE(absl::StrContains(card.out, "councils/special-purpose-ships")) << card.out;
  EXPECT_FALSE(absl::StrContains(card.err, "[a-z]")) << "no pattern for a user to decode";
  Result busan = Ctl({"list", "councils", "--region=부산"});
  EXPECT_EQ(busan.code, 0) << busan.err;
  EXPECT_TRUE(absl::StrContains(busan.out, "councils/eco-friendly-shipbuilding-marine-equipment"))
      << busan.out;
  EXPECT_TRUE(absl::StrContains(busan.out, "councils/gdx-small-medium-ships")) << busan.out;
  EXPECT_FALSE(absl::StrContains(busan.out, "councils/display")) << busan.out;
  Result none = Ctl({"scorecard", "없는협의체"});
  EXPECT_EQ(none.code, 3) << none.out << none.err;
  EXPECT_TRUE(absl::StrContains(none.err, "no council is named or called \"없는협의체\""))
      << none.err;
  Result several = Ctl({"list", "councils", "--region=경"});
  EXPECT_EQ(several.code, 2) << several.out << several.err;
  EXPECT_TRUE(absl::StrContains(several.err, "--region: \"경\" could be any of")) << several.err;
  EXPECT_TRUE(absl::StrContains(several.err, "regions/gyeongnam")) << several.err;
}

TEST_F(SanhakctlTest, MembershipsListByTheirCouncilAsHelpSays) {
  Result r = Ctl({"list", "membership", "--council=특수목적선"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(
      r.out, "councils/special-purpose-ships/memberships/special-purpose-ship-association"))
      << r.out;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "NAME")) continue;
    EXPECT_TRUE(absl::StartsWith(line, "councils/special-purpose-ships/")) << line;
  }
}

TEST_F(SanhakctlTest, NetworkTopBoundsEveryList) {
  Result r = Ctl({"network", "--top=2"});
  ASSERT_EQ(r.code, 0) << r.err;
  // Three tables, each a header and at most two rows, separated by blank lines.
  std::vector<std::string> tables = absl::StrSplit(r.out, "\n\n", absl::SkipEmpty());
  ASSERT_EQ(tables.size(), 3u) << r.out;
  for (const std::string& table : tables) {
    std::vector<absl::string_view> lines = absl::StrSplit(table, '\n', absl::SkipEmpty());
    EXPECT_EQ(lines.size(), 3u) << table;
  }
  // The region pair joined by the most councils (3) comes first.
  std::vector<std::string> links = absl::StrSplit(tables[0], '\n', absl::SkipEmpty());
  EXPECT_TRUE(absl::StartsWith(links[1], "regions/gangwon ")) << tables[0];
  EXPECT_TRUE(absl::StrContains(links[1], " regions/gyeonggi ")) << tables[0];
  EXPECT_TRUE(absl::StrContains(links[1], " 3  ")) << tables[0];
}

TEST_F(SanhakctlTest, UpdateRefusesAJsonNamingAnotherResource) {
  Result before = Ctl({"get", "council", "display", "--output=json"});
  ASSERT_EQ(before.code, 0) << before.err;
  Result r = Ctl({"update", "council", "display",
                  R"(--json={"name":"councils/special-purpose-ships","description":"바뀜"})"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "the JSON's name is \"councils/special-purpose-ships\""))
      << r.err;
  EXPECT_EQ(Ctl({"get", "council", "display", "--output=json"}).out, before.out)
      << "nothing was written";
}

TEST_F(SanhakctlTest, DryRunChecksAWriteOnTheServerAndWritesNothing) {
  const std::string seminar =
      R"(--json={"kind":"SEMINAR","title":"점검용 세미나","councils":["councils/special-purpose-ships"]})";
  const std::string listed = Ctl({"list", "activities", "--output=json"}).out;
  for (const std::string& flag : {std::string("--dry-run"), std::string("--dry-run=server"),
                                  std::string("--dry_run")}) {
    Result r = Ctl({"create", "activity", seminar, flag});
    EXPECT_EQ(r.code, 0) << flag << ": " << r.err;
    EXPECT_TRUE(absl::StrContains(r.out, "(dry run: nothing written)")) << r.out;
  }
  // Bare ids inside the JSON, as arguments take them: the council's collection is added.
  Result bare = Ctl({"create", "activity",
                     R"(--json={"kind":"SEMINAR","title":"점검용","councils":["special-purpose-ships"]})",
                     "--dry-run", "-o", "json"});
  EXPECT_EQ(bare.code, 0) << bare.err;
  EXPECT_TRUE(absl::StrContains(bare.out, R"("councils":["councils/special-purpose-ships"])"))
      << bare.out;
  // The server's checks still run: a bad council is refused.
  Result bad = Ctl({"create", "activity",
                    R"(--json={"kind":"SEMINAR","title":"x","councils":["councils/no-such"]})",
                    "--dry-run"});
  EXPECT_NE(bad.code, 0) << bad.out;
  EXPECT_EQ(Ctl({"list", "activities", "--output=json"}).out, listed) << "nothing created";
  Result del = Ctl({"delete", "organization", "special-purpose-ship-association", "--dry-run"});
  EXPECT_EQ(del.code, 2) << del.out << del.err;
  EXPECT_TRUE(absl::StrContains(del.err, "no server-side dry run")) << del.err;
  Result help = Ctl({"--help"});
  EXPECT_TRUE(absl::StrContains(help.out, "--request_id")) << help.out;
  EXPECT_TRUE(absl::StrContains(help.out, "--dry-run")) << help.out;
  // A request id makes a retried create create once.
  Result first = Ctl({"create", "activity", seminar, "--request-id=retry-1"});
  Result again = Ctl({"create", "activity", seminar, "--request-id=retry-1"});
  ASSERT_EQ(first.code, 0) << first.err;
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(first.out.substr(0, first.out.find('\n')), again.out.substr(0, again.out.find('\n')));
}

TEST_F(SanhakctlTest, HealthShowsEachServiceAndFailsUnlessAllServe) {
  // Analytics is NOT_SERVING until it has loaded the aggregates.
  Result up;
  ASSERT_TRUE(WaitUntil([&] {
    up = Ctl({"health"});
    return up.code == 0;
  })) << up.out << up.err;
  for (const char* service : {"registry", "events", "analytics"}) {
    EXPECT_TRUE(absl::StrContains(up.out, service)) << up.out;
  }
  EXPECT_EQ(CountOf(up.out, "SERVING"), 3) << up.out;
  Result quiet = Ctl({"health", "--no-headers"});
  EXPECT_FALSE(absl::StrContains(quiet.out, "SERVICE")) << quiet.out;
  EXPECT_EQ(CountOf(quiet.out, "\n"), 3) << quiet.out;

  analytics_->Shutdown();
  analytics_.reset();
  Result down = Ctl({"health", "--timeout=2s"});
  EXPECT_EQ(down.code, 5) << "unavailable: " << down.out << down.err;
  EXPECT_TRUE(absl::StrContains(down.out, "UNREACHABLE")) << down.out;
  EXPECT_EQ(CountOf(down.out, " SERVING"), 2) << down.out;
  Result json = Ctl({"health", "--output=json", "--timeout=2s"});
  EXPECT_TRUE(absl::StrContains(json.out, R"("service":"registry")")) << json.out;
  StartAnalytics();
}

TEST_F(SanhakctlTest, HelpForOneCommandAndACompletionScriptBashLoads) {
  Result help = Ctl({"help", "list"});
  EXPECT_EQ(help.code, 0) << help.err;
  EXPECT_TRUE(absl::StrContains(help.out, "list KIND [--FILTER=V]")) << help.out;
  EXPECT_FALSE(absl::StrContains(help.out, "delete KIND")) << help.out;
  EXPECT_EQ(Ctl({"help", "frobnicate"}).code, 2);

  Result script = CtlBare({"completion", "bash"});
  ASSERT_EQ(script.code, 0) << script.err;
  const std::string path = dir_.File("completion.bash");
  {
    std::ofstream f(path);
    f << script.out;
  }
  // What a shell does on TAB: the completions offered for a partial word.
  const std::string check = dir_.File("check.sh");
  {
    std::ofstream f(check);
    f << "source " << path << "\n"
      << "complete -p sanhakctl\n"
      << "COMP_WORDS=(sanhakctl li); COMP_CWORD=1; _sanhakctl; echo \"1:${COMPREPLY[*]}\"\n"
      << "COMP_WORDS=(sanhakctl get cou); COMP_CWORD=2; _sanhakctl; echo \"2:${COMPREPLY[*]}\"\n"
      << "COMP_WORDS=(sanhakctl list --no-h); COMP_CWORD=2; _sanhakctl; echo \"3:${COMPREPLY[*]}\"\n";
  }
  Result bash = RunCommand({"/bin/bash", check});
  EXPECT_EQ(bash.code, 0) << bash.err;
  EXPECT_TRUE(absl::StrContains(bash.out, "complete -F _sanhakctl sanhakctl")) << bash.out;
  EXPECT_TRUE(absl::StrContains(bash.out, "1:list\n")) << bash.out;
  EXPECT_TRUE(absl::StrContains(bash.out, "2:council\n")) << bash.out;
  EXPECT_TRUE(absl::StrContains(bash.out, "3:--no-headers\n")) << bash.out;
  EXPECT_EQ(CtlBare({"completion", "fish"}).code, 2);
  EXPECT_TRUE(absl::StartsWith(CtlBare({"completion", "zsh"}).out, "#compdef sanhakctl"));
}

// Money reads one way in every table (382억원), as the summary shows it; JSON keeps won.
TEST_F(SanhakctlTest, MoneyReadsTheSameInEveryTable) {
  // An outcome with a budget: the name before the first totalBudgetKrw in the JSON list.
  const std::string listed = Ctl({"list", "outcomes", "--output=json"}).out;
  const size_t budget = listed.find("totalBudgetKrw");
  ASSERT_NE(budget, std::string::npos) << listed;
  const size_t name_at = listed.rfind("\"name\":\"outcomes/", budget);
  ASSERT_NE(name_at, std::string::npos);
  const size_t id_at = name_at + std::string("\"name\":\"outcomes/").size();
  const std::string id = listed.substr(id_at, listed.find('"', id_at) - id_at);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"list", "outcomes"},
        std::vector<std::string>{"get", "outcome", id}}) {
    Result r = Ctl(args);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(absl::StrContains(r.out, "억원")) << r.out;
    int run = 0, longest = 0;
    for (char c : r.out) {
      run = absl::ascii_isdigit(static_cast<unsigned char>(c)) ? run + 1 : 0;
      longest = std::max(longest, run);
    }
    EXPECT_LT(longest, 9) << "no raw won amounts: " << r.out;
  }
  Result json = Ctl({"list", "outcomes", "--output=json"});
  EXPECT_TRUE(absl::StrContains(json.out, "BudgetKrw\":\"")) << json.out;
}

// Tables fit the terminal ($COLUMNS, or the terminal's own width), as kubectl's do; a
// pipe gets whole lines.
TEST_F(SanhakctlTest, TablesFitTheTerminalsWidth) {
  auto run = [&](const std::string& columns) {
    std::vector<std::string> argv = {"/usr/bin/env", "SANHAKCTL_CONFIG=" + dir_.File("none.json"),
                                     "COLUMNS=" + columns, SANHAKCTL_PATH, "list", "councils"};
    for (const auto& f : TargetFlags(registry_->address(), events_->address())) argv.push_back(f);
    return RunCommand(argv);
  };
  auto widest = [](const std::string& out) {
    int w = 0;
    for (absl::string_view line : absl::StrSplit(out, '\n')) {
      w = std::max(w, DisplayWidth(line));
    }
    return w;
  };
  Result narrow = run("80");
  ASSERT_EQ(narrow.code, 0) << narrow.err;
  EXPECT_LE(widest(narrow.out), 80) << narrow.out;
  EXPECT_TRUE(absl::StrContains(narrow.out, "…")) << "cut to fit: " << narrow.out;
  EXPECT_TRUE(absl::StrContains(narrow.out, "councils/eco-friendly-shipbuilding-marine-equipment "))
      << "names are never cut: " << narrow.out;
  Result wide = run("200");
  ASSERT_EQ(wide.code, 0) << wide.err;
  EXPECT_LE(widest(wide.out), 200) << wide.out;
  EXPECT_GT(widest(wide.out), 80) << "the room is used: " << wide.out;
  Result piped = run("");
  EXPECT_GE(widest(piped.out), widest(wide.out)) << "a pipe gets whole lines";
}

// Times in the activity's own zone, named; a date-only activity as its days (the Bali
// week, dated by the day only, once showed as 01:00 in Seoul time).
TEST_F(SanhakctlTest, TimesShowInTheirZoneNamedAndDatesAsDates) {
  Result bali = Ctl({"get", "activity", "korea-asean-maritime-week-2025"});
  ASSERT_EQ(bali.code, 0) << bali.err;
  std::map<std::string, std::string> rows;
  for (absl::string_view line : absl::StrSplit(bali.out, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(line, absl::MaxSplits(' ', 1), absl::SkipEmpty());
    rows[kv.first] = std::string(absl::StripLeadingAsciiWhitespace(kv.second));
  }
  EXPECT_EQ(rows["start_time"], "2025-07-30") << bali.out;
  EXPECT_EQ(rows["end_time"], "2025-07-31") << "the last day, not the midnight after it";
  EXPECT_FALSE(absl::StrContains(bali.out, "01:00")) << bali.out;
  EXPECT_TRUE(absl::StrContains(bali.out, "Asia/Makassar")) << bali.out;
  for (absl::string_view line : absl::StrSplit(bali.out, '\n')) {
    if (absl::StartsWith(line, "create_time") || absl::StartsWith(line, "update_time")) {
      EXPECT_TRUE(absl::EndsWith(line, " KST")) << line;
    }
  }
  Result forum = Ctl({"agenda", "development-forum-2025"});
  ASSERT_EQ(forum.code, 0) << forum.err;
  EXPECT_TRUE(absl::StrContains(forum.out, "TIME (KST)")) << forum.out;
  EXPECT_TRUE(absl::StrContains(forum.out, " KST")) << "the forum's start, named: " << forum.out;
  // JSON keeps RFC 3339 in UTC, as protobuf's JSON mapping writes it.
  Result json = Ctl({"get", "activity", "korea-asean-maritime-week-2025", "--output=json"});
  EXPECT_TRUE(absl::StrContains(json.out, R"("startTime":"2025-07-29T16:00:00Z")")) << json.out;
}

std::string CompareJsonWithYaml(const TempDir& dir, const std::string& name,
                                const std::string& json_text, const std::string& yaml_text,
                                const std::function<Result(const std::vector<std::string>&)>& run);

// As kubectl version / --version: this build, and what it runs on; nothing dialled.
TEST_F(SanhakctlTest, VersionNamesTheBuildAndCallsNoService) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--version"}, std::vector<std::string>{"version"}}) {
    Result r = CtlBare(args);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(absl::StartsWith(r.out, "sanhakctl ")) << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "\ngRPC 1.")) << r.out;
  }
  Result help = Ctl({"--help"});
  EXPECT_TRUE(absl::StrContains(help.out, "--version")) << help.out;
  // kubectl version -o json|yaml: the client under clientVersion, YAML equal to JSON.
  Result json = CtlBare({"version", "-o", "json"});
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_TRUE(absl::StartsWith(json.out, R"({"clientVersion":{"program":"sanhakctl","version":")"))
      << json.out;
  EXPECT_TRUE(absl::StrContains(json.out, R"("grpc":"1.)")) << json.out;
  Result yaml = CtlBare({"version", "-oyaml"});
  EXPECT_EQ(yaml.code, 0) << yaml.err;
  EXPECT_EQ(CompareJsonWithYaml(dir_, "version", json.out, yaml.out,
                                [this](const std::vector<std::string>& argv) {
                                  return RunCommand(argv);
                                }),
            "equal\n");
  Result wide = CtlBare({"version", "-o", "wide"});
  EXPECT_EQ(wide.code, 2) << wide.out;
  EXPECT_TRUE(absl::StrContains(wide.err, "--output")) << wide.err;
}

TEST_F(SanhakctlTest, CreateWithBadFieldIsBadInputAndNamesTheField) {
  Result r = Ctl({"create", "council", "councils/bad-council",
                  R"(--json={"displayName":"잘못된 협의체","field":"fields/no-such-field",)"
                  R"("complexes":["complexes/no-such-complex"]})"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "INVALID_ARGUMENT")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "  council.")) << "no field violation shown:\n" << r.err;
  Result json = Ctl({"create", "council", "--json={not json"});
  EXPECT_EQ(json.code, 2) << json.err;
}

TEST_F(SanhakctlTest, CreateUpdateDeleteWithEtags) {
  Result created = Ctl({"create", "organization", "ctl-test-org",
                        R"(--json={"displayName":"시험기관","kind":"COMPANY"})", "--output=json"});
  ASSERT_EQ(created.code, 0) << created.err;
  registry::v1::Organization org;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(created.out, &org).ok()) << created.out;
  EXPECT_EQ(org.name(), "organizations/ctl-test-org");
  EXPECT_EQ(Ctl({"create", "organization", "ctl-test-org",
                 R"(--json={"displayName":"시험기관","kind":"COMPANY"})"})
                .code,
            4);

  Result updated = Ctl({"update", "organization", "ctl-test-org",
                        R"(--json={"description":"갱신"})", "--output=json"});
  ASSERT_EQ(updated.code, 0) << updated.err;
  registry::v1::Organization after;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(updated.out, &after).ok());
  EXPECT_EQ(after.description(), "갱신");
  EXPECT_EQ(after.display_name(), "시험기관");  // outside the mask: kept

  // The resource from stdin (-f -): read once, used for the mask and the update.
  const std::string json_path = dir_.File("update.json");
  WriteAll(json_path, R"({"description":"표준입력"})");
  std::vector<std::string> from_stdin = {"update", "organization", "ctl-test-org", "--file=-",
                                         "--output=json"};
  for (const auto& f : TargetFlags(registry_->address(), events_->address())) {
    from_stdin.push_back(f);
  }
  Result piped = CtlBare(from_stdin, json_path);
  ASSERT_EQ(piped.code, 0) << piped.err;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(piped.out, &after).ok());
  EXPECT_EQ(after.description(), "표준입력");

  // The etag read at create time is stale now.
  Result stale = Ctl({"update", "organization", "ctl-test-org",
                      R"(--json={"description":"늦은 갱신"})", "--etag=" + org.etag()});
  EXPECT_EQ(stale.code, 4) << stale.err;
  EXPECT_TRUE(absl::StrContains(stale.err, "ETAG_MISMATCH")) << stale.err;

  EXPECT_EQ(Ctl({"delete", "organization", "ctl-test-org"}).code, 0);
  // Soft delete: still readable, marked deleted, listed only with --show_deleted.
  Result deleted = Ctl({"get", "organization", "ctl-test-org", "--output=json"});
  EXPECT_EQ(deleted.code, 0) << deleted.err;
  EXPECT_TRUE(absl::StrContains(deleted.out, "deleteTime")) << deleted.out;
  EXPECT_FALSE(absl::StrContains(Ctl({"list", "organization"}).out, "ctl-test-org"));
  EXPECT_TRUE(absl::StrContains(Ctl({"list", "organization", "--show_deleted"}).out,
                                "ctl-test-org"));
  EXPECT_EQ(Ctl({"delete", "organization", "ctl-test-org"}).code, 3);
}

TEST_F(SanhakctlTest, UnavailableServicesExitFive) {
  // Reserved, so no other test's server listens there while this one runs.
  absl::StatusOr<sanhak::testing::ReservedPort> unused = sanhak::testing::ReservedPort::Pick();
  ASSERT_TRUE(unused.ok()) << unused.status();
  const std::string closed = unused->address();
  Result registry = Ctl({"list", "councils", "--timeout=3s"}, closed);
  EXPECT_EQ(registry.code, 5) << registry.err;
  EXPECT_TRUE(absl::StrContains(registry.err, "registry")) << registry.err;
  Result events = Ctl({"get", "activity", kForum, "--timeout=3s"}, "", closed);
  EXPECT_EQ(events.code, 5) << events.err;
  // --target names the command's service: the registry for a council.
  Result target = CtlBare({"get", "council", kCouncil, "--timeout=3s", "--target=" + closed});
  EXPECT_EQ(target.code, 5) << target.err;
  Result reached =
      CtlBare({"get", "council", kCouncil, "--timeout=3s", "--target=" + registry_->address()});
  EXPECT_EQ(reached.code, 0) << reached.err;
  // Per-service flags win over --target.
  Result both = Ctl({"get", "council", kCouncil, "--timeout=3s", "--target=" + closed});
  EXPECT_EQ(both.code, 0) << both.err;
}

TEST_F(SanhakctlTest, JsonOutputParsesBack) {
  Result r = Ctl({"get", "council", kCouncil, "--output=json"});
  ASSERT_EQ(r.code, 0) << r.err;
  registry::v1::Council council;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &council).ok()) << r.out;
  EXPECT_EQ(council.name(), kCouncil);
  EXPECT_FALSE(council.display_name().empty());
  Result table = Ctl({"get", "council", "special-purpose-ships"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_TRUE(absl::StrContains(table.out, council.display_name())) << table.out;
}

TEST_F(SanhakctlTest, AgendaListsTheForumTimetableInOrder) {
  Result r = Ctl({"agenda", "development-forum-2025"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  size_t header = 0;
  while (header < lines.size() && !absl::StartsWith(lines[header], "TIME")) ++header;
  ASSERT_LT(header, lines.size()) << r.out;
  std::vector<std::string> slots(lines.begin() + header + 1, lines.end());
  ASSERT_EQ(slots.size(), 12u) << r.out;
  for (size_t i = 1; i < slots.size(); ++i) {
    EXPECT_LE(slots[i - 1].substr(0, 5), slots[i].substr(0, 5)) << r.out;
  }
  Result json = Ctl({"agenda", kForum, "--output=json"});
  ASSERT_EQ(json.code, 0) << json.err;
  events::v1::Activity agenda;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &agenda).ok());
  ASSERT_EQ(agenda.timetable_size(), 12);
  for (int i = 1; i < agenda.timetable_size(); ++i) {
    EXPECT_LE(agenda.timetable(i - 1).end_time().seconds(),
              agenda.timetable(i).start_time().seconds());
  }
}

TEST_F(SanhakctlTest, ScorecardAndNetwork) {
  Result r = Ctl({"scorecard", "special-purpose-ships", "--output=json"});
  ASSERT_EQ(r.code, 0) << r.err;
  analytics::v1::CouncilScorecard card;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &card).ok()) << r.out;
  EXPECT_EQ(card.council(), kCouncil);
  Result table = Ctl({"scorecard", kCouncil});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_TRUE(absl::StrContains(table.out, card.display_name())) << table.out;
  EXPECT_EQ(Ctl({"scorecard", "no-such-council"}).code, 3);

  Result network = Ctl({"network", "--output=json", "--top=3"});
  ASSERT_EQ(network.code, 0) << network.err;
  analytics::v1::Network n;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(network.out, &n).ok());
  EXPECT_GT(n.links_size(), 0);
  EXPECT_LE(n.hub_complexes_size(), 3);
  Result network_table = Ctl({"network"});
  ASSERT_EQ(network_table.code, 0);
  EXPECT_TRUE(absl::StrContains(network_table.out, "HUB COMPLEX")) << network_table.out;
}

// A registry seed with the reference data only (fields, regions, figures): an empty
// suite that can still hold councils.
std::string ReferenceOnlySeed(const TempDir& dir) {
  registry::v1::RegistryData data;
  const std::string text = ReadAll(sanhak::testing::SourceDir() + "/data/registry.textproto");
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &data));
  data.clear_complexes();
  data.clear_organizations();
  data.clear_councils();
  data.clear_memberships();
  std::string out;
  google::protobuf::TextFormat::PrintToString(data, &out);
  const std::string path = dir.File("reference.textproto");
  WriteAll(path, out);
  return path;
}

TEST_F(SanhakctlTest, ExportThenImportIntoAnEmptySuiteReproducesTheData) {
  const std::string exported = dir_.File("all.jsonl");
  Result e = Ctl({"export", "--out=" + exported});
  ASSERT_EQ(e.code, 0) << e.err;
  const std::string original = ReadAll(exported);
  EXPECT_TRUE(absl::StrContains(original, "\"kind\":\"council\"")) << original.substr(0, 500);

  TempDir fresh_dir;
  auto registry = StartRegistry(fresh_dir.File("registry.db"), ReferenceOnlySeed(fresh_dir), "");
  ASSERT_NE(registry, nullptr);
  auto events = StartEvents(fresh_dir.File("events.db"), registry->address(), "", "");
  ASSERT_NE(events, nullptr);
  Result empty = Ctl({"list", "councils"}, registry->address(), events->address());
  ASSERT_EQ(Lines(empty.out).size(), 1u) << empty.out;

  Result first = Ctl({"import", exported}, registry->address(), events->address());
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_TRUE(absl::StrContains(first.out, " 0 updated")) << first.out;
  EXPECT_TRUE(absl::StrContains(first.err, "import: ")) << "no progress lines:\n" << first.err;

  const std::string again = fresh_dir.File("again.jsonl");
  Result e2 = Ctl({"export", "--out=" + again}, registry->address(), events->address());
  ASSERT_EQ(e2.code, 0) << e2.err;
  EXPECT_EQ(ReadAll(again), original);

  Result second = Ctl({"import", exported}, registry->address(), events->address());
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_TRUE(absl::StrContains(second.out, "imported: 0 created, 0 updated")) << second.out;

  // CSV carries the same data: importing it changes nothing either.
  const std::string csv = fresh_dir.File("csv");
  Result c = Ctl({"export", "--format=csv", "--out=" + csv}, registry->address(),
                 events->address());
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_TRUE(absl::StartsWith(ReadAll(csv + "/council.csv"), "\xEF\xBB\xBFname,"));
  Result third = Ctl({"import", csv}, registry->address(), events->address());
  ASSERT_EQ(third.code, 0) << third.err;
  EXPECT_TRUE(absl::StrContains(third.out, "imported: 0 created, 0 updated")) << third.out;

  events->Shutdown();
  registry->Shutdown();
}

TEST_F(SanhakctlTest, ImportUpdatesOnlyWhatDiffers) {
  const std::string path = dir_.File("one.jsonl");
  Result e = Ctl({"get", "council", kCouncil, "--output=json"});
  ASSERT_EQ(e.code, 0);
  registry::v1::Council council;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(e.out, &council).ok());
  council.set_description("가져오기로 바뀐 설명");
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(council, &json).ok());
  WriteAll(path, absl::StrCat("{\"kind\":\"council\",\"resource\":", json, "}\n"));
  Result first = Ctl({"import", path});
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_TRUE(absl::StrContains(first.out, "0 created, 1 updated, 0 unchanged")) << first.out;
  Result second = Ctl({"import", path});
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_TRUE(absl::StrContains(second.out, "0 created, 0 updated, 1 unchanged")) << second.out;
}

TEST_F(SanhakctlTest, BadRowReportsItsLineAndWritesNothingOfTheBatch) {
  const std::string path = dir_.File("bad.jsonl");
  WriteAll(path,
           "{\"kind\":\"organization\",\"resource\":{\"name\":\"organizations/import-new\","
           "\"displayName\":\"새 기관\",\"kind\":\"COMPANY\"}}\n"
           "\n"
           "{\"kind\":\"council\",\"resource\":{\"name\":\"councils/import-bad\","
           "\"displayName\":\"나쁜 협의체\",\"field\":\"fields/display\","
           "\"complexes\":[\"complexes/no-such-complex\"]}}\n");
  Result r = Ctl({"import", path});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "line 3: ")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "complexes/no-such-complex")) << r.err;
  EXPECT_EQ(Ctl({"get", "organization", "import-new"}).code, 3)
      << "the batch's good row was written";

  // A valid organization before an unknown kind: the file is refused before any write.
  WriteAll(path,
           "{\"kind\":\"organization\",\"resource\":{\"name\":\"organizations/x\","
           "\"displayName\":\"엑스\",\"kind\":\"COMPANY\"}}\n"
           "{\"kind\":\"planet\",\"resource\":{}}\n");
  Result kind = Ctl({"import", path});
  EXPECT_EQ(kind.code, 2);
  EXPECT_TRUE(absl::StrContains(kind.err, "line 2: unknown kind")) << kind.err;
  EXPECT_EQ(Ctl({"get", "organization", "x"}).code, 3);
}

// Importing again what was imported and deleted since leaves it deleted: the delete was
// the API's (soft delete keeps the id taken), and an import never undoes the API.
TEST_F(SanhakctlTest, ReimportAfterADeleteLeavesItDeleted) {
  const std::string path = dir_.File("again.jsonl");
  WriteAll(path,
           "{\"kind\":\"organization\",\"resource\":{\"name\":\"organizations/again\","
           "\"displayName\":\"다시 기관\",\"kind\":\"COMPANY\"}}\n");
  ASSERT_EQ(Ctl({"import", path}).code, 0);
  ASSERT_EQ(Ctl({"delete", "organization", "again"}).code, 0);
  Result r = Ctl({"import", path});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "1 unchanged")) << r.out;
  Result got = Ctl({"get", "organization", "again", "--output=json"});
  EXPECT_EQ(got.code, 0) << got.err;
  EXPECT_TRUE(absl::StrContains(got.out, "deleteTime")) << got.out;
}

// A row only the server can judge (a council needs complexes in two regions) is checked
// by the server (validate_only) before anything of its batch is written.
TEST_F(SanhakctlTest, ARowTheServerWouldRefuseStopsTheBatchBeforeAnyWrite) {
  const std::string path = dir_.File("refused.jsonl");
  WriteAll(path,
           "{\"kind\":\"organization\",\"resource\":{\"name\":\"organizations/import-ok\","
           "\"displayName\":\"괜찮은 기관\",\"kind\":\"COMPANY\"}}\n"
           "{\"kind\":\"council\",\"resource\":{\"name\":\"councils/import-one-complex\","
           "\"displayName\":\"단지 하나\",\"field\":\"fields/display\",\"forumSession\":1,"
           "\"complexes\":[\"complexes/gumi\"]}}\n");
  Result r = Ctl({"import", path});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "line 2: ")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "council.complexes")) << r.err;
  EXPECT_EQ(Ctl({"get", "organization", "import-ok"}).code, 3)
      << "the batch's good row was written";
  EXPECT_EQ(Ctl({"get", "council", "import-one-complex"}).code, 3);
}

TEST_F(SanhakctlTest, WatchSeesChangesAndResumesAfterAnAnalyticsRestart) {
  const int64_t before = ActivityCount();
  auto watch = Spawn({"watch", "--max_updates=2", "--duration=90s"});
  ASSERT_TRUE(WaitUntil([&] { return absl::StrContains(watch->out(), "snapshot"); }))
      << watch->out() << watch->err();
  CreateActivity("ctl-watch-1");
  const std::string first = absl::StrCat("activities ", before, "→", before + 1);
  ASSERT_TRUE(WaitUntil([&] { return absl::StrContains(watch->out(), first); }))
      << watch->out() << watch->err();

  analytics_->Shutdown();
  analytics_.reset();
  ASSERT_TRUE(WaitUntil([&] { return absl::StrContains(watch->err(), "disconnected"); }))
      << watch->err();
  // Written while analytics is down: the resumed stream must still deliver it.
  CreateActivity("ctl-watch-2");
  StartAnalytics();
  const std::string second = absl::StrCat("activities ", before + 1, "→", before + 2);
  ASSERT_TRUE(WaitUntil([&] { return absl::StrContains(watch->out(), second); }))
      << watch->out() << watch->err();
  EXPECT_EQ(watch->Wait(), 0) << watch->err();
  EXPECT_TRUE(absl::StrContains(watch->err(), "reconnected")) << watch->err();
  // One snapshot only: the stream resumed rather than starting over.
  EXPECT_EQ(Lines(watch->out()).size(), 3u) << watch->out();
}

TEST_F(SanhakctlTest, SummaryWatchPrintsALineWhenTotalsMove) {
  const int64_t before = ActivityCount();
  auto summary = Spawn({"summary", "--watch", "--max_updates=1", "--duration=60s"});
  ASSERT_TRUE(WaitUntil([&] { return !summary->out().empty(); })) << summary->err();
  EXPECT_TRUE(absl::StrContains(summary->out(), "councils 25 ")) << summary->out();
  CreateActivity("ctl-summary-1");
  EXPECT_EQ(summary->Wait(), 0) << summary->err();
  std::vector<std::string> lines = Lines(summary->out());
  ASSERT_EQ(lines.size(), 2u) << summary->out();
  EXPECT_TRUE(absl::StrContains(lines[1], absl::StrCat("activities ", before + 1, " ")))
      << lines[1];
}

// --- output formats (issue #14) ---

// Header cells of a rendered table (columns are two or more spaces apart).
std::vector<std::string> HeaderCells(const std::string& table) {
  std::vector<std::string> cells;
  const std::string first = table.substr(0, table.find('\n'));
  for (absl::string_view cell : absl::StrSplit(first, "  ", absl::SkipWhitespace())) {
    cells.emplace_back(absl::StripAsciiWhitespace(cell));
  }
  return cells;
}

TEST_F(SanhakctlTest, OutputShortFlagSpellingsAllWork) {
  Result yaml = Ctl({"get", "council", kCouncil, "--output=yaml"});
  ASSERT_EQ(yaml.code, 0) << yaml.err;
  EXPECT_TRUE(absl::StartsWith(yaml.out, "name: councils/special-purpose-ships\n")) << yaml.out;
  for (const std::vector<std::string>& spelled :
       {std::vector<std::string>{"-o", "yaml"}, {"-oyaml"}, {"-o=yaml"}, {"--output", "yaml"}}) {
    std::vector<std::string> args = {"get", "council", kCouncil};
    args.insert(args.end(), spelled.begin(), spelled.end());
    Result r = Ctl(args);
    EXPECT_EQ(r.code, 0) << absl::StrJoin(spelled, " ") << ": " << r.err;
    EXPECT_EQ(r.out, yaml.out) << absl::StrJoin(spelled, " ");
  }
  Result wide = Ctl({"list", "councils", "-owide"});
  ASSERT_EQ(wide.code, 0) << wide.err;
  EXPECT_EQ(wide.out, Ctl({"list", "councils", "-o", "wide"}).out);
}

TEST_F(SanhakctlTest, WideAddsEveryOtherFieldAsAColumn) {
  Result table = Ctl({"list", "councils"});
  Result wide = Ctl({"list", "councils", "-o", "wide"});
  ASSERT_EQ(wide.code, 0) << wide.err;
  EXPECT_EQ(HeaderCells(table.out),
            (std::vector<std::string>{"NAME", "DISPLAY_NAME", "FIELD", "FORUM_SESSION", "REGIONS",
                                      "MEMBERSHIP_COUNT"}));
  EXPECT_EQ(HeaderCells(wide.out),
            (std::vector<std::string>{"NAME", "DISPLAY_NAME", "FIELD", "FORUM_SESSION", "REGIONS",
                                      "MEMBERSHIP_COUNT", "COMPLEXES", "HOST_ORGANIZATION",
                                      "LAUNCH_DATE", "REPORTED_MEMBERS", "DESCRIPTION",
                                      "OUTCOME_SUMMARY", "CREATE_TIME", "UPDATE_TIME",
                                      "DELETE_TIME"}));
  ASSERT_EQ(Lines(wide.out).size(), 26u) << wide.out;
  // The ids and times: the row of special-purpose-ships names its complexes and shows its
  // creation time, in Korea's zone.
  Result one = Ctl({"get", "council", kCouncil, "-o", "wide"});
  ASSERT_EQ(one.code, 0) << one.err;
  ASSERT_EQ(Lines(one.out).size(), 2u) << one.out;
  EXPECT_EQ(HeaderCells(one.out), HeaderCells(wide.out));
  const std::string row = Lines(one.out)[1];
  EXPECT_TRUE(absl::StartsWith(row, kCouncil)) << row;
  EXPECT_TRUE(absl::StrContains(row, "complexes/")) << row;
  EXPECT_TRUE(absl::StrContains(row, " KST")) << row;
  // A forum's timetable shows as its number of slots.
  Result activities = Ctl({"list", "activities", "-o", "wide", "--max_width=0"});
  ASSERT_EQ(activities.code, 0) << activities.err;
  const std::vector<std::string> header = HeaderCells(activities.out);
  EXPECT_NE(std::find(header.begin(), header.end(), "TIMETABLE"), header.end());
  for (const std::string& line : Lines(activities.out)) {
    if (absl::StartsWith(line, kForum)) {
      EXPECT_TRUE(absl::StrContains(line, "  12  ")) << line;
    }
  }
}

TEST_F(SanhakctlTest, FormatsThatMakeNoSenseAreRefusedNamingTheFlag) {
  Result bad = Ctl({"list", "councils", "-o", "xml"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(absl::StrContains(bad.err, "--output (-o) must be table, wide, json or yaml"))
      << bad.err;
  Result wide = Ctl({"aggregates", "-o", "wide"});
  EXPECT_EQ(wide.code, 2);
  EXPECT_TRUE(absl::StrContains(wide.err, "--output=wide: aggregates has no wide view")) << wide.err;
  Result export_yaml = Ctl({"export", "-o", "yaml"});
  EXPECT_EQ(export_yaml.code, 2);
  EXPECT_TRUE(absl::StrContains(export_yaml.err, "--output=yaml: export prints no resources"))
      << export_yaml.err;
}

// Whether python3 reads `json_text` (JSON) and `yaml_text` (YAML) as the same value.
std::string CompareJsonWithYaml(const TempDir& dir, const std::string& name,
                                const std::string& json_text, const std::string& yaml_text,
                                const std::function<Result(const std::vector<std::string>&)>& run) {
  WriteAll(dir.File(name + ".json"), json_text);
  WriteAll(dir.File(name + ".yaml"), yaml_text);
  Result r = run({"/usr/bin/python3", "-c",
                  "import json, sys, yaml\n"
                  "a = json.load(open(sys.argv[1], encoding='utf-8'))\n"
                  "b = yaml.safe_load(open(sys.argv[2], encoding='utf-8'))\n"
                  "print('equal' if a == b else 'differ: %r\\n%r' % (a, b))\n",
                  dir.File(name + ".json"), dir.File(name + ".yaml")});
  return r.code == 0 ? r.out : absl::StrCat("python3 failed: ", r.err);
}

TEST_F(SanhakctlTest, YamlParsesBackEqualToJson) {
  const std::vector<std::vector<std::string>> commands = {
      {"get", "council", kCouncil},
      {"list", "councils"},
      {"list", "activities"},
      {"get", "activity", kForum},
      {"list", "outcomes"},
      {"scorecard", kCouncil},
      {"aggregates"},
      {"network"},
      {"agenda", kForum},
      {"summary"},
  };
  for (const auto& command : commands) {
    std::vector<std::string> as_json = command, as_yaml = command;
    as_json.push_back("-o=json");
    as_yaml.push_back("-o=yaml");
    Result json = Ctl(as_json);
    Result yaml = Ctl(as_yaml);
    const std::string what = absl::StrJoin(command, " ");
    ASSERT_EQ(json.code, 0) << what << ": " << json.err;
    ASSERT_EQ(yaml.code, 0) << what << ": " << yaml.err;
    EXPECT_EQ(CompareJsonWithYaml(dir_, absl::StrCat("cmp", runs_), json.out, yaml.out,
                                  [&](const std::vector<std::string>& argv) {
                                    return RunCommand(argv);
                                  }),
              "equal\n")
        << what << "\n" << yaml.out;
    // Korean as it is, never \u escapes.
    EXPECT_FALSE(absl::StrContains(yaml.out, "\\u")) << what;
  }
  Result yaml = Ctl({"get", "council", kCouncil, "-o", "yaml"});
  registry::v1::Council council;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  Ctl({"get", "council", kCouncil, "-o", "json"}).out, &council)
                  .ok());
  EXPECT_TRUE(absl::StrContains(yaml.out, "displayName: " + council.display_name() + "\n"))
      << yaml.out;
  EXPECT_TRUE(absl::StrContains(yaml.out, "createTime: \"20")) << yaml.out;  // RFC 3339
}

TEST_F(SanhakctlTest, AggregatesTableShowsEverySectionTheJsonHas) {
  Result json = Ctl({"aggregates", "-o", "json"});
  ASSERT_EQ(json.code, 0) << json.err;
  Result table = Ctl({"aggregates"});
  ASSERT_EQ(table.code, 0) << table.err;
  const std::string lower = absl::AsciiStrToLower(table.out);
  google::protobuf::Struct sections;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &sections).ok());
  ASSERT_GE(sections.fields_size(), 10);
  for (const auto& [key, value] : sections.fields()) {
    const google::protobuf::FieldDescriptor* f =
        analytics::v1::Aggregates::descriptor()->FindFieldByCamelcaseName(key);
    ASSERT_NE(f, nullptr) << key;
    std::string title = f->name();
    std::replace(title.begin(), title.end(), '_', ' ');
    EXPECT_TRUE(absl::StrContains(lower, title)) << key << " missing from\n" << table.out;
  }
  EXPECT_TRUE(absl::StrContains(table.out, "MEMBERS BY COUNCIL")) << table.out;
  EXPECT_TRUE(absl::StrContains(table.out, "REPORTED VS COUNTED")) << table.out;
}

TEST_F(SanhakctlTest, WatchAsYamlIsAStreamOfDocuments) {
  Result r = Ctl({"watch", "-o", "yaml", "--duration=2s"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(absl::StartsWith(r.out, "---\nsnapshot:\n")) << r.out.substr(0, 300);
  const std::string path = dir_.File("watch.yaml");
  WriteAll(path, r.out);
  Result read = RunCommand({"/usr/bin/python3", "-c",
                            "import sys, yaml\n"
                            "docs = list(yaml.safe_load_all(open(sys.argv[1], encoding='utf-8')))\n"
                            "print(docs[0]['snapshot']['councils'])\n",
                            path});
  ASSERT_EQ(read.code, 0) << read.err;
  EXPECT_EQ(read.out, "25\n");  // int64, a string in the JSON mapping
}

// --- spreadsheets (issue #14) ---

void StripBoms(const std::string& from, const std::string& to) {
  std::filesystem::create_directories(to);
  for (const auto& entry : std::filesystem::directory_iterator(from)) {
    std::string text = ReadAll(entry.path().string());
    EXPECT_TRUE(absl::StartsWith(text, "\xEF\xBB\xBF")) << entry.path();
    WriteAll((std::filesystem::path(to) / entry.path().filename()).string(), text.substr(3));
  }
}

TEST_F(SanhakctlTest, CsvExportImportsBackExactlyWithHostileValues) {
  // Values a spreadsheet round trip breaks when quoting is wrong.
  Result org = Ctl({"create", "organization", "hostile-org",
                    R"(--json={"displayName":"쉼표, \"따옴표\" 😀 ;\\ 끝","kind":"COMPANY",)"
                    R"("description":"첫 줄, \"인용\"\n둘째 줄\r\n=1+2;\\"})"});
  ASSERT_EQ(org.code, 0) << org.err;
  Result activity = Ctl({"create", "activity", "hostile-seminar",
                         R"(--json={"kind":"SEMINAR","title":"세미나, \"제목\" 🚢 a;b\\c",)"
                         R"("description":"줄1\n줄2, \"q\"","councils":["councils/special-purpose-ships"],)"
                         R"("place":{"venue":"벡스코, 제1전시장","city":"부산"}})"});
  ASSERT_EQ(activity.code, 0) << activity.err;

  const std::string out = dir_.File("csv-out");
  Result e = Ctl({"export", "--format=csv", "--out=" + out});
  ASSERT_EQ(e.code, 0) << e.err;
  for (const Kind& kind : Kinds()) {
    const std::string text = ReadAll(out + "/" + kind.name + ".csv");
    // UTF-8 with BOM, the header the descriptor's field paths, CRLF line ends.
    EXPECT_TRUE(absl::StartsWith(
        text, absl::StrCat("\xEF\xBB\xBF", absl::StrJoin(CsvColumns(kind), ","), "\r\n")))
        << kind.name << ": " << text.substr(0, 200);
  }
  EXPECT_TRUE(std::filesystem::exists(out + "/activity.timetable.csv"));
  const std::string orgs = ReadAll(out + "/organization.csv");
  EXPECT_TRUE(absl::StrContains(orgs, "\"쉼표, \"\"따옴표\"\" 😀 ;\\ 끝\"")) << orgs;

  TempDir fresh_dir;
  auto registry = StartRegistry(fresh_dir.File("registry.db"), ReferenceOnlySeed(fresh_dir), "");
  ASSERT_NE(registry, nullptr);
  auto events = StartEvents(fresh_dir.File("events.db"), registry->address(), "", "");
  ASSERT_NE(events, nullptr);
  Result first = Ctl({"import", out}, registry->address(), events->address());
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_TRUE(absl::StrContains(first.out, " 0 updated")) << first.out;

  // Byte for byte the same export from the server the CSV filled ...
  const std::string again = fresh_dir.File("csv-again");
  ASSERT_EQ(Ctl({"export", "--format=csv", "--out=" + again}, registry->address(),
                events->address())
                .code,
            0);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(out)) {
    ++files;
    EXPECT_EQ(ReadAll((std::filesystem::path(again) / entry.path().filename()).string()),
              ReadAll(entry.path().string()))
        << entry.path().filename();
  }
  EXPECT_GE(files, 13);
  // ... and the same data: the JSON lines exports agree.
  EXPECT_EQ(Ctl({"export"}, registry->address(), events->address()).out, Ctl({"export"}).out);
  Result hostile = Ctl({"get", "organization", "hostile-org", "-o", "json"}, registry->address(),
                       events->address());
  EXPECT_TRUE(absl::StrContains(hostile.out, R"(\n둘째 줄\r\n=1+2;\\)")) << hostile.out;

  // Importing the same files again, with or without the byte order mark, or one kind's
  // table (which reads its lists beside it), changes nothing.
  Result second = Ctl({"import", out}, registry->address(), events->address());
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_TRUE(absl::StrContains(second.out, "imported: 0 created, 0 updated")) << second.out;
  const std::string no_bom = fresh_dir.File("no-bom");
  StripBoms(out, no_bom);
  Result third = Ctl({"import", no_bom}, registry->address(), events->address());
  ASSERT_EQ(third.code, 0) << third.err;
  EXPECT_TRUE(absl::StrContains(third.out, "imported: 0 created, 0 updated")) << third.out;
  Result single = Ctl({"import", no_bom + "/activity.csv"}, registry->address(),
                      events->address());
  ASSERT_EQ(single.code, 0) << single.err;
  EXPECT_TRUE(absl::StrContains(single.out, "imported: 0 created, 0 updated")) << single.out;
  Result same_server = Ctl({"import", out});
  ASSERT_EQ(same_server.code, 0) << same_server.err;
  EXPECT_TRUE(absl::StrContains(same_server.out, "imported: 0 created, 0 updated"))
      << same_server.out;

  events->Shutdown();
  registry->Shutdown();
}

TEST_F(SanhakctlTest, CsvImportErrorsNameTheFileAndLineAndWriteNothing) {
  const std::string out = dir_.File("csv-bad");
  ASSERT_EQ(Ctl({"export", "--format=csv", "--out=" + out}).code, 0);
  const std::string councils = ReadAll(out + "/council.csv");
  std::vector<std::string> lines = absl::StrSplit(councils, "\r\n");
  ASSERT_GT(lines.size(), 3u);
  const std::vector<std::string> header = absl::StrSplit(lines[0].substr(3), ',');
  // The second council (line 3) with `cell` in `column`; its earlier cells are plain.
  auto with_cell = [&](const std::string& column, const std::string& cell) {
    const size_t at = std::find(header.begin(), header.end(), column) - header.begin();
    EXPECT_LT(at, header.size()) << column;
    std::vector<std::string> cells = absl::StrSplit(lines[2], ',');
    EXPECT_GT(cells.size(), at);
    cells[at] = cell;
    std::vector<std::string> changed = lines;
    changed[2] = absl::StrJoin(cells, ",");
    WriteAll(out + "/council.csv", absl::StrJoin(changed, "\r\n"));
  };
  // A new organization, and a council naming a complex nowhere to be found: the batch
  // check refuses the council before the organization is written.
  const std::string orgs = ReadAll(out + "/organization.csv");
  WriteAll(out + "/organization.csv", orgs + "organizations/csv-new,새 기관,,COMPANY,,\r\n");
  with_cell("host_organization", "organizations/nowhere");
  Result r = Ctl({"import", out});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "council.csv line 3: council.host_organization: "
                                       "organizations/nowhere is neither in the file nor on the "
                                       "server"))
      << r.err;
  EXPECT_EQ(Ctl({"get", "organization", "csv-new"}).code, 3);

  with_cell("forum_session", "x");
  r = Ctl({"import", out});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(
      r.err, "council.csv line 3: column \"forum_session\": \"x\" is not an integer"))
      << r.err;
  EXPECT_EQ(Ctl({"get", "organization", "csv-new"}).code, 3);

  Result no_folder = Ctl({"export", "--format=csv"});
  EXPECT_EQ(no_folder.code, 2);
  EXPECT_TRUE(absl::StrContains(no_folder.err, "--out")) << no_folder.err;
}

// The workbook as openpyxl reads it: {"sheets": [...], SHEET: {"freeze": .., "rows":
// [[{"v": value, "f": number format, "b": bold}, ...], ...]}}.
TEST_F(SanhakctlTest, XlsxReportReadsBackWithTheServersData) {
  const std::string path = dir_.File("report.xlsx");
  Result r = Ctl({"report", "--out=" + path});
  ASSERT_EQ(r.code, 0) << r.err;
  Result read = RunCommand(
      {"/usr/bin/python3", "-c",
       "import datetime, json, sys, openpyxl\n"
       "book = openpyxl.load_workbook(sys.argv[1])\n"
       "out = {'sheets': book.sheetnames}\n"
       "for sheet in book.worksheets:\n"
       "  rows = []\n"
       "  for row in sheet.iter_rows():\n"
       "    cells = []\n"
       "    for c in row:\n"
       "      v = c.value\n"
       "      if isinstance(v, datetime.datetime): v = 'date:' + v.isoformat()\n"
       "      cells.append({'v': v, 'f': c.number_format, 'b': bool(c.font.b)})\n"
       "    rows.append(cells)\n"
       "  out[sheet.title] = {'freeze': sheet.freeze_panes, 'rows': rows}\n"
       "sys.stdout.buffer.write(json.dumps(out, ensure_ascii=False).encode('utf-8'))\n",
       path});
  ASSERT_EQ(read.code, 0) << read.err;
  google::protobuf::Struct book;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read.out, &book).ok())
      << read.out.substr(0, 500);
  std::vector<std::string> sheets;
  for (const auto& v : book.fields().at("sheets").list_value().values()) {
    sheets.push_back(v.string_value());
  }
  EXPECT_EQ(sheets, (std::vector<std::string>{"councils", "activities", "outcomes", "scorecards"}));

  // Each sheet's rows by their first cell (the resource name), cells by header.
  using Row = std::map<std::string, google::protobuf::Value>;
  auto rows_of = [&](const std::string& sheet, std::vector<std::string>* header_out) {
    std::map<std::string, Row> rows;
    const auto& s = book.fields().at(sheet).struct_value();
    EXPECT_EQ(s.fields().at("freeze").string_value(), "A2") << sheet;
    const auto& list = s.fields().at("rows").list_value();
    std::vector<std::string> header;
    for (const auto& cell : list.values(0).list_value().values()) {
      header.push_back(cell.struct_value().fields().at("v").string_value());
      EXPECT_TRUE(cell.struct_value().fields().at("b").bool_value()) << sheet;
    }
    for (int i = 1; i < list.values_size(); ++i) {
      Row row;
      const auto& cells = list.values(i).list_value();
      for (int c = 0; c < cells.values_size() && c < static_cast<int>(header.size()); ++c) {
        const auto& cell = cells.values(c).struct_value().fields();
        row[header[c]] = cell.at("v");
        row[header[c] + "#format"].set_string_value(cell.at("f").string_value());
      }
      rows[row["name"].string_value().empty() ? row["council"].string_value()
                                              : row["name"].string_value()] = row;
    }
    if (header_out != nullptr) *header_out = header;
    return rows;
  };

  std::vector<std::string> header;
  auto councils = rows_of("councils", &header);
  ASSERT_GE(header.size(), 3u);
  EXPECT_EQ(header[0], "name");
  EXPECT_EQ(header[1], "display_name");
  EXPECT_NE(std::find(header.begin(), header.end(), "reported_members.total"), header.end());
  registry::v1::ListCouncilsResponse listed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  Ctl({"list", "councils", "-o", "json"}).out, &listed)
                  .ok());
  ASSERT_EQ(councils.size(), static_cast<size_t>(listed.councils_size()));
  for (const auto& c : listed.councils()) {
    ASSERT_EQ(councils.count(c.name()), 1u) << c.name();
    Row& row = councils[c.name()];
    EXPECT_EQ(row["display_name"].string_value(), c.display_name());
    EXPECT_EQ(row["forum_session"].number_value(), c.forum_session()) << c.name();
    EXPECT_EQ(row["reported_members.total"].number_value(), c.reported_members().total());
    EXPECT_EQ(row["membership_count"].number_value(), c.membership_count());
    if (c.launch_date().day() != 0) {
      EXPECT_EQ(row["launch_date"].string_value(),
                absl::StrFormat("date:%04d-%02d-%02dT00:00:00", c.launch_date().year(),
                                c.launch_date().month(), c.launch_date().day()));
      EXPECT_EQ(row["launch_date#format"].string_value(), "yyyy-mm-dd");
    }
  }

  auto activities = rows_of("activities", nullptr);
  events::v1::ListActivitiesResponse acts;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  Ctl({"list", "activities", "-o", "json"}).out, &acts)
                  .ok());
  ASSERT_EQ(activities.size(), static_cast<size_t>(acts.activities_size()));
  for (const auto& a : acts.activities()) {
    ASSERT_EQ(activities.count(a.name()), 1u) << a.name();
    EXPECT_EQ(activities[a.name()]["title"].string_value(), a.title());
    EXPECT_EQ(activities[a.name()]["kind"].string_value(), events::v1::ActivityKind_Name(a.kind()));
  }

  auto outcomes = rows_of("outcomes", nullptr);
  events::v1::ListOutcomesResponse outs;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  Ctl({"list", "outcomes", "-o", "json"}).out, &outs)
                  .ok());
  ASSERT_EQ(outcomes.size(), static_cast<size_t>(outs.outcomes_size()));
  int money = 0;
  for (const auto& o : outs.outcomes()) {
    ASSERT_EQ(outcomes.count(o.name()), 1u) << o.name();
    Row& row = outcomes[o.name()];
    EXPECT_EQ(row["title"].string_value(), o.title());
    if (o.has_total_budget_krw()) {
      ++money;
      EXPECT_EQ(row["total_budget_krw"].number_value(), static_cast<double>(o.total_budget_krw()));
      EXPECT_EQ(row["total_budget_krw#format"].string_value(), "#,##0\"원\"");
    }
  }
  EXPECT_GT(money, 0);

  auto cards = rows_of("scorecards", nullptr);
  EXPECT_EQ(cards.size(), static_cast<size_t>(listed.councils_size()));
  analytics::v1::CouncilScorecard card;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  Ctl({"scorecard", kCouncil, "-o", "json"}).out, &card)
                  .ok());
  EXPECT_EQ(cards[kCouncil]["display_name"].string_value(), card.display_name());
  EXPECT_EQ(cards[kCouncil]["total_budget_krw"].number_value(),
            static_cast<double>(card.total_budget_krw()));
  EXPECT_EQ(cards[kCouncil]["activities"].number_value(), static_cast<double>(card.activities()));
}

}  // namespace
}  // namespace sanhak::ctl
