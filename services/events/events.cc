#include "services/events/events.h"

#include <algorithm>
#include <initializer_list>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/resource_names.h"
#include "common/status.h"
#include "common/time_proto.h"
#include "common/time_zones.h"
#include "common/validation.h"

namespace sanhak::events {
namespace {

using crud::CheckNames;
using crud::Commit;
using crud::CreateOnce;
using crud::Decode;
using crud::DeleteResource;
using crud::GetByName;
using crud::GetResource;
using crud::ImportAll;
using crud::IndexKey;
using crud::kMaxNameChars;
using crud::kMaxTextChars;
using crud::ListResources;
using crud::AppendWith;
using crud::EnumFilter;
using crud::ListSpec;
using crud::ParentFilter;
using crud::NameFilter;
using crud::NewName;
using crud::NoDependents;
using crud::NotFound;
using crud::Path;
using crud::Prepared;
using crud::Reference;
using crud::RefusedWhileReferenced;
using crud::SearchText;
using crud::SetMeta;
using crud::UpdateResource;
using google::protobuf::Timestamp;
using store::IndexEntry;
using store::ReadView;
using store::Resource;
using store::WriteTransaction;

// The collections of the kinds named here, as the protos name them (google.api.resource
// and, for the registry's, google.api.resource_definition; common/resource_kind.h), read
// on first use.
const std::string& Activities() { return crud::CollectionOf<v1::Activity>(); }
const std::string& Registrations() { return crud::CollectionOf<v1::Registration>(); }
const std::string& Outcomes() { return crud::CollectionOf<v1::Outcome>(); }
const std::string& Councils() {
  return crud::CollectionNamedBy<v1::Outcome>("council");
}
const std::string& Organizations() {
  return crud::CollectionNamedBy<v1::Registration>("organization");
}
constexpr char kDefaultTimeZone[] = "Asia/Seoul";

// Bounds of what a caller sends (each stated in events.proto). Together they keep the
// largest valid resource far inside one gRPC message (4 MiB by default), counting 4 bytes
// a character and a few bytes of tag and length a field:
//   activity: title, organizer, venue, city 4 x 800 B + description 32,000 B + time zone,
//     country, press slot, name, etag, times < 1 KB                            ~  36 KB
//   + councils 50 x 75 B                                                       ~   4 KB
//   + sessions 50 x (title 803 + fields 20 x 73 + councils 50 x 75 + 10)       ~ 301 KB
//   + timetable 200 x (id 65 + times 2 x 17 + title 803 + note 803 + leads 12 + 10)
//                                                                              ~ 346 KB
//   = under 700 KB, a sixth of the 4 MiB response limit (--max_message_bytes): any page
//   holds at least one activity, and size-paged readers always make progress; and under
//   the 1 MiB request limit (--max_request_bytes), so the largest valid one can be sent.
//   outcome: title 803 + description 32,003 + counts 50 x (metric 803 + 13)   ~  74 KB
//   registration: three person texts 3 x 803 + names, state, times            ~   3 KB
constexpr int kMaxActivityCouncils = 50;
constexpr int kMaxSessions = 50;
constexpr int kMaxSessionFields = 20;
constexpr int kMaxSessionCouncils = kMaxActivityCouncils;
constexpr int kMaxTimetableSlots = 200;
constexpr int kMaxSlotLeads = 10;
constexpr int kMaxOutcomeCounts = 50;
// Attendance as reported: no event of the program comes near; a larger figure is a typo.
constexpr int64_t kMaxReportedAttendance = 10'000'000;
// KRW: 10조원, far above any one program's budget; an outcome's amount beyond it is a
// mistake. With at most kMaxOutcomes outcomes, every sum the analytics service reports is
// at most 10^13 x 900,000 = 9 x 10^18 < INT64_MAX (9.22 x 10^18): it cannot overflow.
constexpr int64_t kMaxAmountKrw = 10'000'000'000'000;
static_assert(kMaxAmountKrw <= INT64_MAX / kMaxOutcomes, "sums of amounts must fit int64");
// An outcome count (tasks planned, companies met, ...).
constexpr int64_t kMaxCountValue = 1'000'000'000;

bool IsSet(const Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

// Each timestamp a caller sets, within google.protobuf.Timestamp's range; false when any
// is not (so no time arithmetic runs on it).
bool ValidTimestamps(std::initializer_list<std::pair<const Timestamp*, std::string>> stamps,
                     FieldViolations& v) {
  bool valid = true;
  for (const auto& [t, path] : stamps) {
    if (!IsValidTimestamp(*t)) {
      ValidateTimestamp(*t, path, v);
      valid = false;
    }
  }
  return valid;
}

absl::Time FromProto(const Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string Indexed(absl::string_view path, int i) { return absl::StrCat(path, "[", i, "]"); }

// A name in a request and the field path it was found at.
using References = std::vector<std::pair<std::string, std::string>>;

// Asks the registry about every referenced name (once each), then tells `next`: OK when
// it holds them all, INVALID_ARGUMENT with a violation at each path whose name it does
// not hold, UNAVAILABLE when it cannot answer. With `refuse_deleted`, a name the registry
// holds soft-deleted is FAILED_PRECONDITION (reason RESOURCE_DELETED) naming it and its
// path: what already names a deleted council keeps resolving, but no write may newly
// name one. Returns at once.
void CheckInRegistry(RegistryDirectory* registry, References refs, absl::Time deadline,
                     crud::StatusDone next, bool refuse_deleted = true) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& [path, name] : refs) {
    if (seen.insert(name).second) names.push_back(name);
  }
  if (names.empty()) return next(absl::OkStatus());
  registry->Check(
      names, deadline,
      [refs = std::move(refs), next = std::move(next), refuse_deleted](
          absl::StatusOr<RegistryDirectory::Answer> answer) mutable {
        if (!answer.ok()) return next(answer.status());
        std::set<std::string> absent(answer->missing.begin(), answer->missing.end());
        std::set<std::string> deleted(answer->deleted.begin(), answer->deleted.end());
        FieldViolations v;
        std::vector<std::string> deleted_refs;
        for (const auto& [path, name] : refs) {
          if (absent.count(name) > 0) {
            v.Add(path, absl::StrCat(name, " does not exist in the registry"));
          } else if (refuse_deleted && deleted.count(name) > 0) {
            deleted_refs.push_back(absl::StrCat(path, " names ", name));
          }
        }
        if (absl::Status s = v.ToStatus(); !s.ok()) return next(std::move(s));
        if (!deleted_refs.empty()) {
          return next(WithReason(
              absl::FailedPreconditionError(absl::StrCat(
                  absl::StrJoin(deleted_refs, ", "),
                  ", deleted in the registry; a write may not name a deleted resource")),
              "RESOURCE_DELETED"));
        }
        next(absl::OkStatus());
      });
}

// The same, waiting for the answer: for the import at start-up only.
absl::Status CheckInRegistryAndWait(RegistryDirectory* registry, References refs,
                                    absl::Time deadline) {
  absl::Status result;
  absl::Notification answered;
  // The import keeps what it stored naming councils that were deleted since: a deleted
  // council still resolves.
  CheckInRegistry(
      registry, std::move(refs), deadline,
      [&](absl::Status s) {
        result = std::move(s);
        answered.Notify();
      },
      /*refuse_deleted=*/false);
  answered.WaitForNotification();
  return result;
}

// ------------------------------------------------------------------ activities

// Checks an activity needs nothing else for; normalizes it (time zone, slot order).
// Collects the registry names it refers to into `refs`.
void ValidateActivity(v1::Activity& a, absl::string_view prefix, FieldViolations& v,
                      References& refs) {
  if (a.kind() == v1::ACTIVITY_KIND_UNSPECIFIED || !v1::ActivityKind_IsValid(a.kind())) {
    v.Add(Path(prefix, "kind"), "must name the kind of activity");
  }
  ValidateText(a.title(), Path(prefix, "title"), true, kMaxNameChars, v);
  ValidateText(a.description(), Path(prefix, "description"), false, kMaxTextChars, v,
               TextForm::kMultiline);
  ValidateText(a.organizer(), Path(prefix, "organizer"), false, kMaxNameChars, v);
  ValidateText(a.place().venue(), Path(prefix, "place.venue"), false, kMaxNameChars, v);
  ValidateText(a.place().city(), Path(prefix, "place.city"), false, kMaxNameChars, v);
  ValidateText(a.press_open_until_slot(), Path(prefix, "press_open_until_slot"), false,
               kMaxNameChars, v);
  // Every list is bounded before it is walked: a 20,000-entry list costs one violation.
  const bool lists_fit = a.councils_size() <= kMaxActivityCouncils &&
                         a.sessions_size() <= kMaxSessions &&
                         a.timetable_size() <= kMaxTimetableSlots;
  ValidateListSize(a.councils_size(), kMaxActivityCouncils, Path(prefix, "councils"), v);
  ValidateListSize(a.sessions_size(), kMaxSessions, Path(prefix, "sessions"), v);
  ValidateListSize(a.timetable_size(), kMaxTimetableSlots, Path(prefix, "timetable"), v);
  if (!lists_fit) return;
  if (a.councils_size() == 0) v.Add(Path(prefix, "councils"), "at least one council");
  std::set<std::string> councils;
  for (int i = 0; i < a.councils_size(); ++i) {
    std::string path = Indexed(Path(prefix, "councils"), i);
    if (!ParseName(a.councils(i), Councils(), path).ok()) {
      v.Add(path, "must be councils/{id}");
    } else if (!councils.insert(a.councils(i)).second) {
      v.Add(path, absl::StrCat(QuoteValue(a.councils(i)), " is listed twice"));
    } else {
      refs.emplace_back(path, a.councils(i));
    }
  }

  if (a.time_zone().empty()) a.set_time_zone(kDefaultTimeZone);
  ValidateTimeZone(a.time_zone(), Path(prefix, "time_zone"), v);
  const bool timed = IsSet(a.start_time()) || IsSet(a.end_time());
  const bool times_valid = ValidTimestamps({{&a.start_time(), Path(prefix, "start_time")},
                                            {&a.end_time(), Path(prefix, "end_time")}},
                                           v);
  if (!times_valid) {
    // Named above; the order checks below need both in range.
  } else if (timed && !(IsSet(a.start_time()) && IsSet(a.end_time()))) {
    v.Add(Path(prefix, IsSet(a.start_time()) ? "end_time" : "start_time"),
          "start and end are set together, or neither (undated)");
  } else if (timed && FromProto(a.end_time()) <= FromProto(a.start_time())) {
    v.Add(Path(prefix, "end_time"), "must be after start_time");
  }
  const std::string& country = a.place().country();
  if (!country.empty() && (country.size() != 2 || !absl::ascii_isupper(country[0]) ||
                           !absl::ascii_isupper(country[1]))) {
    v.Add(Path(prefix, "place.country"), "must be an ISO 3166-1 alpha-2 code, e.g. KR");
  }
  ValidateNonNegative(a.reported_attendance(), kMaxReportedAttendance,
                      Path(prefix, "reported_attendance"), v);

  std::set<int> session_numbers;
  for (int i = 0; i < a.sessions_size(); ++i) {
    const v1::ForumSession& s = a.sessions(i);
    std::string path = Indexed(Path(prefix, "sessions"), i);
    if (s.number() < 1 || !session_numbers.insert(s.number()).second) {
      v.Add(Path(path, "number"), "must be 1 or more and unique within the activity");
    }
    ValidateText(s.title(), Path(path, "title"), true, kMaxNameChars, v);
    ValidateListSize(s.fields_size(), kMaxSessionFields, Path(path, "fields"), v);
    ValidateListSize(s.councils_size(), kMaxSessionCouncils, Path(path, "councils"), v);
    if (s.fields_size() > kMaxSessionFields || s.councils_size() > kMaxSessionCouncils) {
      continue;
    }
    for (int j = 0; j < s.fields_size(); ++j) {
      if (!ParseName(s.fields(j), "fields", "f").ok()) {
        v.Add(Indexed(Path(path, "fields"), j), "must be fields/{id}");
      }
    }
    for (int j = 0; j < s.councils_size(); ++j) {
      if (councils.count(s.councils(j)) == 0) {
        v.Add(Indexed(Path(path, "councils"), j),
              absl::StrCat(QuoteValue(s.councils(j)), " is not one of the activity's councils"));
      }
    }
  }

  // Slots: valid each, then in time order without overlap and inside the activity.
  std::set<std::string> slot_ids;
  std::vector<int> order(a.timetable_size());
  std::iota(order.begin(), order.end(), 0);
  bool slots_valid = true;
  for (int i = 0; i < a.timetable_size(); ++i) {
    const v1::TimetableSlot& slot = a.timetable(i);
    std::string path = Indexed(Path(prefix, "timetable"), i);
    if (!IsValidId(slot.id()) || !slot_ids.insert(slot.id()).second) {
      v.Add(Path(path, "id"), "must be a unique [a-z][a-z0-9-]{0,62} id");
    }
    ValidateText(slot.title(), Path(path, "title"), true, kMaxNameChars, v);
    ValidateText(slot.note(), Path(path, "note"), false, kMaxNameChars, v);
    ValidateListSize(slot.leads_size(), kMaxSlotLeads, Path(path, "leads"), v);
    if (slot.kind() == v1::SLOT_KIND_UNSPECIFIED || !v1::SlotKind_IsValid(slot.kind())) {
      v.Add(Path(path, "kind"), "must name the kind of slot");
    }
    if (slot.kind() == v1::PRESENTATION_SESSION &&
        session_numbers.count(slot.session_number()) == 0) {
      v.Add(Path(path, "session_number"), "must name one of the activity's sessions");
    }
    if (!IsSet(slot.start_time()) || !IsSet(slot.end_time())) {
      v.Add(Path(path, "start_time"), "a slot has a start and an end");
      slots_valid = false;
    } else if (!ValidTimestamps({{&slot.start_time(), Path(path, "start_time")},
                                 {&slot.end_time(), Path(path, "end_time")}},
                                v)) {
      slots_valid = false;
    } else if (FromProto(slot.end_time()) <= FromProto(slot.start_time())) {
      v.Add(Path(path, "end_time"), "must be after start_time");
      slots_valid = false;
    } else if (!timed || !times_valid ||
               FromProto(slot.start_time()) < FromProto(a.start_time()) ||
               FromProto(slot.end_time()) > FromProto(a.end_time())) {
      v.Add(path, "must lie within the activity's start and end");
    }
  }
  if (slots_valid) {
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
      return FromProto(a.timetable(x).start_time()) < FromProto(a.timetable(y).start_time());
    });
    for (size_t k = 1; k < order.size(); ++k) {
      const v1::TimetableSlot& previous = a.timetable(order[k - 1]);
      const v1::TimetableSlot& slot = a.timetable(order[k]);
      if (FromProto(slot.start_time()) < FromProto(previous.end_time())) {
        v.Add(Indexed(Path(prefix, "timetable"), order[k]),
              absl::StrCat("\"", slot.id(), "\" overlaps \"", previous.id(), "\""));
      }
    }
    google::protobuf::RepeatedPtrField<v1::TimetableSlot> sorted;
    for (int i : order) *sorted.Add() = a.timetable(i);
    a.mutable_timetable()->Swap(&sorted);
  }
  if (!a.press_open_until_slot().empty() && slot_ids.count(a.press_open_until_slot()) == 0) {
    v.Add(Path(prefix, "press_open_until_slot"), "must be the id of one of the slots");
  }
}

