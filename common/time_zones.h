// Time zones by IANA name, and only the names the system's tz database declares.
//
// absl::LoadTimeZone maps any string to a file path below $TZDIR (an absolute path or a
// "file:" prefix as is), and caches every name it is given for the life of the process,
// the ones it fails to load too. A caller's string handed to it directly therefore reads
// files it names (/etc/localtime, ../../etc/passwd) and grows memory without bound (6,000
// unique 16 KB names: 100 MB never freed). Here a name is looked up in the set of names
// the tz database declares, read once, before the loader ever sees it: at most those few
// hundred names are ever cached, and nothing but them reaches the file system.
#ifndef SANHAK_COMMON_TIME_ZONES_H_
#define SANHAK_COMMON_TIME_ZONES_H_

#include <optional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/status.h"

namespace sanhak {

// The longest IANA name is 32 characters ("America/Argentina/ComodRivadavia").
inline constexpr size_t kMaxTimeZoneNameChars = 64;

// Whether `name` has the shape of an IANA time zone name: at most kMaxTimeZoneNameChars,
// '/'-separated components of ASCII letters, digits, '_', '-', '+' and '.', none empty,
// none starting with '.' or '-' (so no '.', '..', leading '/' or "file:"). The legacy
// names with digits and '+' ("Etc/GMT+9", "EST5EDT") have this shape too.
bool IsTimeZoneNameSyntax(absl::string_view name);

// The zone and link names declared by a tzdata.zi text (its "Z name ..." and
// "L target name" lines), those of IsTimeZoneNameSyntax only.
absl::flat_hash_set<std::string> ParseTzdataZiNames(absl::string_view tzdata_zi);

// The names the system's tz database declares: $TZDIR/tzdata.zi (the directory the zone
// loader reads; /usr/share/zoneinfo when TZDIR is unset or empty), read on the first call
// and kept. Empty when it cannot be read (Debian's tzdata package is not installed).
const absl::flat_hash_set<std::string>& KnownTimeZoneNames();

// The zone of a known name (KnownTimeZoneNames), or nullopt for any other string, which
// is never passed to the loader.
std::optional<absl::TimeZone> FindTimeZone(absl::string_view name);

// The zone named by a caller's `name`; a violation on `field` (and nullopt) when it is
// not a known IANA name.
std::optional<absl::TimeZone> ValidateTimeZone(absl::string_view name, absl::string_view field,
                                               FieldViolations& violations);

}  // namespace sanhak

#endif  // SANHAK_COMMON_TIME_ZONES_H_
