#include "common/validation.h"

#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/time_proto.h"

namespace sanhak {
namespace {

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// The code point at text[i], advancing i past it; -1 (i unchanged) where the bytes are not
// strictly valid UTF-8: a stray continuation byte, a truncated sequence, an overlong
// form, a surrogate (U+D800..U+DFFF) or a value beyond U+10FFFF.
int32_t NextCodePoint(absl::string_view text, size_t& i) {
  const unsigned char c = text[i];
  int32_t cp;
  size_t extra;
  int32_t min;
  if (c < 0x80) {
    ++i;
    return c;
  } else if ((c >> 5) == 0x6) {
    cp = c & 0x1f, extra = 1, min = 0x80;
  } else if ((c >> 4) == 0xe) {
    cp = c & 0x0f, extra = 2, min = 0x800;
  } else if ((c >> 3) == 0x1e) {
    cp = c & 0x07, extra = 3, min = 0x10000;
  } else {
    return -1;
  }
  if (text.size() - i <= extra) return -1;
  for (size_t k = 1; k <= extra; ++k) {
    const unsigned char next = text[i + k];
    if ((next >> 6) != 0x2) return -1;
    cp = (cp << 6) | (next & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
  i += extra + 1;
  return cp;
}

// Why a code point may not appear in text of `form`, or nullptr when it may.
const char* RefusedCharacter(int32_t cp, TextForm form) {
  if (cp < 0x20 || cp == 0x7f) {
    if (form == TextForm::kMultiline && (cp == '\t' || cp == '\n' || cp == '\r')) {
      return nullptr;
    }
    return form == TextForm::kMultiline
               ? "a control character (only tab and line breaks are allowed)"
               : "a control character (a line break or tab, too, is not allowed here)";
  }
  if (cp >= 0x80 && cp <= 0x9f) return "a C1 control character";
  if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) {
    return "a bidirectional embedding, override or isolate";
  }
  if (cp == 0xfeff) return "a byte order mark (zero-width no-break space)";
  return nullptr;
}

}  // namespace

void ValidateDate(const google::type::Date& date, absl::string_view field,
                  FieldViolations& violations) {
  const int y = date.year(), m = date.month(), d = date.day();
  if (y == 0 && m == 0 && d == 0) return;
  if (y < 1900 || y > 9999) {
    violations.Add(std::string(field), absl::StrCat("year ", y, " is outside 1900-9999"));
  } else if (m < 0 || m > 12) {
    violations.Add(std::string(field), absl::StrCat("month ", m, " is outside 1-12"));
  } else if (m == 0 && d != 0) {
    violations.Add(std::string(field), "a day needs a month");
  } else if (d < 0 || (m != 0 && d > DaysInMonth(y, m))) {
    violations.Add(std::string(field),
                   absl::StrCat("day ", d, " does not exist in ", y, "-", m));
  }
}

bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (NextCodePoint(text, i) < 0) return false;
  }
  return true;
}

absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  // text[end] is the first byte left out; while it continues a character begun before
  // it, move the cut back to that character's lead byte (at most 3 steps in UTF-8).
  for (int step = 0; step < 3 && end > 0; ++step) {
    if ((static_cast<unsigned char>(text[end]) >> 6) != 0x2) break;
    --end;
  }
  return text.substr(0, end);
}

std::string Abbreviate(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::string marker = absl::StrCat("\u2026(", text.size(), " bytes)");
  size_t room = max_bytes > marker.size() ? max_bytes - marker.size() : 0;
  return absl::StrCat(Utf8Prefix(text, room), marker);
}

size_t Utf8Length(absl::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c >> 6) != 0x2;
  return n;
}

void ValidateText(absl::string_view text, absl::string_view field, bool required,
                  size_t max_chars, FieldViolations& violations, TextForm form) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++chars) {
    const size_t at = i;
    const int32_t cp = NextCodePoint(text, i);
    if (cp < 0) {
      violations.Add(std::string(field),
                     absl::StrCat("is not valid UTF-8 (at byte ", at, ")"));
      return;
    }
    if (const char* why = RefusedCharacter(cp, form); why != nullptr) {
      violations.Add(std::string(field), absl::StrFormat("contains %s: U+%04X at character %d",
                                                         why, cp, chars + 1));
      return;
    }
  }
  if (required && text.find_first_not_of(" \t\r\n") == absl::string_view::npos) {
    violations.Add(std::string(field), "is required");
  } else if (chars > max_chars) {
    violations.Add(std::string(field), absl::StrCat("is longer than ", max_chars, " characters"));
  }
}

void ValidateListSize(int entries, int max_entries, absl::string_view field,
                      FieldViolations& violations) {
  if (entries > max_entries) {
    violations.Add(std::string(field),
                   absl::StrCat("has ", entries, " entries; at most ", max_entries));
  }
}

void ValidateNonNegative(int64_t value, int64_t max, absl::string_view field,
                         FieldViolations& violations) {
  if (value < 0) {
    violations.Add(std::string(field), "must not be negative");
  } else if (value > max) {
    violations.Add(std::string(field), absl::StrCat(value, " is above the maximum ", max));
  }
}

void ValidateTimestamp(const google::protobuf::Timestamp& timestamp, absl::string_view field,
                       FieldViolations& violations) {
  if (timestamp.nanos() < 0 || timestamp.nanos() > kMaxTimestampNanos) {
    violations.Add(std::string(field), absl::StrCat("nanos ", timestamp.nanos(),
                                                    " is outside 0..999999999"));
  } else if (timestamp.seconds() < kMinTimestampSeconds ||
             timestamp.seconds() > kMaxTimestampSeconds) {
    violations.Add(std::string(field),
                   absl::StrCat("seconds ", timestamp.seconds(),
                                " is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z (",
                                kMinTimestampSeconds, "..", kMaxTimestampSeconds, ")"));
  }
}

int CompareDates(const google::type::Date& a, const google::type::Date& b) {
  // Part by part: a key like year * 10000 + month * 100 + day overflows for a month
  // near INT_MAX, which a caller can send before the date is found invalid.
  auto key = [](const google::type::Date& d) {
    return std::make_tuple(d.year(), d.month(), d.day());
  };
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}

}  // namespace sanhak
