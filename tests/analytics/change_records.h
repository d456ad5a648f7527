// Change records as the services' relays write them, for the analytics tests that feed
// a change stream without the services.
#ifndef SANHAK_TESTS_ANALYTICS_CHANGE_RECORDS_H_
#define SANHAK_TESTS_ANALYTICS_CHANGE_RECORDS_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "sanhak/changes/v1/changes.pb.h"
#include "sanhak/events/v1/events.pb.h"

namespace sanhak::analytics {

// The events service's record of seminar `name` (titled after it) at `sequence`.
inline changes::v1::ChangeRecord SeminarChange(
    const std::string& name, int64_t sequence, int64_t revision = 1,
    changes::v1::ChangeKind kind = changes::v1::CREATED) {
  events::v1::Activity a;
  a.set_name(name);
  a.set_kind(events::v1::SEMINAR);
  a.set_title(absl::StrCat("세미나 ", name));
  changes::v1::ChangeRecord r;
  r.set_id(absl::StrCat("events-", sequence));
  r.set_service("events");
  r.set_sequence(sequence);
  r.set_resource_name(name);
  r.set_collection("activities");
  r.set_kind(kind);
  r.set_revision(revision);
  r.mutable_state()->PackFrom(a);
  return r;
}

// The seminar "activities/seminar-{sequence}", created at `sequence`.
inline changes::v1::ChangeRecord NumberedSeminar(int64_t sequence, int64_t revision = 1) {
  return SeminarChange(absl::StrCat("activities/seminar-", sequence), sequence, revision);
}

}  // namespace sanhak::analytics

#endif  // SANHAK_TESTS_ANALYTICS_CHANGE_RECORDS_H_