absl::StatusOr<Prepared<v1::Activity>> PrepareActivity(v1::Activity a,
                                                       absl::string_view prefix) {
  FieldViolations v;
  References ignored;
  ValidateActivity(a, prefix, v, ignored);
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  Prepared<v1::Activity> out;
  out.search = SearchText({a.title(), a.description(), a.place().venue(), a.place().city(),
                           a.organizer()});
  a.clear_registration_count();
  crud::ClearMeta(a);
  out.message = std::move(a);
  return out;
}

// The index entry of a registration that counts toward its activity's
// registration_count.
const std::vector<IndexEntry>& ActiveRegistration() {
  static const auto* active = new std::vector<IndexEntry>{{"active", "true"}};
  return *active;
}

absl::StatusOr<v1::Activity> ActivityWithCount(const Resource& resource, int64_t active) {
  absl::StatusOr<v1::Activity> a = Decode<v1::Activity>(resource);
  if (!a.ok()) return a;
  a->set_registration_count(static_cast<int32_t>(active));
  SetMeta(resource, *a);
  return a;
}

absl::StatusOr<v1::Activity> ActivityOut(ReadView& view, const Resource& resource) {
  absl::StatusOr<std::vector<int64_t>> active =
      view.CountEach(Registrations(), "parent", {resource.name}, ActiveRegistration());
  if (!active.ok()) return active.status();
  return ActivityWithCount(resource, active->front());
}

