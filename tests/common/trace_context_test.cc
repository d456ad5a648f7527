// The W3C traceparent as the specification reads it (valid, future and invalid headers),
// the ids a server keeps or makes, and the log lines written under a trace.
#include "common/trace_context.h"

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "gtest/gtest.h"
#include "tests/support/capture_stderr.h"
#include "tests/support/json_fields.h"

namespace sanhak {
namespace {

constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kParentId[] = "00f067aa0ba902b7";
// The specification's own example.
constexpr char kExample[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

bool IsId(const std::string& id, size_t digits) {
  return id.size() == digits &&
         id.find_first_not_of("0123456789abcdef") == std::string::npos &&
         id.find_first_not_of('0') != std::string::npos;
}

TEST(TraceparentTest, TheSpecificationsExampleParses) {
  std::optional<TraceParent> parsed = ParseTraceparent(kExample);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->trace_id, kTraceId);
  EXPECT_EQ(parsed->parent_id, kParentId);
  EXPECT_EQ(parsed->flags, 1);
}

TEST(TraceparentTest, ALaterVersionMayAppendFields) {
  EXPECT_TRUE(ParseTraceparent(absl::StrCat("01", std::string(kExample).substr(2), "-what-next"))
                  .has_value());
  EXPECT_TRUE(ParseTraceparent(absl::StrCat("cc", std::string(kExample).substr(2))).has_value());
  // Version 00 has exactly four fields.
  EXPECT_FALSE(ParseTraceparent(absl::StrCat(kExample, "-extra")).has_value());
  // A later version's extra text must start a new field.
  EXPECT_FALSE(ParseTraceparent(absl::StrCat("01", std::string(kExample).substr(2), "x"))
                   .has_value());
}

TEST(TraceparentTest, EveryMalformedHeaderIsRefused) {
  const std::string bad[] = {
      "",
      "00",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero parent id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",  // flags not hex
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",  // separators
      "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // short version
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",  // shifted dash
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
      " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-한국어한국어한국어한국어한국어한국어한국-00f067aa0ba902b7-01",
      std::string(1 << 20, 'a'),
  };
  for (const std::string& header : bad) {
    EXPECT_FALSE(ParseTraceparent(header).has_value()) << header.substr(0, 80);
  }
}

TEST(TraceContextTest, ACallersTraceIsKeptAndTheCallIsANewSpanOfIt) {
  TraceContext trace = TraceContext::ForIncoming(kExample, "vendor=abc", "req-42");
  EXPECT_EQ(trace.trace_id, kTraceId);
  EXPECT_EQ(trace.parent_span_id, kParentId);
  EXPECT_TRUE(IsId(trace.span_id, 16));
  EXPECT_NE(trace.span_id, kParentId);
  EXPECT_EQ(trace.flags, 1);
  EXPECT_EQ(trace.tracestate, "vendor=abc");
  EXPECT_EQ(trace.request_id, "req-42");
  // What this span passes on: the same trace, this span as the parent, the same flags.
  EXPECT_EQ(trace.Traceparent(), absl::StrCat("00-", kTraceId, "-", trace.span_id, "-01"));
  EXPECT_TRUE(ParseTraceparent(trace.Traceparent()).has_value());
}

TEST(TraceContextTest, NoOrABadTraceparentStartsANewTraceAndItsIdIsTheRequestId) {
  for (const char* header : {"", "garbage", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) {
    TraceContext trace = TraceContext::ForIncoming(header, "vendor=abc", "");
    EXPECT_TRUE(IsId(trace.trace_id, 32)) << header;
    EXPECT_NE(trace.trace_id, kTraceId);
    EXPECT_TRUE(IsId(trace.span_id, 16));
    EXPECT_TRUE(trace.parent_span_id.empty());
    // A tracestate without its traceparent is dropped.
    EXPECT_TRUE(trace.tracestate.empty());
    EXPECT_EQ(trace.request_id, trace.trace_id);
    EXPECT_EQ(trace.flags, 0);
  }
}

TEST(TraceContextTest, HostileRequestIdsAndTracestatesAreNotTaken) {
  const std::string too_long(kMaxRequestIdBytes + 1, 'r');
  for (const std::string& id :
       {too_long, std::string("with space"), std::string("줄\n바꿈"), std::string("\x7f")}) {
    TraceContext trace = TraceContext::ForIncoming(kExample, "", id);
    EXPECT_EQ(trace.request_id, kTraceId) << id;
  }
  EXPECT_EQ(TraceContext::ForIncoming(kExample, "", std::string(kMaxRequestIdBytes, 'r'))
                .request_id,
            std::string(kMaxRequestIdBytes, 'r'));
  EXPECT_TRUE(TraceContext::ForIncoming(kExample, std::string(kMaxTracestateBytes + 1, 'x'), "")
                  .tracestate.empty());
}

TEST(TraceContextTest, IdsDoNotRepeat) {
  absl::flat_hash_set<std::string> traces, spans;
  for (int i = 0; i < 10000; ++i) {
    TraceContext trace = TraceContext::NewRoot();
    EXPECT_TRUE(traces.insert(trace.trace_id).second);
    EXPECT_TRUE(spans.insert(trace.span_id).second);
  }
}

TEST(TraceContextTest, ScopesNestAndEnd) {
  EXPECT_EQ(CurrentTrace(), nullptr);
  TraceContext outer = TraceContext::NewRoot();
  TraceContext inner = TraceContext::NewRoot();
  {
    ScopedTrace a(&outer);
    EXPECT_EQ(CurrentTrace(), &outer);
    {
      ScopedTrace b(&inner);
      EXPECT_EQ(CurrentTrace(), &inner);
    }
    EXPECT_EQ(CurrentTrace(), &outer);
  }
  EXPECT_EQ(CurrentTrace(), nullptr);
}

testing::JsonFields ParseLine(const std::string& line) {
  absl::StatusOr<testing::JsonFields> parsed = testing::ParseJsonFields(line);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *std::move(parsed) : testing::JsonFields();
}

TEST(TraceContextTest, LogLinesWrittenUnderATraceNameIt) {
  TraceContext trace = TraceContext::ForIncoming(kExample, "", "요청-1");
  // Not printable ASCII: the request id is the trace id.
  ASSERT_EQ(trace.request_id, kTraceId);
  trace = TraceContext::ForIncoming(kExample, "", "req-\"1\"");
  std::string out = testing::CaptureStderr([&] {
    ScopedTrace in_trace(&trace);
    Log(LogLevel::kWarning, "inside", {{"n", int64_t{1}}});
  });
  testing::JsonFields line = ParseLine(out);
  auto text = [&](const std::string& key) {
    auto it = line.find(key);
    return it == line.end() ? std::string("(absent)") : it->second.string_value();
  };
  EXPECT_EQ(text("trace_id"), kTraceId) << out;
  EXPECT_EQ(text("span_id"), trace.span_id) << out;
  EXPECT_EQ(text("parent_span_id"), kParentId) << out;
  EXPECT_EQ(text("request_id"), "req-\"1\"") << out;
  ASSERT_EQ(line.count("n"), 1u) << out;
  EXPECT_EQ(line.at("n").number_value(), 1);

  out = testing::CaptureStderr([] { Log(LogLevel::kWarning, "outside"); });
  EXPECT_FALSE(absl::StrContains(out, "trace_id")) << out;
}

}  // namespace
}  // namespace sanhak
