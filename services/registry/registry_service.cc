#include "services/registry/registry_service.h"

#include "common/status.h"

namespace sanhak::registry {

grpc::Status RegistryGrpcService::GetField(grpc::ServerContext*, const v1::GetFieldRequest* request,
    v1::Field* response) {
  return ToGrpcReply(registry_->GetField(*request), response);
}

grpc::Status RegistryGrpcService::ListFields(grpc::ServerContext*, const v1::ListFieldsRequest* request,
    v1::ListFieldsResponse* response) {
  return ToGrpcReply(registry_->ListFields(*request), response);
}

grpc::Status RegistryGrpcService::GetRegion(grpc::ServerContext*, const v1::GetRegionRequest* request,
    v1::Region* response) {
  return ToGrpcReply(registry_->GetRegion(*request), response);
}

grpc::Status RegistryGrpcService::ListRegions(grpc::ServerContext*, const v1::ListRegionsRequest* request,
    v1::ListRegionsResponse* response) {
  return ToGrpcReply(registry_->ListRegions(*request), response);
}

grpc::Status RegistryGrpcService::GetComplex(grpc::ServerContext*, const v1::GetComplexRequest* request,
    v1::IndustrialComplex* response) {
  return ToGrpcReply(registry_->GetComplex(*request), response);
}

grpc::Status RegistryGrpcService::ListComplexes(grpc::ServerContext*, const v1::ListComplexesRequest* request,
    v1::ListComplexesResponse* response) {
  return ToGrpcReply(registry_->ListComplexes(*request), response);
}

grpc::Status RegistryGrpcService::CreateComplex(grpc::ServerContext*, const v1::CreateComplexRequest* request,
    v1::IndustrialComplex* response) {
  return ToGrpcReply(registry_->CreateComplex(*request), response);
}

grpc::Status RegistryGrpcService::UpdateComplex(grpc::ServerContext*, const v1::UpdateComplexRequest* request,
    v1::IndustrialComplex* response) {
  return ToGrpcReply(registry_->UpdateComplex(*request), response);
}

grpc::Status RegistryGrpcService::DeleteComplex(grpc::ServerContext*, const v1::DeleteComplexRequest* request,
    google::protobuf::Empty* response) {
  return ToGrpcReply(registry_->DeleteComplex(*request), response);
}

grpc::Status RegistryGrpcService::GetCouncil(grpc::ServerContext*, const v1::GetCouncilRequest* request,
    v1::Council* response) {
  return ToGrpcReply(registry_->GetCouncil(*request), response);
}

grpc::Status RegistryGrpcService::ListCouncils(grpc::ServerContext*, const v1::ListCouncilsRequest* request,
    v1::ListCouncilsResponse* response) {
  return ToGrpcReply(registry_->ListCouncils(*request), response);
}

grpc::Status RegistryGrpcService::CreateCouncil(grpc::ServerContext*, const v1::CreateCouncilRequest* request,
    v1::Council* response) {
  return ToGrpcReply(registry_->CreateCouncil(*request), response);
}

grpc::Status RegistryGrpcService::UpdateCouncil(grpc::ServerContext*, const v1::UpdateCouncilRequest* request,
    v1::Council* response) {
  return ToGrpcReply(registry_->UpdateCouncil(*request), response);
}

grpc::Status RegistryGrpcService::DeleteCouncil(grpc::ServerContext*, const v1::DeleteCouncilRequest* request,
    google::protobuf::Empty* response) {
  return ToGrpcReply(registry_->DeleteCouncil(*request), response);
}

grpc::Status RegistryGrpcService::GetOrganization(grpc::ServerContext*, const v1::GetOrganizationRequest* request,
    v1::Organization* response) {
  return ToGrpcReply(registry_->GetOrganization(*request), response);
}

grpc::Status RegistryGrpcService::ListOrganizations(grpc::ServerContext*, const v1::ListOrganizationsRequest* request,
    v1::ListOrganizationsResponse* response) {
  return ToGrpcReply(registry_->ListOrganizations(*request), response);
}

grpc::Status RegistryGrpcService::CreateOrganization(grpc::ServerContext*, const v1::CreateOrganizationRequest* request,
    v1::Organization* response) {
  return ToGrpcReply(registry_->CreateOrganization(*request), response);
}

grpc::Status RegistryGrpcService::UpdateOrganization(grpc::ServerContext*, const v1::UpdateOrganizationRequest* request,
    v1::Organization* response) {
  return ToGrpcReply(registry_->UpdateOrganization(*request), response);
}

grpc::Status RegistryGrpcService::DeleteOrganization(grpc::ServerContext*, const v1::DeleteOrganizationRequest* request,
    google::protobuf::Empty* response) {
  return ToGrpcReply(registry_->DeleteOrganization(*request), response);
}

grpc::Status RegistryGrpcService::GetMembership(grpc::ServerContext*, const v1::GetMembershipRequest* request,
    v1::Membership* response) {
  return ToGrpcReply(registry_->GetMembership(*request), response);
}

grpc::Status RegistryGrpcService::ListMemberships(grpc::ServerContext*, const v1::ListMembershipsRequest* request,
    v1::ListMembershipsResponse* response) {
  return ToGrpcReply(registry_->ListMemberships(*request), response);
}

grpc::Status RegistryGrpcService::CreateMembership(grpc::ServerContext*, const v1::CreateMembershipRequest* request,
    v1::Membership* response) {
  return ToGrpcReply(registry_->CreateMembership(*request), response);
}

grpc::Status RegistryGrpcService::UpdateMembership(grpc::ServerContext*, const v1::UpdateMembershipRequest* request,
    v1::Membership* response) {
  return ToGrpcReply(registry_->UpdateMembership(*request), response);
}

grpc::Status RegistryGrpcService::DeleteMembership(grpc::ServerContext*, const v1::DeleteMembershipRequest* request,
    google::protobuf::Empty* response) {
  return ToGrpcReply(registry_->DeleteMembership(*request), response);
}

grpc::Status RegistryGrpcService::GetReportedFigure(grpc::ServerContext*, const v1::GetReportedFigureRequest* request,
    v1::ReportedFigure* response) {
  return ToGrpcReply(registry_->GetReportedFigure(*request), response);
}

grpc::Status RegistryGrpcService::ListReportedFigures(grpc::ServerContext*, const v1::ListReportedFiguresRequest* request,
    v1::ListReportedFiguresResponse* response) {
  return ToGrpcReply(registry_->ListReportedFigures(*request), response);
}

}  // namespace sanhak::registry