// ------------------------------------------------------------------ registrations

struct RegistrationName {
  std::string activity;  // activities/{a}
  std::string id;
};

absl::StatusOr<RegistrationName> ParseRegistrationName(absl::string_view name,
                                                       absl::string_view field) {
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() != 4 || parts[0] != Activities() || parts[2] != Registrations() ||
      !IsValidId(parts[1]) || !IsValidId(parts[3])) {
    return InvalidField(std::string(field),
                        absl::StrCat("must look like activities/{activity}/registrations/"
                                     "{registration}, got \"", name, "\""));
  }
  return RegistrationName{absl::StrCat(Activities(), "/", parts[1]), std::string(parts[3])};
}

// Who attends, as one key per activity: the organization's name or the person's contact.
std::string AttendeeKey(const v1::Registration& r) {
  return r.has_person() ? absl::StrCat("person:", NormalizeSearchText(r.person().contact()))
                        : r.organization();
}

void ValidateRegistration(const v1::Registration& r, absl::string_view prefix,
                          FieldViolations& v, References& refs) {
  switch (r.attendee_case()) {
    case v1::Registration::kOrganization:
      if (!ParseName(r.organization(), Organizations(), "o").ok()) {
        v.Add(Path(prefix, "organization"), "must be organizations/{id}");
      } else {
        refs.emplace_back(Path(prefix, "organization"), r.organization());
      }
      break;
    case v1::Registration::kPerson:
      ValidateText(r.person().display_name(), Path(prefix, "person.display_name"), true,
                   kMaxNameChars, v);
      ValidateText(r.person().contact(), Path(prefix, "person.contact"), true,
                   kMaxNameChars, v);
      ValidateText(r.person().affiliation(), Path(prefix, "person.affiliation"), false,
                   kMaxNameChars, v);
      break;
    default:
      v.Add(Path(prefix, "organization"), "an organization or a person attends");
  }
  if (!v1::RegistrationState_IsValid(r.state())) {
    v.Add(Path(prefix, "state"), "is not a known state");
  }
  if (r.has_check_in_time()) {
    ValidateTimestamp(r.check_in_time(), Path(prefix, "check_in_time"), v);
  }
}

// Which state changes a registration may make.
bool AllowedTransition(v1::RegistrationState from, v1::RegistrationState to) {
  if (from == to) return true;
  switch (from) {
    case v1::REGISTERED: return to == v1::CHECKED_IN || to == v1::CANCELLED;
    case v1::CHECKED_IN: return to == v1::CANCELLED;
    case v1::CANCELLED: return to == v1::REGISTERED;
    default: return false;
  }
}

// How a registration is being written: by the API (state changes must be allowed
// transitions) or by an import (the data says what the state is).
enum class Writer { kApi, kImport };

