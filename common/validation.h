// Validation helpers shared by the services' request checks, and the UTF-8 helpers that
// keep quoted values short (errors, logs).
#ifndef SANHAK_COMMON_VALIDATION_H_
#define SANHAK_COMMON_VALIDATION_H_

#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "google/type/date.pb.h"

namespace sanhak {

// A google.type.Date as googleapis allows it: a full date, a year and month (day 0), or a
// year alone; or all zero (unset). Violations are reported on `field`.
void ValidateDate(const google::type::Date& date, absl::string_view field,
                  FieldViolations& violations);

// Required, at most `max_chars` Unicode characters, valid UTF-8.
void ValidateText(absl::string_view text, absl::string_view field, bool required,
                  size_t max_chars, FieldViolations& violations);

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

// -1, 0, 1 as a < b, a == b, a > b (unset parts compare as 0).
int CompareDates(const google::type::Date& a, const google::type::Date& b);

}  // namespace sanhak

#endif  // SANHAK_COMMON_VALIDATION_H_
