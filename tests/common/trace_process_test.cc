// One request followed across services (issue #14): the real registry, events and
// analytics binaries, each logging its calls. A caller's W3C traceparent and x-request-id
// reach every service the request touches and are in every service's log line for it;
// a caller that sends none gets ids made for it, and told them; hostile headers are not
// taken. Each service is a span: the registry's lookup names the events call as its
// parent.
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "tests/support/await.h"
#include "tests/support/child_process.h"
#include "tests/support/redis_server.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_support.h"

namespace sanhak {
namespace {

using ::sanhak::testing::ServerProcess;
using ::sanhak::testing::WaitUntil;
using Line = google::protobuf::Struct;

constexpr char kTraceId[] = "0af7651916cd43dd8448eb211c80319c";
constexpr char kCallerSpan[] = "b7ad6b7169203331";
constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

// The log's JSON lines with `msg` == `message` whose fields include every pair in `match`.
std::vector<Line> LinesWith(const std::string& log, const std::string& message,
                            const std::vector<std::pair<std::string, std::string>>& match) {
  std::vector<Line> found;
  for (absl::string_view text : absl::StrSplit(log, '\n')) {
    if (!absl::StartsWith(text, "{")) continue;
    Line line;
    if (!google::protobuf::util::JsonStringToMessage(std::string(text), &line).ok()) continue;
    auto field = [&line](const std::string& key) {
      auto it = line.fields().find(key);
      return it == line.fields().end() ? std::string() : it->second.string_value();
    };
    if (field("msg") != message) continue;
    bool all = true;
    for (const auto& [key, value] : match) all = all && field(key) == value;
    if (all) found.push_back(line);
  }
  return found;
}

std::string Field(const Line& line, const std::string& key) {
  auto it = line.fields().find(key);
  return it == line.fields().end() ? std::string() : it->second.string_value();
}

bool IsTraceId(const std::string& id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string ServerHeader(const grpc::ClientContext& context, const std::string& key) {
  auto it = context.GetServerInitialMetadata().find(key);
  return it == context.GetServerInitialMetadata().end()
             ? std::string()
             : std::string(it->second.data(), it->second.size());
}

class TraceProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.Start()) << redis_.Log();
    const std::string data = sanhak::testing::SourceDir() + "/data/";
    registry_ = std::make_unique<ServerProcess>(
        SANHAK_REGISTRY_BINARY,
        std::vector<std::string>{"--db=" + dir_.File("registry.db"),
                                 "--page_token_key=" + dir_.File("registry.key"),
                                 "--import=" + data + "registry.textproto",
                                 "--redis=" + redis_.address(), "--log_calls=true"},
        dir_.File("registry.log"));
    ASSERT_TRUE(registry_->Start());
    ASSERT_TRUE(registry_->WaitServing()) << registry_->Log();
    // Without the registry view every reference is checked by a call to the registry.
    events_ = std::make_unique<ServerProcess>(
        SANHAK_EVENTS_BINARY,
        std::vector<std::string>{"--db=" + dir_.File("events.db"),
                                 "--page_token_key=" + dir_.File("events.key"),
                                 "--import=" + data + "events.textproto",
                                 "--registry=" + registry_->address(),
                                 "--redis=" + redis_.address(), "--registry_view=false",
                                 "--log_calls=true", "--audit_log=" + dir_.File("events.audit")},
        dir_.File("events.log"));
    ASSERT_TRUE(events_->Start());
    ASSERT_TRUE(events_->WaitServing()) << events_->Log();
    events_stub_ = events::v1::EventsService::NewStub(sanhak::testing::Connect(events_->address()));
  }

  // Creates an activity of councils/display with `headers` on the call; the context
  // keeps what the server answered.
  grpc::Status Create(grpc::ClientContext* context, const std::string& title,
                      const std::vector<std::pair<std::string, std::string>>& headers) {
    for (const auto& [key, value] : headers) context->AddMetadata(key, value);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    events::v1::CreateActivityRequest request;
    request.mutable_activity()->set_kind(events::v1::SEMINAR);
    request.mutable_activity()->set_title(title);
    request.mutable_activity()->add_councils("councils/display");
    events::v1::Activity created;
    return events_stub_->CreateActivity(context, request, &created);
  }

  sanhak::testing::TempDir dir_;
  sanhak::testing::RedisServer redis_;
  std::unique_ptr<ServerProcess> registry_;
  std::unique_ptr<ServerProcess> events_;
  std::unique_ptr<events::v1::EventsService::Stub> events_stub_;
};