absl::StatusOr<Prepared<v1::Registration>> PrepareRegistration(
    ReadView& view, v1::Registration r, const v1::Registration* before,
    absl::string_view prefix, Writer writer = Writer::kApi) {
  absl::StatusOr<RegistrationName> parsed = ParseRegistrationName(r.name(), Path(prefix, "name"));
  if (!parsed.ok()) return parsed.status();
  FieldViolations v;
  References ignored;
  ValidateRegistration(r, prefix, v, ignored);
  auto activity = Reference(view, parsed->activity, Activities(), Path(prefix, "name"), v);
  if (!activity.ok()) return activity.status();
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  if (r.state() == v1::REGISTRATION_STATE_UNSPECIFIED) r.set_state(v1::REGISTERED);
  // One registration per attendee per activity, also when an update changes who attends.
  if (before == nullptr || AttendeeKey(*before) != AttendeeKey(r)) {
    absl::StatusOr<int64_t> same = view.Count(
        Registrations(), {{"parent", parsed->activity}, {"attendee", AttendeeKey(r)}});
    if (!same.ok()) return same.status();
    if (*same > 0) {
      return WithReason(absl::AlreadyExistsError(absl::StrCat(
                            "this attendee is already registered for ", parsed->activity)),
                        "ALREADY_REGISTERED");
    }
  }
  v1::RegistrationState from = before != nullptr ? before->state() : v1::REGISTERED;
  if (writer == Writer::kApi && !AllowedTransition(from, r.state())) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat(
                          "a registration cannot go from ", v1::RegistrationState_Name(from),
                          " to ", v1::RegistrationState_Name(r.state()))),
                      "INVALID_STATE_TRANSITION");
  }
  if (r.state() != v1::CHECKED_IN) {
    r.clear_check_in_time();
  } else if (writer == Writer::kApi || !r.has_check_in_time()) {
    // Output only for callers (a time they send is ignored): checked in now, or when it
    // was first recorded. An import keeps the time its data file recorded.
    *r.mutable_check_in_time() = before != nullptr && before->has_check_in_time()
                                     ? before->check_in_time()
                                     : ToTimestamp(absl::Now());
  }
  Prepared<v1::Registration> out;
  out.index = {{"parent", parsed->activity}, {"attendee", AttendeeKey(r)}};
  if (r.state() != v1::CANCELLED) out.index.push_back({"active", "true"});
  crud::ClearMeta(r);
  out.message = std::move(r);
  return out;
}

absl::StatusOr<v1::Registration> RegistrationOut(ReadView&, const Resource& resource) {
  absl::StatusOr<v1::Registration> r = Decode<v1::Registration>(resource);
  if (r.ok()) SetMeta(resource, *r);
  return r;
}

// ------------------------------------------------------------------ outcomes

void ValidateOutcome(const v1::Outcome& o, absl::string_view prefix, FieldViolations& v,
                     References& refs) {
  if (!ParseName(o.council(), Councils(), "c").ok()) {
    v.Add(Path(prefix, "council"), "must be councils/{id}");
  } else {
    refs.emplace_back(Path(prefix, "council"), o.council());
  }
  if (o.category() == v1::OUTCOME_CATEGORY_UNSPECIFIED ||
      !v1::OutcomeCategory_IsValid(o.category())) {
    v.Add(Path(prefix, "category"), "must name the category of outcome");
  }
  ValidateText(o.title(), Path(prefix, "title"), true, kMaxNameChars, v);
  ValidateText(o.description(), Path(prefix, "description"), false, kMaxTextChars, v,
               TextForm::kMultiline);
  ValidateDate(o.start_date(), Path(prefix, "start_date"), v);
  ValidateDate(o.end_date(), Path(prefix, "end_date"), v);
  if (o.has_end_date() && o.end_date().year() != 0) {
    if (o.start_date().year() == 0) {
      v.Add(Path(prefix, "start_date"), "a period needs its start");
    } else if (CompareDates(o.end_date(), o.start_date()) < 0) {
      v.Add(Path(prefix, "end_date"), "must not be before start_date");
    }
  }
  for (auto [has, value, name] :
       {std::tuple{o.has_total_budget_krw(), o.total_budget_krw(), "total_budget_krw"},
        {o.has_national_share_krw(), o.national_share_krw(), "national_share_krw"},
        {o.has_deal_amount_krw(), o.deal_amount_krw(), "deal_amount_krw"}}) {
    if (has) ValidateNonNegative(value, kMaxAmountKrw, Path(prefix, name), v);
  }
  if (o.has_total_budget_krw() && o.has_national_share_krw() &&
      o.national_share_krw() > o.total_budget_krw()) {
    v.Add(Path(prefix, "national_share_krw"),
          absl::StrCat("the national share ", o.national_share_krw(),
                       " exceeds the total budget ", o.total_budget_krw()));
  }
  ValidateListSize(o.counts_size(), kMaxOutcomeCounts, Path(prefix, "counts"), v);
  if (o.counts_size() > kMaxOutcomeCounts) return;
  std::set<std::string> metrics;
  for (int i = 0; i < o.counts_size(); ++i) {
    std::string path = Indexed(Path(prefix, "counts"), i);
    if (o.counts(i).metric().empty() || !metrics.insert(o.counts(i).metric()).second) {
      v.Add(Path(path, "metric"), "is required and unique within the outcome");
    } else {
      ValidateText(o.counts(i).metric(), Path(path, "metric"), true, kMaxNameChars, v);
    }
    ValidateNonNegative(o.counts(i).value(), kMaxCountValue, Path(path, "value"), v);
  }
}

