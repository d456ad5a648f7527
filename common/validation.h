// Validation helpers shared by the services' request checks, and the UTF-8 helpers that
// keep quoted values short (errors, logs).
#ifndef SANHAK_COMMON_VALIDATION_H_
#define SANHAK_COMMON_VALIDATION_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/type/date.pb.h"

namespace sanhak {

// A google.type.Date as googleapis allows it: a full date, a year and month (day 0), or a
// year alone; or all zero (unset). Violations are reported on `field`.
void ValidateDate(const google::type::Date& date, absl::string_view field,
                  FieldViolations& violations);

// Whether a text may span lines: a name or title is one line; a description, summary or
// source may hold line breaks (\n, \r) and tabs.
enum class TextForm { kLine, kMultiline };

// Required, at most `max_chars` Unicode characters, strictly valid UTF-8 (no overlong
// forms, surrogates or code points beyond U+10FFFF), and none of the characters that make
// a text display other than it reads: C0 and C1 control characters and DEL (except tab,
// line feed and carriage return in kMultiline text), the bidirectional embeddings,
// overrides and isolates U+202A..U+202E and U+2066..U+2069 (a right-to-left override
// makes "gpj.exe" read "exe.jpg"), and U+FEFF (byte order mark, zero-width no-break
// space). The violation names the rule and the character. Hangul and every other
// printable script pass.
void ValidateText(absl::string_view text, absl::string_view field, bool required,
                  size_t max_chars, FieldViolations& violations,
                  TextForm form = TextForm::kLine);

// A violation on `field` when a list has more than `max_entries` entries.
void ValidateListSize(int entries, int max_entries, absl::string_view field,
                      FieldViolations& violations);

// A violation on `field` when `value` is outside [0, max].
void ValidateNonNegative(int64_t value, int64_t max, absl::string_view field,
                         FieldViolations& violations);

// A violation on `field` when `timestamp` is outside what google.protobuf.Timestamp
// allows (0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999999Z, nanos 0..999,999,999).
void ValidateTimestamp(const google::protobuf::Timestamp& timestamp, absl::string_view field,
                       FieldViolations& violations);

// Unicode characters (code points) in valid UTF-8 text.
size_t Utf8Length(absl::string_view text);
bool IsValidUtf8(absl::string_view text);

// The longest prefix of `text` of at most `max_bytes` bytes that does not split a UTF-8
// character: a cut through a character would leave invalid UTF-8, which a proto3 string
// field (google.rpc.Status.message) or a JSON parser then rejects.
absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes);

// `text` itself when it has at most `max_bytes` bytes; otherwise a prefix cut on a
// character boundary followed by the marker "…(N bytes)", N being the size of `text`,
// the whole at most `max_bytes` bytes (for `max_bytes` of at least 32). Applying it twice
// changes nothing, so a value cut where it is quoted is not cut again at the edge.
std::string Abbreviate(absl::string_view text, size_t max_bytes);

// -1, 0, 1 as a < b, a == b, a > b (unset parts compare as 0), for any values of the
// parts (an invalid date compares without overflow).
int CompareDates(const google::type::Date& a, const google::type::Date& b);

}  // namespace sanhak

#endif  // SANHAK_COMMON_VALIDATION_H_
