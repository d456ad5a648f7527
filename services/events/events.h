// The events service's domain logic: activities with their forum agenda, registrations
// and outcomes. Councils and organizations are checked against the registry before
// anything is written. Knows nothing of gRPC serving; events_service.h translates.
#ifndef SANHAK_SERVICES_EVENTS_EVENTS_H_
#define SANHAK_SERVICES_EVENTS_EVENTS_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/audit_log.h"
#include "common/caller.h"
#include "common/crud.h"
#include "common/resource_store.h"
#include "sanhak/events/v1/events.pb.h"
#include "sanhak/events/v1/events_data.pb.h"
#include "services/events/registry_directory.h"

namespace sanhak::events {

// Outcomes one events service holds at most; with the bound on each amount (10^13 KRW)
// it keeps every sum of amounts within int64 (events.cc, kMaxAmountKrw).
inline constexpr int64_t kMaxOutcomes = 900'000;

class Events {
 public:
  // `store` and `registry` must outlive this object. `max_outcomes` (at most
  // kMaxOutcomes) is lowered only by tests. `audit_log` (may be null) gets a line per
  // audited write.
  Events(store::ResourceStore* store, RegistryDirectory* registry,
         int64_t max_outcomes = kMaxOutcomes, AuditLog* audit_log = nullptr)
      : store_(store),
        registry_(registry),
        max_outcomes_(max_outcomes),
        auditor_(store, "events", audit_log) {}

  // Every write takes the Caller the edge established (common/caller.h) and refuses, with
  // PERMISSION_DENIED and nothing written, a caller whose role or council scope does not
  // allow it (events.proto, "Authorization"); each write asked for, accepted or refused,
  // is recorded in the audit trail (common/audit_log.h).

  // Every call that names councils or organizations asks the registry by `deadline`; when
  // it cannot answer the call fails UNAVAILABLE and writes nothing. Reads answer at once.
  // Writes return at once and tell `done` their outcome after the registry's answer and
  // the commit; no thread waits for either. The request must stay valid until `done`.
  absl::StatusOr<v1::Activity> GetActivity(const v1::GetActivityRequest& request);
  absl::StatusOr<v1::ListActivitiesResponse> ListActivities(
      const v1::ListActivitiesRequest& request);
  void CreateActivity(const Caller& caller, const v1::CreateActivityRequest& request, absl::Time deadline,
      crud::Done<v1::Activity> done);
  void UpdateActivity(const Caller& caller, const v1::UpdateActivityRequest& request, absl::Time deadline,
      crud::Done<v1::Activity> done);
  void DeleteActivity(const Caller& caller, const v1::DeleteActivityRequest& request, crud::StatusDone done);

  absl::StatusOr<v1::Registration> GetRegistration(const v1::GetRegistrationRequest& request);
  absl::StatusOr<v1::ListRegistrationsResponse> ListRegistrations(
      const v1::ListRegistrationsRequest& request);
  void CreateRegistration(const Caller& caller, const v1::CreateRegistrationRequest& request, absl::Time deadline,
      crud::Done<v1::Registration> done);
  void UpdateRegistration(const Caller& caller, const v1::UpdateRegistrationRequest& request,
      crud::Done<v1::Registration> done);
  void DeleteRegistration(const Caller& caller, const v1::DeleteRegistrationRequest& request, crud::StatusDone done);

  absl::StatusOr<v1::Outcome> GetOutcome(const v1::GetOutcomeRequest& request);
  absl::StatusOr<v1::ListOutcomesResponse> ListOutcomes(const v1::ListOutcomesRequest& request);
  void CreateOutcome(const Caller& caller, const v1::CreateOutcomeRequest& request, absl::Time deadline,
      crud::Done<v1::Outcome> done);
  void UpdateOutcome(const Caller& caller, const v1::UpdateOutcomeRequest& request, absl::Time deadline,
      crud::Done<v1::Outcome> done);
  void DeleteOutcome(const Caller& caller, const v1::DeleteOutcomeRequest& request, crud::StatusDone done);

  // Creates or updates every resource of `data` in one transaction, after one round of
  // registry checks; unchanged resources are left alone.
  absl::StatusOr<crud::ImportSummary> Import(const v1::EventsData& data, absl::Time deadline);
  // Writes the index entries of every stored resource again where a release that
  // derived them otherwise wrote them (crud::UpdateIndex); run at start, before Import.
  absl::StatusOr<crud::IndexUpdate> UpdateIndexes();

  // The audit trail; admin only.
  absl::StatusOr<audit::v1::ListAuditEntriesResponse> ListAuditEntries(
      const Caller& caller, const audit::v1::ListAuditEntriesRequest& request);
  // Records refusals made before the domain (the edge's role check).
  Auditor& auditor() { return auditor_; }

 private:
  crud::AuditedWrite Audit(const Caller& caller, absl::string_view method,
                           absl::string_view resource, absl::string_view request_id,
                           const std::vector<std::string>& fields, bool validate_only);

  store::ResourceStore* store_;
  RegistryDirectory* registry_;
  const int64_t max_outcomes_;
  Auditor auditor_;
};

}  // namespace sanhak::events

#endif  // SANHAK_SERVICES_EVENTS_EVENTS_H_