TEST_F(TraceProcessTest, ACallersTraceIsInEveryServicesLogLinesAndItsCalls) {
  grpc::ClientContext context;
  ASSERT_TRUE(Create(&context, "추적 세미나",
                     {{"traceparent", kTraceparent}, {"x-request-id", "ops-ticket-4711"}})
                  .ok());
  // The answer names the events call's own span of the caller's trace.
  const std::string answered = ServerHeader(context, "traceparent");
  ASSERT_TRUE(absl::StartsWith(answered, absl::StrCat("00-", kTraceId, "-"))) << answered;
  const std::string events_span = answered.substr(36, 16);
  EXPECT_NE(events_span, kCallerSpan);
  EXPECT_TRUE(absl::EndsWith(answered, "-01")) << answered;
  EXPECT_EQ(ServerHeader(context, "x-request-id"), "ops-ticket-4711");

  // events logged the call under the caller's trace, as a child of the caller's span.
  std::vector<Line> events_lines;
  ASSERT_TRUE(WaitUntil([&] {
    events_lines = LinesWith(events_->Log(), "rpc", {{"trace_id", kTraceId}});
    return !events_lines.empty();
  })) << events_->Log();
  ASSERT_EQ(events_lines.size(), 1u) << events_->Log();
  EXPECT_EQ(Field(events_lines[0], "method"), "/sanhak.events.v1.EventsService/CreateActivity");
  EXPECT_EQ(Field(events_lines[0], "span_id"), events_span);
  EXPECT_EQ(Field(events_lines[0], "parent_span_id"), kCallerSpan);
  EXPECT_EQ(Field(events_lines[0], "request_id"), "ops-ticket-4711");
  EXPECT_EQ(Field(events_lines[0], "code"), "OK");

  // The registry lookup events made for it: same trace and request id, its own span,
  // whose parent is the events call.
  std::vector<Line> registry_lines;
  ASSERT_TRUE(WaitUntil([&] {
    registry_lines = LinesWith(registry_->Log(), "rpc", {{"trace_id", kTraceId}});
    return !registry_lines.empty();
  })) << registry_->Log();
  for (const Line& line : registry_lines) {
    EXPECT_EQ(Field(line, "method"), "/sanhak.registry.v1.RegistryService/GetCouncil");
    EXPECT_EQ(Field(line, "parent_span_id"), events_span);
    EXPECT_NE(Field(line, "span_id"), events_span);
    EXPECT_EQ(Field(line, "request_id"), "ops-ticket-4711");
  }
  // The audit log's line for the write names the trace too.
  std::string audit;
  ASSERT_TRUE(WaitUntil([&] {
    std::ifstream file(dir_.File("events.audit"));
    audit.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    return absl::StrContains(audit, kTraceId);
  })) << audit;
  EXPECT_TRUE(absl::StrContains(audit, absl::StrCat("\"trace_id\":\"", kTraceId, "\""))) << audit;
  // Nothing else of the caller's trace went anywhere.
  EXPECT_EQ(LinesWith(registry_->Log(), "rpc", {{"trace_id", kTraceId}}).size(),
            registry_lines.size());
}

TEST_F(TraceProcessTest, ACallWithoutATraceGetsIdsAndIsToldThem) {
  grpc::ClientContext context;
  ASSERT_TRUE(Create(&context, "추적 없는 세미나", {}).ok());
  const std::string answered = ServerHeader(context, "traceparent");
  ASSERT_EQ(answered.size(), 55u) << answered;
  const std::string trace_id = answered.substr(3, 32);
  // The request id a caller did not give is the trace id.
  EXPECT_EQ(ServerHeader(context, "x-request-id"), trace_id);
  std::vector<Line> lines;
  ASSERT_TRUE(WaitUntil([&] {
    lines = LinesWith(events_->Log(), "rpc", {{"trace_id", trace_id}});
    return !lines.empty();
  })) << events_->Log();
  EXPECT_EQ(Field(lines[0], "parent_span_id"), "");
  EXPECT_EQ(Field(lines[0], "request_id"), trace_id);
  EXPECT_TRUE(WaitUntil([&] {
    return !LinesWith(registry_->Log(), "rpc", {{"trace_id", trace_id}}).empty();
  })) << registry_->Log();
}

