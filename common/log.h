// Structured logging: one JSON object per line on stderr, so log shippers parse it as is.
// (Abseil 20220623 has no absl/log; this is the small part of it the suite needs.)
#ifndef SANHAK_COMMON_LOG_H_
#define SANHAK_COMMON_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <variant>

#include "absl/strings/string_view.h"

namespace sanhak {

// A value of a log field: text, integer or floating point.
using LogValue = std::variant<std::string, int64_t, double>;
using LogField = std::pair<absl::string_view, LogValue>;

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Bounds on one line. Values often come from callers (a peer, an error message quoting a
// request), and a shipper may refuse or split a multi-megabyte line.
inline constexpr size_t kMaxLogValueBytes = 2048;
inline constexpr size_t kMaxLogLineBytes = 16384;

// Writes {"ts":..., "level":..., "msg":..., fields...} as one line; a line written under
// a trace (a call's handler, common/trace_context.h) also has "trace_id", "span_id",
// "parent_span_id" (when the trace came from a caller) and "request_id" after "msg". Thread-safe: each line
// is written with a single write() so lines from concurrent threads never interleave.
// The message and each text value beyond kMaxLogValueBytes are cut on a UTF-8 boundary and
// end in "…(N bytes)"; a field that would take the line past kMaxLogLineBytes is left out
// and counted in "fields_dropped". Every line is valid JSON in valid UTF-8.
void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields = {});

// Lines below `level` are dropped. Set once at start-up; kInfo by default.
void SetMinLogLevel(LogLevel level);

// Appends `text` to `out` as a JSON string literal, quotes included. Bytes that are not
// valid UTF-8 become U+FFFD, so the line stays parseable whatever `text` holds.
void AppendJsonString(std::string* out, absl::string_view text);

}  // namespace sanhak

#endif  // SANHAK_COMMON_LOG_H_