absl::StatusOr<Prepared<v1::Outcome>> PrepareOutcome(ReadView& view, v1::Outcome o,
                                                     absl::string_view prefix) {
  FieldViolations v;
  References ignored;
  ValidateOutcome(o, prefix, v, ignored);
  if (!o.activity().empty()) {
    auto activity = Reference(view, o.activity(), Activities(), Path(prefix, "activity"), v);
    if (!activity.ok()) return activity.status();
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  Prepared<v1::Outcome> out;
  out.search = SearchText({o.title(), o.description()});
  crud::ClearMeta(o);
  out.message = std::move(o);
  return out;
}

absl::StatusOr<v1::Outcome> OutcomeOut(ReadView&, const Resource& resource) {
  absl::StatusOr<v1::Outcome> o = Decode<v1::Outcome>(resource);
  if (o.ok()) SetMeta(resource, *o);
  return o;
}

// The registry names a patch would introduce: only masked fields can change.
bool Masked(const google::protobuf::FieldMask& mask, absl::string_view field) {
  if (mask.paths_size() == 0) return true;
  for (const std::string& p : mask.paths()) {
    if (p == field || absl::StartsWith(p, absl::StrCat(field, "."))) return true;
  }
  return false;
}

// ---------------------------------------------------------------------- who may write

// `{collection}/{id}` when the request names the id, else the collection alone (the
// audit trail's resource until the write knows the generated name).
std::string NameOrCollection(absl::string_view collection, absl::string_view id) {
  return id.empty() ? std::string(collection) : absl::StrCat(collection, "/", id);
}

// For an editor scoped to councils: every council `activity` (an activities/{a} name;
// empty = none) names is in its scope. A missing activity is left to the write's own
// checks (NOT_FOUND or a field violation). Every role may read an activity, so refusing
// with the council's name tells nothing a Get would not.
absl::Status ActivityInScope(const Caller& caller, ReadView& tx, absl::string_view activity,
                             absl::string_view what) {
  if (!crud::Scoped(caller) || activity.empty()) return absl::OkStatus();
  absl::StatusOr<std::optional<Resource>> found = tx.Get(activity);
  if (!found.ok()) return found.status();
  if (!found->has_value() || (*found)->collection != Activities()) return absl::OkStatus();
  absl::StatusOr<v1::Activity> a = Decode<v1::Activity>(**found);
  if (!a.ok()) return a.status();
  return crud::RequireCouncils(caller, a->councils(), absl::StrCat(what, " (", activity, ")"));
}

}  // namespace

crud::AuditedWrite Events::Audit(const Caller& caller, absl::string_view method,
                                 absl::string_view resource, absl::string_view request_id,
                                 const std::vector<std::string>& fields, bool validate_only) {
  return crud::AuditedWrite(
      store_, &auditor_,
      Auditor::Entry(caller, method, resource, request_id, fields, validate_only));
}

absl::StatusOr<audit::v1::ListAuditEntriesResponse> Events::ListAuditEntries(
    const Caller& caller, const audit::v1::ListAuditEntriesRequest& request) {
  return crud::ListAuditEntries<audit::v1::ListAuditEntriesResponse>(store_, caller, request);
}

// ---------------------------------------------------------------------- activities

absl::StatusOr<v1::Activity> Events::GetActivity(const v1::GetActivityRequest& request) {
  return GetByName<v1::Activity>(store_, request.name(), Activities(), ActivityOut);
}

absl::StatusOr<v1::ListActivitiesResponse> Events::ListActivities(
    const v1::ListActivitiesRequest& request) {
  FieldViolations v;
  ListSpec spec(Activities(), request.page_size(), request.page_token(),
                absl::StrCat(request.council(), "|", request.kind(), "|",
                             request.start_time().seconds(), "|",
                             request.end_time().seconds()));
  NameFilter(request.council(), Councils(), IndexKey<v1::Activity>("councils"), "council",
             spec.query.all_of, v);
  EnumFilter(request.kind(), IndexKey<v1::Activity>("kind"), "kind", spec.query.all_of, v);
  const bool from = IsSet(request.start_time()), to = IsSet(request.end_time());
  if (!ValidTimestamps({{&request.start_time(), "start_time"}, {&request.end_time(), "end_time"}},
                       v)) {
    // Named; no comparison of out-of-range times.
  } else if (from && to && FromProto(request.end_time()) <= FromProto(request.start_time())) {
    v.Add("end_time", "must be after start_time");
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  if (from || to) {
    // Activities overlapping [start_time, end_time); undated ones never match a range.
    absl::Time lo = from ? FromProto(request.start_time()) : absl::InfinitePast();
    absl::Time hi = to ? FromProto(request.end_time()) : absl::InfiniteFuture();
    spec.keep = [lo, hi](const Resource& r) {
      absl::StatusOr<v1::Activity> a = Decode<v1::Activity>(r);
      return a.ok() && IsSet(a->start_time()) && FromProto(a->start_time()) < hi &&
             FromProto(a->end_time()) > lo;
    };
  }
  // Every activity's registration_count, for the whole page at once.
  auto counts = std::make_shared<absl::flat_hash_map<std::string, int64_t>>();
  spec.before_render = [counts](ReadView& view,
                                const std::vector<const Resource*>& page) -> absl::Status {
    std::vector<std::string> names;
    names.reserve(page.size());
    for (const Resource* r : page) names.push_back(r->name);
    absl::StatusOr<std::vector<int64_t>> active =
        view.CountEach(Registrations(), "parent", names, ActiveRegistration());
    if (!active.ok()) return active.status();
    for (size_t i = 0; i < names.size(); ++i) (*counts)[names[i]] = (*active)[i];
    return absl::OkStatus();
  };
  return ListResources<v1::ListActivitiesResponse>(
      store_, std::move(spec), request.query(),
      AppendWith(&v1::ListActivitiesResponse::add_activities,
                 [counts](ReadView&, const Resource& r) {
                   return ActivityWithCount(r, (*counts)[r.name]);
                 }));
}

void Events::CreateActivity(const Caller& caller, const v1::CreateActivityRequest& request, absl::Time deadline,
    crud::Done<v1::Activity> done) {
  crud::AuditedWrite audit = Audit(caller, "CreateActivity", NameOrCollection(Activities(), request.activity_id()), request.request_id(), crud::SetFields(request.activity()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "CreateActivity"); !s.ok()) return done(std::move(s));
  if (absl::Status s = crud::RequireCouncils(caller, request.activity().councils(), "activity.councils");
      !s.ok()) {
    return done(std::move(s));
  }
  v1::Activity activity = request.activity();
  FieldViolations v;
  References refs;
  ValidateActivity(activity, "activity", v, refs);
  if (absl::Status s = v.ToStatus(); !s.ok()) return done(std::move(s));
  CheckInRegistry(
      registry_, std::move(refs), deadline,
      [&request, audit, activity = std::move(activity),
       done = std::move(done)](absl::Status checked) mutable {
        if (!checked.ok()) return done(std::move(checked));
        CreateOnce<v1::Activity>(
            &audit, request, request.request_id(),
            [&request, audit, activity = std::move(activity)](
                WriteTransaction& tx) mutable -> absl::StatusOr<v1::Activity> {
              absl::StatusOr<std::string> name =
                  NewName(tx, Activities(), request.activity_id(), "activity_id", "activity");
              if (!name.ok()) return name.status();
              audit.Named(*name);
              activity.set_name(*name);
              auto prepared = PrepareActivity(activity, "activity");
              if (!prepared.ok()) return prepared.status();
              absl::StatusOr<Resource> saved = Commit(tx, Activities(), *prepared);
              if (!saved.ok()) return saved.status();
              return ActivityOut(tx, *saved);
            },
            std::move(done));
      });
}

void Events::UpdateActivity(const Caller& caller, const v1::UpdateActivityRequest& request, absl::Time deadline,
    crud::Done<v1::Activity> done) {
  crud::AuditedWrite audit = Audit(caller, "UpdateActivity", request.activity().name(), "", crud::MaskedFields(request.update_mask(), crud::MutablePaths<v1::Activity>()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "UpdateActivity"); !s.ok()) return done(std::move(s));
  if (Masked(request.update_mask(), "councils")) {
    if (absl::Status s = crud::RequireCouncils(caller, request.activity().councils(), "activity.councils");
        !s.ok()) {
      return done(std::move(s));
    }
  }
  References refs;
  if (Masked(request.update_mask(), "councils")) {
    FieldViolations v;
    for (int i = 0; i < request.activity().councils_size(); ++i) {
      std::string path = Indexed("activity.councils", i);
      if (!ParseName(request.activity().councils(i), Councils(), path).ok()) {
        v.Add(path, "must be councils/{id}");
      } else {
        refs.emplace_back(path, request.activity().councils(i));
      }
    }
    if (absl::Status s = v.ToStatus(); !s.ok()) return done(std::move(s));
  }
  CheckInRegistry(
      registry_, std::move(refs), deadline,
      [&request, audit, caller, done = std::move(done)](absl::Status checked) mutable {
        if (!checked.ok()) return done(std::move(checked));
        UpdateResource(
            &audit, request.activity(), request.update_mask(),
            ParseName(request.activity().name(), Activities(), "activity.name").status(),
            crud::MutablePaths<v1::Activity>(),
            [caller](WriteTransaction& tx, v1::Activity a,
                     const v1::Activity* before) -> absl::StatusOr<Resource> {
              // The councils it named before the change must be in scope as well.
              if (absl::Status s = crud::RequireCouncils(caller, before->councils(), before->name());
                  !s.ok()) {
                return s;
              }
              auto prepared = PrepareActivity(std::move(a), "activity");
              if (!prepared.ok()) return prepared.status();
              return Commit(tx, Activities(), *prepared);
            },
            ActivityOut, request.validate_only(), std::move(done));
      });
}

void Events::DeleteActivity(const Caller& caller, const v1::DeleteActivityRequest& request,
    crud::StatusDone done) {
  crud::AuditedWrite audit = Audit(caller, "DeleteActivity", request.name(), "", {}, false);
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireAdmin(caller, "DeleteActivity"); !s.ok()) return done(std::move(s));
  const std::string& name = request.name();
  DeleteResource(
      &audit, name, request.etag(), ParseName(name, Activities(), "name").status(),
      [](WriteTransaction& tx, const std::string& name) -> absl::Status {
        if (absl::Status s = RefusedWhileReferenced(tx, name, Registrations(),
                                                    {"parent", name}, "registrations",
                                                    "ACTIVITY_HAS_REGISTRATIONS");
            !s.ok()) {
          return s;
        }
        return RefusedWhileReferenced(tx, name, Outcomes(), {IndexKey<v1::Outcome>("activity"), name},
                                      "outcomes",
                                      "ACTIVITY_HAS_OUTCOMES");
      },
      [](WriteTransaction&) { return absl::OkStatus(); }, std::move(done));
}

