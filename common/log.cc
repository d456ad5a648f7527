#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/trace_context.h"
#include "common/validation.h"

namespace sanhak {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

// Keys are names chosen in code; bounded all the same.
constexpr size_t kMaxLogKeyBytes = 128;
// Room kept at the end of a line for "fields_dropped" and the closing brace.
constexpr size_t kLineTailBytes = 48;

// The length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629: no
// overlong forms, no surrogates, nothing past U+10FFFF), or 0 if there is none.
size_t Utf8SequenceLength(absl::string_view text) {
  const unsigned char c = text[0];
  size_t length;
  unsigned char low = 0x80, high = 0xbf;  // Allowed range of the second byte.
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    length = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    length = 3;
    if (c == 0xe0) low = 0xa0;
    if (c == 0xed) high = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    length = 4;
    if (c == 0xf0) low = 0x90;
    if (c == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (size_t k = 1; k < length; ++k) {
    const unsigned char b = text[k];
    if (b < (k == 1 ? low : 0x80) || b > (k == 1 ? high : 0xbf)) return 0;
  }
  return length;
}

}  // namespace

void SetMinLogLevel(LogLevel level) { min_level.store(static_cast<int>(level)); }

void AppendJsonString(std::string* out, absl::string_view text) {
  out->push_back('"');
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = text[i];
    if (c >= 0x80) {
      // UTF-8 (Korean names) passes through unchanged; anything else becomes U+FFFD.
      const size_t length = Utf8SequenceLength(text.substr(i));
      if (length == 0) {
        out->append("\ufffd");
      } else {
        out->append(text.data() + i, length);
        i += length - 1;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < min_level.load(std::memory_order_relaxed)) return;
  std::string line = "{\"ts\":";
  AppendJsonString(&line, absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                           absl::UTCTimeZone()));
  line.append(",\"level\":");
  AppendJsonString(&line, LevelName(level));
  line.append(",\"msg\":");
  // Escaping grows a cut message at most 6-fold (control bytes as \u00XX): 12 KB, within
  // the line's bound.
  AppendJsonString(&line, Abbreviate(message, kMaxLogValueBytes));
  // The ids of the call this line is written for (common/trace_context.h): bounded and
  // checked when the call arrived, so they never push a line past its bound.
  if (const TraceContext* trace = CurrentTrace(); trace != nullptr && !trace->empty()) {
    absl::StrAppend(&line, ",\"trace_id\":\"", trace->trace_id, "\",\"span_id\":\"",
                    trace->span_id, "\"");
    if (!trace->parent_span_id.empty()) {
      absl::StrAppend(&line, ",\"parent_span_id\":\"", trace->parent_span_id, "\"");
    }
    line.append(",\"request_id\":");
    AppendJsonString(&line, trace->request_id);
  }
  std::string field;
  int dropped = 0;
  for (const auto& [key, value] : fields) {
    field.assign(",");
    AppendJsonString(&field, Abbreviate(key, kMaxLogKeyBytes));
    field.push_back(':');
    if (const auto* s = std::get_if<std::string>(&value)) {
      AppendJsonString(&field, Abbreviate(*s, kMaxLogValueBytes));
    } else if (const auto* i = std::get_if<int64_t>(&value)) {
      absl::StrAppend(&field, *i);
    } else if (const double d = std::get<double>(value); std::isfinite(d)) {
      absl::StrAppendFormat(&field, "%.3f", d);
    } else {
      // JSON has no NaN or infinity.
      field.append("null");
    }
    if (line.size() + field.size() + kLineTailBytes > kMaxLogLineBytes) {
      ++dropped;
      continue;
    }
    line.append(field);
  }
  if (dropped > 0) absl::StrAppend(&line, ",\"fields_dropped\":", dropped);
  line.append("}\n");
  // One write per line; short writes to stderr are not retried (logging must not block).
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace sanhak
