// Following one request across services: the W3C Trace Context `traceparent` header
// (https://www.w3.org/TR/trace-context/) and a request id, taken from the caller or made,
// passed on every call one service makes to another, and written in every log line
// written on the call's behalf.
//
// Each call a server handles is one span: it keeps the caller's trace id, takes the
// caller's span as its parent and gets a span id of its own, which becomes the parent of
// the calls it makes in turn. A caller that sends no traceparent (or one that does not
// parse: a bad header is ignored, as the specification asks, never an error) starts a
// new trace here. The request id is the caller's `x-request-id` when it is printable
// ASCII of at most kMaxRequestIdBytes, else the trace id.
//
// The server answers every call with its own `traceparent` and the `x-request-id` in
// the response's initial metadata, so a caller that sent neither can still quote the
// ids when it reports a problem.
//
// The current trace of a thread (ScopedTrace) is how the context reaches code that knows
// nothing of gRPC: the log (common/log.h) writes its ids into each line, and a client
// stub adds the headers to an outgoing call (AddTraceHeaders). A handler's synchronous
// part runs under its call's trace; work it hands to another thread carries the
// TraceContext along and opens a ScopedTrace there.
#ifndef SANHAK_COMMON_TRACE_CONTEXT_H_
#define SANHAK_COMMON_TRACE_CONTEXT_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace sanhak {

// The metadata keys (gRPC metadata keys are lowercase).
inline constexpr char kTraceparentHeader[] = "traceparent";
inline constexpr char kTracestateHeader[] = "tracestate";
inline constexpr char kRequestIdHeader[] = "x-request-id";

// A longer x-request-id is not taken (the trace id stands in for it).
inline constexpr size_t kMaxRequestIdBytes = 128;
// The specification lets a tracestate be cut at 512 characters; a longer one is dropped.
inline constexpr size_t kMaxTracestateBytes = 512;

// What a traceparent header carries.
struct TraceParent {
  std::string trace_id;   // 32 lowercase hex digits, not all zero
  std::string parent_id;  // 16 lowercase hex digits, not all zero
  uint8_t flags = 0;      // bit 0: sampled
};

// The header parsed as the specification says: version 00 exactly
// "00-{trace_id}-{parent_id}-{flags}"; a later version may append "-..." fields, which
// are ignored; version ff, upper case hex, all-zero ids or any other shape: nullopt.
std::optional<TraceParent> ParseTraceparent(absl::string_view header);

struct TraceContext {
  std::string trace_id;
  // This span (the call being served, or the process's own work).
  std::string span_id;
  // The caller's span; empty when this span started the trace.
  std::string parent_span_id;
  uint8_t flags = 0;
  std::string tracestate;
  std::string request_id;

  // A new trace with this as its first span.
  static TraceContext NewRoot();
  // The span of a call that arrived with these header values (empty when absent).
  static TraceContext ForIncoming(absl::string_view traceparent, absl::string_view tracestate,
                                  absl::string_view request_id);

  bool empty() const { return trace_id.empty(); }
  // "00-{trace_id}-{span_id}-{flags}": the header for a call this span makes (and the one
  // a server returns).
  std::string Traceparent() const;
};

// The current thread's trace: the innermost live ScopedTrace's, or null.
const TraceContext* CurrentTrace();

// Makes `trace` the current thread's trace until destroyed; nests.
class ScopedTrace {
 public:
  explicit ScopedTrace(const TraceContext* trace);
  ~ScopedTrace();
  ScopedTrace(const ScopedTrace&) = delete;
  ScopedTrace& operator=(const ScopedTrace&) = delete;

 private:
  const TraceContext* previous_;
};

// Adds the current trace's traceparent, tracestate and x-request-id to an outgoing call;
// does nothing when the thread has no trace.
void AddTraceHeaders(grpc::ClientContext* context);
// The same for `trace` (a client's own, whichever thread makes the call).
void AddTraceHeaders(const TraceContext& trace, grpc::ClientContext* context);

}  // namespace sanhak

#endif  // SANHAK_COMMON_TRACE_CONTEXT_H_
