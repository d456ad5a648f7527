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

// Writes {"ts":..., "level":..., "msg":..., fields...} as one line. Thread-safe: each line
// is written with a single write() so lines from concurrent threads never interleave.
void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields = {});

// Lines below `level` are dropped. Set once at start-up; kInfo by default.
void SetMinLogLevel(LogLevel level);

// Appends `text` to `out` as a JSON string literal, quotes included.
void AppendJsonString(std::string* out, absl::string_view text);

}  // namespace sanhak

#endif  // SANHAK_COMMON_LOG_H_