// ---------------------------------------------------------------------- registrations

absl::StatusOr<v1::Registration> Events::GetRegistration(
    const v1::GetRegistrationRequest& request) {
  return GetResource<v1::Registration>(
      store_, request.name(), ParseRegistrationName(request.name(), "name").status(),
      RegistrationOut);
}

absl::StatusOr<v1::ListRegistrationsResponse> Events::ListRegistrations(
    const v1::ListRegistrationsRequest& request) {
  FieldViolations v;
  ListSpec spec(Registrations(), request.page_size(), request.page_token(),
                absl::StrCat(request.parent(), "|", request.state(), "|",
                             request.organization()));
  ParentFilter(request.parent(), Activities(), spec.query.all_of, v);
  EnumFilter(request.state(), IndexKey<v1::Registration>("state"), "state", spec.query.all_of,
             v);
  NameFilter(request.organization(), Organizations(), IndexKey<v1::Registration>("organization"),
             "organization",
             spec.query.all_of, v);
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  return ListResources<v1::ListRegistrationsResponse>(
      store_, std::move(spec), "",
      AppendWith(&v1::ListRegistrationsResponse::add_registrations, RegistrationOut));
}

void Events::CreateRegistration(const Caller& caller, const v1::CreateRegistrationRequest& request, absl::Time deadline,
    crud::Done<v1::Registration> done) {
  crud::AuditedWrite audit = Audit(caller, "CreateRegistration", request.parent(), request.request_id(), crud::SetFields(request.registration()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "CreateRegistration"); !s.ok()) return done(std::move(s));
  absl::StatusOr<std::string> activity_id = ParseName(request.parent(), Activities(), "parent");
  if (!activity_id.ok()) return done(activity_id.status());
  FieldViolations v;
  References refs;
  ValidateRegistration(request.registration(), "registration", v, refs);
  if (!request.registration_id().empty() && !IsValidId(request.registration_id())) {
    v.Add("registration_id", "must match [a-z][a-z0-9-]{0,62} and not end in '-'");
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return done(std::move(s));
  CheckInRegistry(
      registry_, std::move(refs), deadline,
      [&request, audit, caller, done = std::move(done)](absl::Status checked) mutable {
    if (!checked.ok()) return done(std::move(checked));
    CreateOnce<v1::Registration>(
      &audit, request, request.request_id(),
      [&request, audit, caller](WriteTransaction& tx) -> absl::StatusOr<v1::Registration> {
        absl::StatusOr<std::optional<Resource>> parent = tx.Get(request.parent());
        if (!parent.ok()) return parent.status();
        if (!parent->has_value()) return NotFound(request.parent());
        if (absl::Status s = ActivityInScope(caller, tx, request.parent(), "parent"); !s.ok()) {
          return s;
        }
        v1::Registration r = request.registration();
        std::string id = request.registration_id();
        if (id.empty()) {
          id = r.has_organization() ? std::string(absl::StripPrefix(r.organization(),
                                                                    "organizations/"))
                                    : GenerateId("person");
        }
        r.set_name(absl::StrCat(request.parent(), "/", Registrations(), "/", id));
        audit.Named(r.name());
        // The attendee check first: it names the real conflict (ALREADY_REGISTERED).
        auto prepared = PrepareRegistration(tx, std::move(r), nullptr, "registration");
        if (!prepared.ok()) return prepared.status();
        absl::StatusOr<std::optional<Resource>> existing = tx.Get(prepared->message.name());
        if (!existing.ok()) return existing.status();
        if (existing->has_value()) {
          return WithReason(absl::AlreadyExistsError(
                                absl::StrCat(prepared->message.name(), " already exists")),
                            "ALREADY_EXISTS");
        }
        absl::StatusOr<Resource> saved = Commit(tx, Registrations(), *prepared);
        if (!saved.ok()) return saved.status();
        return RegistrationOut(tx, *saved);
      },
      std::move(done));
  });
}

void Events::UpdateRegistration(const Caller& caller, const v1::UpdateRegistrationRequest& request,
    crud::Done<v1::Registration> done) {
  crud::AuditedWrite audit = Audit(caller, "UpdateRegistration", request.registration().name(), "", crud::MaskedFields(request.update_mask(), crud::MutablePaths<v1::Registration>()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "UpdateRegistration"); !s.ok()) return done(std::move(s));
  UpdateResource(
      &audit, request.registration(), request.update_mask(),
      ParseRegistrationName(request.registration().name(), "registration.name").status(),
      crud::MutablePaths<v1::Registration>(),
      [caller](WriteTransaction& tx, v1::Registration r,
               const v1::Registration* before) -> absl::StatusOr<Resource> {
        // A registration belongs to its activity: the activity's councils decide.
        absl::StatusOr<RegistrationName> parsed = ParseRegistrationName(r.name(), "registration.name");
        if (!parsed.ok()) return parsed.status();
        if (absl::Status s = ActivityInScope(caller, tx, parsed->activity, "registration.name");
            !s.ok()) {
          return s;
        }
        auto prepared = PrepareRegistration(tx, std::move(r), before, "registration");
        if (!prepared.ok()) return prepared.status();
        return Commit(tx, Registrations(), *prepared);
      },
      RegistrationOut,
      request.validate_only(), std::move(done));
}

void Events::DeleteRegistration(const Caller& caller, const v1::DeleteRegistrationRequest& request,
    crud::StatusDone done) {
  crud::AuditedWrite audit = Audit(caller, "DeleteRegistration", request.name(), "", {}, false);
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireAdmin(caller, "DeleteRegistration"); !s.ok()) return done(std::move(s));
  DeleteResource(
      &audit, request.name(), request.etag(),
      ParseRegistrationName(request.name(), "name").status(),
      [](WriteTransaction&, const std::string&) { return absl::OkStatus(); },
      [](WriteTransaction&) { return absl::OkStatus(); }, std::move(done));
}

