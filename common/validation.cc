#include "common/validation.h"

#include "absl/strings/str_cat.h"

namespace sanhak {
namespace {

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
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
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = text[i];
    size_t extra;
    if (c < 0x80) {
      extra = 0;
    } else if ((c >> 5) == 0x6) {
      extra = 1;
    } else if ((c >> 4) == 0xe) {
      extra = 2;
    } else if ((c >> 3) == 0x1e) {
      extra = 3;
    } else {
      return false;
    }
    if (i + extra >= n && extra > 0) return false;
    for (size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return false;
    }
    i += extra + 1;
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
                  size_t max_chars, FieldViolations& violations) {
  if (!IsValidUtf8(text)) {
    violations.Add(std::string(field), "is not valid UTF-8");
  } else if (required && text.find_first_not_of(" \t\r\n") == absl::string_view::npos) {
    violations.Add(std::string(field), "is required");
  } else if (Utf8Length(text) > max_chars) {
    violations.Add(std::string(field), absl::StrCat("is longer than ", max_chars, " characters"));
  }
}

int CompareDates(const google::type::Date& a, const google::type::Date& b) {
  auto key = [](const google::type::Date& d) {
    return static_cast<int64_t>(d.year()) * 10000 + d.month() * 100 + d.day();
  };
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}

}  // namespace sanhak