TEST_F(TraceProcessTest, HostileHeadersAreIgnoredNotFatal) {
  const std::vector<std::vector<std::pair<std::string, std::string>>> attempts = {
      {{"traceparent", "00-00000000000000000000000000000000-b7ad6b7169203331-01"}},
      {{"traceparent", std::string(8000, 'f')}},
      {{"traceparent", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
      {{"traceparent", kTraceparent}, {"x-request-id", std::string(4000, 'r')}},
      {{"traceparent", kTraceparent}, {"tracestate", std::string(4000, 'x')}},
  };
  int i = 0;
  for (const auto& headers : attempts) {
    grpc::ClientContext context;
    grpc::Status status = Create(&context, absl::StrCat("적대적 머리글 ", i++), headers);
    ASSERT_TRUE(status.ok()) << status.error_message();
    const std::string answered = ServerHeader(context, "traceparent");
    ASSERT_EQ(answered.size(), 55u) << answered;
    const std::string trace_id = answered.substr(3, 32);
    EXPECT_NE(trace_id, std::string(32, '0'));
    // A refused x-request-id is replaced by the trace id, never echoed.
    EXPECT_LE(ServerHeader(context, "x-request-id").size(), 128u);
  }
}

// The registry lines of calls that came with a traceparent (from sanhakctl: this test
// makes no other).
std::vector<Line> TracedCalls(const std::string& log) {
  std::vector<Line> traced;
  for (Line& line : LinesWith(log, "rpc", {})) {
    if (!Field(line, "parent_span_id").empty()) traced.push_back(std::move(line));
  }
  return traced;
}

sanhak::testing::ProgramRun RunSanhakctl(const sanhak::testing::TempDir& dir,
                                         std::vector<std::string> args) {
  static int runs = 0;
  const std::string n = absl::StrCat(runs++);
  args.insert(args.begin(), SANHAKCTL_BINARY);
  return sanhak::testing::RunToEnd(args, dir.File("ctl-out" + n), dir.File("ctl-err" + n));
}

TEST_F(TraceProcessTest, EverySanhakctlCallOfOneCommandIsOneTrace) {
  // A display name: sanhakctl lists councils to find its name, then gets it.
  sanhak::testing::ProgramRun run = RunSanhakctl(dir_, {"get", "council", "디스플레이", "-o", "json",
                                   "--registry_target=" + registry_->address(),
                                   "--events_target=" + events_->address(), "--timeout=10s"});
  ASSERT_EQ(run.code, 0) << run.err;
  std::vector<Line> traced;
  ASSERT_TRUE(WaitUntil([&] {
    traced = TracedCalls(registry_->Log());
    return traced.size() >= 2;
  })) << registry_->Log();
  std::set<std::string> spans;
  for (const Line& line : traced) {
    EXPECT_EQ(Field(line, "trace_id"), Field(traced[0], "trace_id"));
    EXPECT_EQ(Field(line, "parent_span_id"), Field(traced[0], "parent_span_id"));
    spans.insert(Field(line, "span_id"));
  }
  // Each call its own span.
  EXPECT_EQ(spans.size(), traced.size());

  // A failure on the services' side is reported with the trace id to quote.
  run = RunSanhakctl(dir_, {"get", "council", "display", "--registry_target=127.0.0.1:1",
                            "--timeout=2s"});
  EXPECT_EQ(run.code, 5) << run.err;
  const size_t at = run.err.find("trace_id: ");
  ASSERT_NE(at, std::string::npos) << run.err;
  EXPECT_TRUE(IsTraceId(run.err.substr(at + 10, 32))) << run.err;
}

TEST_F(TraceProcessTest, AnalyticsRebuildIsOneTraceAcrossTheServicesItReads) {
  ServerProcess analytics(SANHAK_ANALYTICS_BINARY,
                          {"--registry=" + registry_->address(),
                           "--events=" + events_->address(), "--redis=" + redis_.address(),
                           "--log_calls=true"},
                          dir_.File("analytics.log"));
  ASSERT_TRUE(analytics.Start());
  ASSERT_TRUE(analytics.WaitServing()) << analytics.Log();
  std::vector<Line> rebuilt;
  ASSERT_TRUE(WaitUntil([&] {
    rebuilt = LinesWith(analytics.Log(), "aggregates rebuilt from the services", {});
    return !rebuilt.empty();
  })) << analytics.Log();
  const std::string trace_id = Field(rebuilt[0], "trace_id");
  const std::string span_id = Field(rebuilt[0], "span_id");
  ASSERT_EQ(trace_id.size(), 32u) << analytics.Log();
  // Every List call of the rebuild, in both services, is a child of the rebuild's span.
  for (ServerProcess* service : {registry_.get(), events_.get()}) {
    std::vector<Line> lines = LinesWith(service->Log(), "rpc", {{"trace_id", trace_id}});
    ASSERT_FALSE(lines.empty()) << service->Log();
    for (const Line& line : lines) {
      EXPECT_TRUE(absl::StrContains(Field(line, "method"), "/List")) << Field(line, "method");
      EXPECT_EQ(Field(line, "parent_span_id"), span_id);
    }
  }
}

}  // namespace
}  // namespace sanhak