// ---------------------------------------------------------------------- outcomes

absl::StatusOr<v1::Outcome> Events::GetOutcome(const v1::GetOutcomeRequest& request) {
  return GetByName<v1::Outcome>(store_, request.name(), Outcomes(), OutcomeOut);
}

absl::StatusOr<v1::ListOutcomesResponse> Events::ListOutcomes(
    const v1::ListOutcomesRequest& request) {
  FieldViolations v;
  ListSpec spec(Outcomes(), request.page_size(), request.page_token(),
                absl::StrCat(request.council(), "|", request.category()));
  NameFilter(request.council(), Councils(), IndexKey<v1::Outcome>("council"), "council",
             spec.query.all_of, v);
  EnumFilter(request.category(), IndexKey<v1::Outcome>("category"), "category",
             spec.query.all_of, v);
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  return ListResources<v1::ListOutcomesResponse>(
      store_, std::move(spec), request.query(),
      AppendWith(&v1::ListOutcomesResponse::add_outcomes, OutcomeOut));
}

void Events::CreateOutcome(const Caller& caller, const v1::CreateOutcomeRequest& request, absl::Time deadline,
    crud::Done<v1::Outcome> done) {
  crud::AuditedWrite audit = Audit(caller, "CreateOutcome", NameOrCollection(Outcomes(), request.outcome_id()), request.request_id(), crud::SetFields(request.outcome()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "CreateOutcome"); !s.ok()) return done(std::move(s));
  if (absl::Status s = crud::RequireCouncil(caller, request.outcome().council(), "outcome.council");
      !s.ok()) {
    return done(std::move(s));
  }
  FieldViolations v;
  References refs;
  ValidateOutcome(request.outcome(), "outcome", v, refs);
  if (absl::Status s = v.ToStatus(); !s.ok()) return done(std::move(s));
  CheckInRegistry(
      registry_, std::move(refs), deadline,
      [&request, audit, caller, max_outcomes = max_outcomes_,
       done = std::move(done)](absl::Status checked) mutable {
    if (!checked.ok()) return done(std::move(checked));
    CreateOnce<v1::Outcome>(
      &audit, request, request.request_id(),
      [&request, audit, caller, max_outcomes](WriteTransaction& tx)
          -> absl::StatusOr<v1::Outcome> {
        // An outcome of an activity belongs to that activity's councils too.
        if (absl::Status s = ActivityInScope(caller, tx, request.outcome().activity(),
                                             "outcome.activity");
            !s.ok()) {
          return s;
        }
        // The bound that keeps every sum of amounts within int64 (see kMaxAmountKrw).
        absl::StatusOr<int64_t> outcomes = tx.Count(Outcomes(), {});
        if (!outcomes.ok()) return outcomes.status();
        if (*outcomes >= max_outcomes) {
          return WithReason(
              absl::ResourceExhaustedError(absl::StrCat(
                  "the service holds ", *outcomes, " outcomes, its most (", max_outcomes,
                  "): the sums of their amounts must stay exact; delete outcomes first")),
              "OUTCOME_LIMIT");
        }
        absl::StatusOr<std::string> name =
            NewName(tx, Outcomes(), request.outcome_id(), "outcome_id", "outcome");
        if (!name.ok()) return name.status();
        audit.Named(*name);
        v1::Outcome o = request.outcome();
        o.set_name(*name);
        auto prepared = PrepareOutcome(tx, std::move(o), "outcome");
        if (!prepared.ok()) return prepared.status();
        absl::StatusOr<Resource> saved = Commit(tx, Outcomes(), *prepared);
        if (!saved.ok()) return saved.status();
        return OutcomeOut(tx, *saved);
      },
      std::move(done));
  });
}

