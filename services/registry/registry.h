// The registry's domain logic: validation, references between resources, idempotent
// creates, etag-checked updates, pagination and text search. Knows nothing of gRPC; the
// handler in registry_service.h translates.
#ifndef SANHAK_SERVICES_REGISTRY_REGISTRY_H_
#define SANHAK_SERVICES_REGISTRY_REGISTRY_H_

#include "absl/status/statusor.h"
#include "common/audit_log.h"
#include "common/caller.h"
#include "common/crud.h"
#include "common/resource_store.h"
#include "google/protobuf/empty.pb.h"
#include "sanhak/registry/v1/registry.pb.h"
#include "sanhak/registry/v1/registry_data.pb.h"

namespace sanhak::registry {

using ImportSummary = crud::ImportSummary;

// Every write takes the Caller the edge established (common/caller.h) and refuses, with
// PERMISSION_DENIED and nothing written, a caller whose role or council scope does not
// allow it (see registry.proto, "Authorization"); each write asked for, accepted or
// refused, is recorded in the audit trail (common/audit_log.h).
//
// Reads answer at once. Writes (Create, Update, Delete, Undelete) return at once and tell
// `done` their outcome after the commit that holds them; the request must stay valid until
// then. Complexes, councils and organizations are soft-deleted (AIP-164; see
// registry.proto): Delete sets delete_time, Get still answers, List hides them unless
// show_deleted, Update refuses them, Undelete brings them back.
class Registry {
 public:
  // `store` must outlive the registry.
  // `audit_log` (may be null) gets a line per audited write.
  explicit Registry(store::ResourceStore* store, AuditLog* audit_log = nullptr)
      : store_(store),
        auditor_(store, "registry", audit_log),
        councils_(store),
        complexes_(store),
        organizations_(store),
        complex_pages_(store),
        council_pages_(store),
        organization_pages_(store),
        membership_pages_(store) {}

  absl::StatusOr<v1::Field> GetField(const v1::GetFieldRequest& request);
  absl::StatusOr<v1::ListFieldsResponse> ListFields(const v1::ListFieldsRequest& request);

  absl::StatusOr<v1::Region> GetRegion(const v1::GetRegionRequest& request);
  absl::StatusOr<v1::ListRegionsResponse> ListRegions(const v1::ListRegionsRequest& request);

  absl::StatusOr<v1::IndustrialComplex> GetComplex(const v1::GetComplexRequest& request);
  absl::StatusOr<v1::ListComplexesResponse> ListComplexes(
      const v1::ListComplexesRequest& request);
  void CreateComplex(const Caller& caller, const v1::CreateComplexRequest& request,
      crud::Done<v1::IndustrialComplex> done);
  void UpdateComplex(const Caller& caller, const v1::UpdateComplexRequest& request,
      crud::Done<v1::IndustrialComplex> done);
  void DeleteComplex(const Caller& caller, const v1::DeleteComplexRequest& request, crud::StatusDone done);
  void UndeleteComplex(const Caller& caller, const v1::UndeleteComplexRequest& request,
      crud::Done<v1::IndustrialComplex> done);

  absl::StatusOr<v1::Council> GetCouncil(const v1::GetCouncilRequest& request);
  absl::StatusOr<v1::ListCouncilsResponse> ListCouncils(const v1::ListCouncilsRequest& request);
  void CreateCouncil(const Caller& caller, const v1::CreateCouncilRequest& request,
      crud::Done<v1::Council> done);
  void UpdateCouncil(const Caller& caller, const v1::UpdateCouncilRequest& request,
      crud::Done<v1::Council> done);
  void DeleteCouncil(const Caller& caller, const v1::DeleteCouncilRequest& request, crud::StatusDone done);
  void UndeleteCouncil(const Caller& caller, const v1::UndeleteCouncilRequest& request,
      crud::Done<v1::Council> done);

  absl::StatusOr<v1::Organization> GetOrganization(const v1::GetOrganizationRequest& request);
  absl::StatusOr<v1::ListOrganizationsResponse> ListOrganizations(
      const v1::ListOrganizationsRequest& request);
  void CreateOrganization(const Caller& caller, const v1::CreateOrganizationRequest& request,
      crud::Done<v1::Organization> done);
  void UpdateOrganization(const Caller& caller, const v1::UpdateOrganizationRequest& request,
      crud::Done<v1::Organization> done);
  void DeleteOrganization(const Caller& caller, const v1::DeleteOrganizationRequest& request, crud::StatusDone done);
  void UndeleteOrganization(const Caller& caller, const v1::UndeleteOrganizationRequest& request,
      crud::Done<v1::Organization> done);

  absl::StatusOr<v1::Membership> GetMembership(const v1::GetMembershipRequest& request);
  absl::StatusOr<v1::ListMembershipsResponse> ListMemberships(
      const v1::ListMembershipsRequest& request);
  void CreateMembership(const Caller& caller, const v1::CreateMembershipRequest& request,
      crud::Done<v1::Membership> done);
  void UpdateMembership(const Caller& caller, const v1::UpdateMembershipRequest& request,
      crud::Done<v1::Membership> done);
  void DeleteMembership(const Caller& caller, const v1::DeleteMembershipRequest& request, crud::StatusDone done);

  absl::StatusOr<v1::ReportedFigure> GetReportedFigure(
      const v1::GetReportedFigureRequest& request);
  absl::StatusOr<v1::ListReportedFiguresResponse> ListReportedFigures(
      const v1::ListReportedFiguresRequest& request);

  // Creates or updates every resource of `data` in one transaction, with the same
  // validation as the API. Resources equal to what is stored are left alone (revision and
  // etag unchanged), so importing twice changes nothing. A bad bundle writes nothing; the
  // error names the offending entry (e.g. "councils[3].complexes[1]").
  absl::StatusOr<ImportSummary> Import(const v1::RegistryData& data);
  // Writes the index entries of every stored resource again where a release that
  // derived them otherwise wrote them (crud::UpdateIndex); run at start, before Import.
  absl::StatusOr<crud::IndexUpdate> UpdateIndexes();

  // The audit trail; admin only.
  absl::StatusOr<audit::v1::ListAuditEntriesResponse> ListAuditEntries(
      const Caller& caller, const audit::v1::ListAuditEntriesRequest& request);
  // Records refusals made before the domain (the edge's role check).
  Auditor& auditor() { return auditor_; }

 private:
  // Audits one write of `method` on `resource` by `caller`.
  crud::AuditedWrite Audit(const Caller& caller, absl::string_view method,
                           absl::string_view resource, absl::string_view request_id,
                           const std::vector<std::string>& fields, bool validate_only);

  store::ResourceStore* store_;
  Auditor auditor_;
  // The hottest reads (the events service checks councils and organizations on every
  // write), answered from memory until the next commit.
  crud::ReadCache<v1::Council> councils_;
  crud::ReadCache<v1::IndustrialComplex> complexes_;
  crud::ReadCache<v1::Organization> organizations_;
  // List pages, keyed by the request (crud::PageKey): the registry changes rarely and is
  // read often, so a page is served from memory until the next commit. On PostgreSQL a
  // hit still costs one single-row read of the revision (ResourceStore::generation).
  crud::ReadCache<v1::ListComplexesResponse> complex_pages_;
  crud::ReadCache<v1::ListCouncilsResponse> council_pages_;
  crud::ReadCache<v1::ListOrganizationsResponse> organization_pages_;
  crud::ReadCache<v1::ListMembershipsResponse> membership_pages_;
};

}  // namespace sanhak::registry

#endif  // SANHAK_SERVICES_REGISTRY_REGISTRY_H_
