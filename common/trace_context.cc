#include "common/trace_context.h"

#include <algorithm>
#include <cstdint>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"

namespace sanhak {
namespace {

thread_local const TraceContext* current_trace = nullptr;

bool IsLowerHex(absl::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(absl::string_view text) { return text.find_first_not_of('0') == text.npos; }

// `bytes` random bytes as 2 * bytes lowercase hex digits, never all zero. Ids only need
// to be unique, not secret: a per-thread generator seeded from the OS is enough. (Not
// absl::BitGen: its seed pool lives in Debian's uninstrumented libabsl, behind a spin
// lock ThreadSanitizer cannot see, so two threads' first ids were reported as a race.)
std::string RandomHexId(int bytes) {
  thread_local std::mt19937_64 gen = [] {
    std::random_device os;
    std::seed_seq seed{os(), os(), os(), os(), os(), os(), os(), os()};
    return std::mt19937_64(seed);
  }();
  std::string id;
  do {
    id.clear();
    for (int i = 0; i < bytes; i += 8) {
      const uint64_t value = gen();
      const std::string hex = absl::StrCat(absl::Hex(value, absl::kZeroPad16));
      id.append(hex, 0, 2 * std::min(8, bytes - i));
    }
  } while (AllZero(id));
  return id;
}

bool AcceptableRequestId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) return false;
  for (char c : id) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

}  // namespace

std::optional<TraceParent> ParseTraceparent(absl::string_view header) {
  // version(2) - trace_id(32) - parent_id(16) - flags(2) = 55 characters.
  constexpr size_t kLength = 55;
  if (header.size() < kLength) return std::nullopt;
  const absl::string_view version = header.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return std::nullopt;
  if (version == "00" ? header.size() != kLength
                      : header.size() > kLength && header[kLength] != '-') {
    return std::nullopt;
  }
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  TraceParent parsed;
  const absl::string_view trace_id = header.substr(3, 32);
  const absl::string_view parent_id = header.substr(36, 16);
  const absl::string_view flags = header.substr(53, 2);
  if (!IsLowerHex(trace_id) || !IsLowerHex(parent_id) || !IsLowerHex(flags) ||
      AllZero(trace_id) || AllZero(parent_id)) {
    return std::nullopt;
  }
  int flag_bits = 0;
  if (!absl::SimpleHexAtoi(flags, &flag_bits)) return std::nullopt;
  parsed.trace_id = std::string(trace_id);
  parsed.parent_id = std::string(parent_id);
  parsed.flags = static_cast<uint8_t>(flag_bits);
  return parsed;
}

TraceContext TraceContext::NewRoot() {
  TraceContext trace;
  trace.trace_id = RandomHexId(16);
  trace.span_id = RandomHexId(8);
  trace.request_id = trace.trace_id;
  return trace;
}

TraceContext TraceContext::ForIncoming(absl::string_view traceparent,
                                       absl::string_view tracestate,
                                       absl::string_view request_id) {
  TraceContext trace;
  if (std::optional<TraceParent> parent = ParseTraceparent(traceparent)) {
    trace.trace_id = std::move(parent->trace_id);
    trace.parent_span_id = std::move(parent->parent_id);
    // Of the flags only "sampled" is defined; the others are not passed on.
    trace.flags = parent->flags & 0x01;
    // A tracestate means nothing without the traceparent it goes with.
    if (tracestate.size() <= kMaxTracestateBytes) trace.tracestate = std::string(tracestate);
  } else {
    trace.trace_id = RandomHexId(16);
  }
  trace.span_id = RandomHexId(8);
  trace.request_id =
      AcceptableRequestId(request_id) ? std::string(request_id) : trace.trace_id;
  return trace;
}

std::string TraceContext::Traceparent() const {
  return absl::StrCat("00-", trace_id, "-", span_id, "-",
                      absl::Hex(flags, absl::kZeroPad2));
}

const TraceContext* CurrentTrace() { return current_trace; }

ScopedTrace::ScopedTrace(const TraceContext* trace) : previous_(current_trace) {
  current_trace = trace;
}

ScopedTrace::~ScopedTrace() { current_trace = previous_; }

void AddTraceHeaders(grpc::ClientContext* context) {
  if (current_trace != nullptr) AddTraceHeaders(*current_trace, context);
}

void AddTraceHeaders(const TraceContext& trace, grpc::ClientContext* context) {
  if (trace.empty()) return;
  context->AddMetadata(kTraceparentHeader, trace.Traceparent());
  if (!trace.tracestate.empty()) context->AddMetadata(kTracestateHeader, trace.tracestate);
  context->AddMetadata(kRequestIdHeader, trace.request_id);
}

}  // namespace sanhak
