#include "common/time_zones.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sanhak {
namespace {

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
         c == '+' || c == '.';
}

std::string ZoneInfoDir() {
  // The same directory absl's FileZoneInfoSource opens names below.
  const char* tzdir = std::getenv("TZDIR");
  return tzdir != nullptr && *tzdir != '\0' ? tzdir : "/usr/share/zoneinfo";
}

}  // namespace

bool IsTimeZoneNameSyntax(absl::string_view name) {
  if (name.empty() || name.size() > kMaxTimeZoneNameChars) return false;
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part.empty() || part[0] == '.' || part[0] == '-') return false;
    for (char c : part) {
      if (!IsNameChar(c)) return false;
    }
  }
  return true;
}

absl::flat_hash_set<std::string> ParseTzdataZiNames(absl::string_view tzdata_zi) {
  absl::flat_hash_set<std::string> names;
  for (absl::string_view line : absl::StrSplit(tzdata_zi, '\n')) {
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    // "Z Asia/Seoul 8:27:52 - LMT 1908 Ap" declares a zone; "L Asia/Kolkata
    // Asia/Calcutta" a link, named by its last word.
    absl::string_view name;
    if (words.size() >= 2 && words[0] == "Z") {
      name = words[1];
    } else if (words.size() >= 3 && words[0] == "L") {
      name = words[2];
    } else {
      continue;
    }
    if (IsTimeZoneNameSyntax(name)) names.emplace(name);
  }
  return names;
}

const absl::flat_hash_set<std::string>& KnownTimeZoneNames() {
  static const auto* names = [] {
    std::ifstream in(ZoneInfoDir() + "/tzdata.zi", std::ios::binary);
    std::stringstream text;
    if (in) text << in.rdbuf();
    return new absl::flat_hash_set<std::string>(ParseTzdataZiNames(text.str()));
  }();
  return *names;
}

std::optional<absl::TimeZone> FindTimeZone(absl::string_view name) {
  if (!IsTimeZoneNameSyntax(name)) return std::nullopt;
  if (KnownTimeZoneNames().count(name) == 0) return std::nullopt;
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(std::string(name), &zone)) return std::nullopt;
  return zone;
}

std::optional<absl::TimeZone> ValidateTimeZone(absl::string_view name, absl::string_view field,
                                               FieldViolations& violations) {
  if (!IsTimeZoneNameSyntax(name)) {
    violations.Add(std::string(field),
                   absl::StrCat(QuoteValue(name), " is not an IANA time zone name (at most ",
                                kMaxTimeZoneNameChars,
                                " characters of letters, digits, '_', '-', '+' and '.' in "
                                "'/'-separated parts; never a path)"));
    return std::nullopt;
  }
  std::optional<absl::TimeZone> zone = FindTimeZone(name);
  if (!zone.has_value()) {
    violations.Add(std::string(field),
                   absl::StrCat(QuoteValue(name),
                                " is not an IANA time zone this server knows, e.g. Asia/Seoul"));
  }
  return zone;
}

}  // namespace sanhak
