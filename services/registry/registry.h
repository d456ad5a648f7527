// The registry's domain logic: validation, references between resources, idempotent
// creates, etag-checked updates, pagination and text search. Knows nothing of gRPC; the
// handler in registry_service.h translates.
#ifndef SANHAK_SERVICES_REGISTRY_REGISTRY_H_
#define SANHAK_SERVICES_REGISTRY_REGISTRY_H_

#include "absl/status/statusor.h"
#include "common/crud.h"
#include "common/resource_store.h"
#include "google/protobuf/empty.pb.h"
#include "sanhak/registry/v1/registry.pb.h"
#include "sanhak/registry/v1/registry_data.pb.h"

namespace sanhak::registry {

using ImportSummary = crud::ImportSummary;

class Registry {
 public:
  // `store` must outlive the registry.
  explicit Registry(store::ResourceStore* store)
      : store_(store), councils_(store), complexes_(store), organizations_(store) {}

  absl::StatusOr<v1::Field> GetField(const v1::GetFieldRequest& request);
  absl::StatusOr<v1::ListFieldsResponse> ListFields(const v1::ListFieldsRequest& request);

  absl::StatusOr<v1::Region> GetRegion(const v1::GetRegionRequest& request);
  absl::StatusOr<v1::ListRegionsResponse> ListRegions(const v1::ListRegionsRequest& request);

  absl::StatusOr<v1::IndustrialComplex> GetComplex(const v1::GetComplexRequest& request);
  absl::StatusOr<v1::ListComplexesResponse> ListComplexes(
      const v1::ListComplexesRequest& request);
  absl::StatusOr<v1::IndustrialComplex> CreateComplex(
      const v1::CreateComplexRequest& request);
  absl::StatusOr<v1::IndustrialComplex> UpdateComplex(
      const v1::UpdateComplexRequest& request);
  absl::Status DeleteComplex(const v1::DeleteComplexRequest& request);

  absl::StatusOr<v1::Council> GetCouncil(const v1::GetCouncilRequest& request);
  absl::StatusOr<v1::ListCouncilsResponse> ListCouncils(const v1::ListCouncilsRequest& request);
  absl::StatusOr<v1::Council> CreateCouncil(const v1::CreateCouncilRequest& request);
  absl::StatusOr<v1::Council> UpdateCouncil(const v1::UpdateCouncilRequest& request);
  absl::Status DeleteCouncil(const v1::DeleteCouncilRequest& request);

  absl::StatusOr<v1::Organization> GetOrganization(const v1::GetOrganizationRequest& request);
  absl::StatusOr<v1::ListOrganizationsResponse> ListOrganizations(
      const v1::ListOrganizationsRequest& request);
  absl::StatusOr<v1::Organization> CreateOrganization(
      const v1::CreateOrganizationRequest& request);
  absl::StatusOr<v1::Organization> UpdateOrganization(
      const v1::UpdateOrganizationRequest& request);
  absl::Status DeleteOrganization(const v1::DeleteOrganizationRequest& request);

  absl::StatusOr<v1::Membership> GetMembership(const v1::GetMembershipRequest& request);
  absl::StatusOr<v1::ListMembershipsResponse> ListMemberships(
      const v1::ListMembershipsRequest& request);
  absl::StatusOr<v1::Membership> CreateMembership(const v1::CreateMembershipRequest& request);
  absl::StatusOr<v1::Membership> UpdateMembership(const v1::UpdateMembershipRequest& request);
  absl::Status DeleteMembership(const v1::DeleteMembershipRequest& request);

  absl::StatusOr<v1::ReportedFigure> GetReportedFigure(
      const v1::GetReportedFigureRequest& request);
  absl::StatusOr<v1::ListReportedFiguresResponse> ListReportedFigures(
      const v1::ListReportedFiguresRequest& request);

  // Creates or updates every resource of `data` in one transaction, with the same
  // validation as the API. Resources equal to what is stored are left alone (revision and
  // etag unchanged), so importing twice changes nothing. A bad bundle writes nothing; the
  // error names the offending entry (e.g. "councils[3].complexes[1]").
  absl::StatusOr<ImportSummary> Import(const v1::RegistryData& data);

 private:
  store::ResourceStore* store_;
  // The hottest reads (the events service checks councils and organizations on every
  // write), answered from memory until the next commit.
  crud::ReadCache<v1::Council> councils_;
  crud::ReadCache<v1::IndustrialComplex> complexes_;
  crud::ReadCache<v1::Organization> organizations_;
};

}  // namespace sanhak::registry

#endif  // SANHAK_SERVICES_REGISTRY_REGISTRY_H_
