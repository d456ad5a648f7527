// Validation helpers shared by the services' request checks.
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

// -1, 0, 1 as a < b, a == b, a > b (unset parts compare as 0).
int CompareDates(const google::type::Date& a, const google::type::Date& b);

}  // namespace sanhak

#endif  // SANHAK_COMMON_VALIDATION_H_