void Events::UpdateOutcome(const Caller& caller, const v1::UpdateOutcomeRequest& request, absl::Time deadline,
    crud::Done<v1::Outcome> done) {
  crud::AuditedWrite audit = Audit(caller, "UpdateOutcome", request.outcome().name(), "", crud::MaskedFields(request.update_mask(), crud::MutablePaths<v1::Outcome>()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "UpdateOutcome"); !s.ok()) return done(std::move(s));
  if (Masked(request.update_mask(), "council")) {
    if (absl::Status s = crud::RequireCouncil(caller, request.outcome().council(), "outcome.council");
        !s.ok()) {
      return done(std::move(s));
    }
  }
  References refs;
  if (Masked(request.update_mask(), "council")) {
    if (!ParseName(request.outcome().council(), Councils(), "outcome.council").ok()) {
      return done(InvalidField("outcome.council", "must be councils/{id}"));
    }
    refs.emplace_back("outcome.council", request.outcome().council());
  }
  CheckInRegistry(
      registry_, std::move(refs), deadline,
      [&request, audit, caller, done = std::move(done)](absl::Status checked) mutable {
        if (!checked.ok()) return done(std::move(checked));
        UpdateResource(
            &audit, request.outcome(), request.update_mask(),
            ParseName(request.outcome().name(), Outcomes(), "outcome.name").status(),
            crud::MutablePaths<v1::Outcome>(),
            [caller](WriteTransaction& tx, v1::Outcome o,
                     const v1::Outcome* before) -> absl::StatusOr<Resource> {
              // What it belonged to before the change, and what it will belong to.
              for (const v1::Outcome* version : {before, static_cast<const v1::Outcome*>(&o)}) {
                if (absl::Status s = crud::RequireCouncil(caller, version->council(), version->name());
                    !s.ok()) {
                  return s;
                }
                if (absl::Status s = ActivityInScope(caller, tx, version->activity(),
                                                     "outcome.activity");
                    !s.ok()) {
                  return s;
                }
              }
              auto prepared = PrepareOutcome(tx, std::move(o), "outcome");
              if (!prepared.ok()) return prepared.status();
              return Commit(tx, Outcomes(), *prepared);
            },
            OutcomeOut, request.validate_only(), std::move(done));
      });
}

void Events::DeleteOutcome(const Caller& caller, const v1::DeleteOutcomeRequest& request,
    crud::StatusDone done) {
  crud::AuditedWrite audit = Audit(caller, "DeleteOutcome", request.name(), "", {}, false);
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireAdmin(caller, "DeleteOutcome"); !s.ok()) return done(std::move(s));
  DeleteResource(
      &audit, request.name(), request.etag(),
      ParseName(request.name(), Outcomes(), "name").status(),
      [](WriteTransaction&, const std::string&) { return absl::OkStatus(); },
      [](WriteTransaction&) { return absl::OkStatus(); }, std::move(done));
}

// ---------------------------------------------------------------------- import

// Raised whenever a Prepare function above changes the index entries it adds itself
// (those no field declares), so that what is stored is reindexed at the next start.
constexpr int kDerivedIndexVersion = 1;

absl::StatusOr<crud::IndexUpdate> Events::UpdateIndexes() {
  crud::IndexUpdate update;
  absl::Status s = crud::UpdateIndex<v1::Activity>(
      store_, Activities(), kDerivedIndexVersion,
      [](WriteTransaction&, v1::Activity a, const std::string& name) {
        return PrepareActivity(std::move(a), name);
      },
      update);
  if (s.ok()) {
    s = crud::UpdateIndex<v1::Registration>(
        store_, Registrations(), kDerivedIndexVersion,
        [](WriteTransaction& tx, v1::Registration r, const std::string& name) {
          // As stored: no state transition and no new attendee to check.
          const v1::Registration before = r;
          return PrepareRegistration(tx, std::move(r), &before, name, Writer::kImport);
        },
        update);
  }
  if (s.ok()) {
    s = crud::UpdateIndex<v1::Outcome>(
        store_, Outcomes(), kDerivedIndexVersion,
        [](WriteTransaction& tx, v1::Outcome o, const std::string& name) {
          return PrepareOutcome(tx, std::move(o), name);
        },
        update);
  }
  if (!s.ok()) return s;
  return update;
}

absl::StatusOr<crud::ImportSummary> Events::Import(const v1::EventsData& data,
                                                   absl::Time deadline) {
  for (absl::Status s : {CheckNames(data.activities(), Activities(), "activities"),
                         CheckNames(data.outcomes(), Outcomes(), "outcomes")}) {
    if (!s.ok()) return s;
  }
  // One round of registry questions for the whole bundle, before any write.
  FieldViolations v;
  References refs;
  for (int i = 0; i < data.activities_size(); ++i) {
    v1::Activity copy = data.activities(i);
    ValidateActivity(copy, Indexed("activities", i), v, refs);
  }
  for (int i = 0; i < data.registrations_size(); ++i) {
    ValidateRegistration(data.registrations(i), Indexed("registrations", i), v, refs);
  }
  for (int i = 0; i < data.outcomes_size(); ++i) {
    ValidateOutcome(data.outcomes(i), Indexed("outcomes", i), v, refs);
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  if (absl::Status s = CheckInRegistryAndWait(registry_, std::move(refs), deadline); !s.ok()) {
    return s;
  }

  crud::ImportSummary summary;
  absl::Status status = store_->Write([&](WriteTransaction& tx) -> absl::Status {
    absl::Status s = ImportAll(
        tx, Activities(), "activities", data.activities(),
        [](WriteTransaction&, v1::Activity a, absl::string_view prefix) {
          return PrepareActivity(std::move(a), prefix);
        },
        NoDependents<v1::Activity>, summary);
    if (s.ok()) {
      s = ImportAll(
          tx, Registrations(), "registrations", data.registrations(),
          [](WriteTransaction& tx, v1::Registration r,
             absl::string_view prefix) -> absl::StatusOr<Prepared<v1::Registration>> {
            std::optional<v1::Registration> before;
            absl::StatusOr<std::optional<Resource>> stored = tx.Get(r.name());
            if (!stored.ok()) return stored.status();
            if (stored->has_value()) {
              absl::StatusOr<v1::Registration> decoded = Decode<v1::Registration>(**stored);
              if (!decoded.ok()) return decoded.status();
              before = *std::move(decoded);
            }
            return PrepareRegistration(tx, std::move(r), before ? &*before : nullptr, prefix,
                                       Writer::kImport);
          },
          NoDependents<v1::Registration>, summary);
    }
    if (s.ok()) {
      s = ImportAll(tx, Outcomes(), "outcomes", data.outcomes(), PrepareOutcome,
                    NoDependents<v1::Outcome>, summary);
    }
    return s;
  });
  if (!status.ok()) return status;
  return summary;
}

}  // namespace sanhak::events
