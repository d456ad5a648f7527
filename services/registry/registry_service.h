// The registry's gRPC edge: each handler hands the request to Registry and converts the
// result once, with ToGrpcReply. No logic lives here.
#ifndef SANHAK_SERVICES_REGISTRY_REGISTRY_SERVICE_H_
#define SANHAK_SERVICES_REGISTRY_REGISTRY_SERVICE_H_

#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "services/registry/registry.h"

namespace sanhak::registry {

class RegistryGrpcService final : public v1::RegistryService::Service {
 public:
  // `registry` must outlive the service.
  explicit RegistryGrpcService(Registry* registry) : registry_(registry) {}

  grpc::Status GetField(grpc::ServerContext* context, const v1::GetFieldRequest* request,
      v1::Field* response) override;
  grpc::Status ListFields(grpc::ServerContext* context, const v1::ListFieldsRequest* request,
      v1::ListFieldsResponse* response) override;
  grpc::Status GetRegion(grpc::ServerContext* context, const v1::GetRegionRequest* request,
      v1::Region* response) override;
  grpc::Status ListRegions(grpc::ServerContext* context, const v1::ListRegionsRequest* request,
      v1::ListRegionsResponse* response) override;
  grpc::Status GetComplex(grpc::ServerContext* context, const v1::GetComplexRequest* request,
      v1::IndustrialComplex* response) override;
  grpc::Status ListComplexes(grpc::ServerContext* context, const v1::ListComplexesRequest* request,
      v1::ListComplexesResponse* response) override;
  grpc::Status CreateComplex(grpc::ServerContext* context, const v1::CreateComplexRequest* request,
      v1::IndustrialComplex* response) override;
  grpc::Status UpdateComplex(grpc::ServerContext* context, const v1::UpdateComplexRequest* request,
      v1::IndustrialComplex* response) override;
  grpc::Status DeleteComplex(grpc::ServerContext* context, const v1::DeleteComplexRequest* request,
      google::protobuf::Empty* response) override;
  grpc::Status GetCouncil(grpc::ServerContext* context, const v1::GetCouncilRequest* request,
      v1::Council* response) override;
  grpc::Status ListCouncils(grpc::ServerContext* context, const v1::ListCouncilsRequest* request,
      v1::ListCouncilsResponse* response) override;
  grpc::Status CreateCouncil(grpc::ServerContext* context, const v1::CreateCouncilRequest* request,
      v1::Council* response) override;
  grpc::Status UpdateCouncil(grpc::ServerContext* context, const v1::UpdateCouncilRequest* request,
      v1::Council* response) override;
  grpc::Status DeleteCouncil(grpc::ServerContext* context, const v1::DeleteCouncilRequest* request,
      google::protobuf::Empty* response) override;
  grpc::Status GetOrganization(grpc::ServerContext* context, const v1::GetOrganizationRequest* request,
      v1::Organization* response) override;
  grpc::Status ListOrganizations(grpc::ServerContext* context, const v1::ListOrganizationsRequest* request,
      v1::ListOrganizationsResponse* response) override;
  grpc::Status CreateOrganization(grpc::ServerContext* context, const v1::CreateOrganizationRequest* request,
      v1::Organization* response) override;
  grpc::Status UpdateOrganization(grpc::ServerContext* context, const v1::UpdateOrganizationRequest* request,
      v1::Organization* response) override;
  grpc::Status DeleteOrganization(grpc::ServerContext* context, const v1::DeleteOrganizationRequest* request,
      google::protobuf::Empty* response) override;
  grpc::Status GetMembership(grpc::ServerContext* context, const v1::GetMembershipRequest* request,
      v1::Membership* response) override;
  grpc::Status ListMemberships(grpc::ServerContext* context, const v1::ListMembershipsRequest* request,
      v1::ListMembershipsResponse* response) override;
  grpc::Status CreateMembership(grpc::ServerContext* context, const v1::CreateMembershipRequest* request,
      v1::Membership* response) override;
  grpc::Status UpdateMembership(grpc::ServerContext* context, const v1::UpdateMembershipRequest* request,
      v1::Membership* response) override;
  grpc::Status DeleteMembership(grpc::ServerContext* context, const v1::DeleteMembershipRequest* request,
      google::protobuf::Empty* response) override;
  grpc::Status GetReportedFigure(grpc::ServerContext* context, const v1::GetReportedFigureRequest* request,
      v1::ReportedFigure* response) override;
  grpc::Status ListReportedFigures(grpc::ServerContext* context, const v1::ListReportedFiguresRequest* request,
      v1::ListReportedFiguresResponse* response) override;

 private:
  Registry* registry_;
};

}  // namespace sanhak::registry

#endif  // SANHAK_SERVICES_REGISTRY_REGISTRY_SERVICE_H_
