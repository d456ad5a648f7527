#include "services/registry/registry_service.h"

#include <utility>

#include "common/callback_reply.h"
#include "common/caller.h"

namespace sanhak::registry {

RegistryGrpcService::RegistryGrpcService(Registry* registry, int max_writes_in_flight)
    : registry_(registry), writes_(max_writes_in_flight) {
  // Writes the edge refuses (role, per-caller rate; common/parsed_call.h) go into the
  // audit trail like any other refusal. A refused read is not a write: not recorded.
  OnRefused([this](grpc::CallbackServerContext*, const RefusedCall& refused) {
    if (!IsWriteMethod(refused.method)) return;
    RecordRefusal(*refused.caller, refused.method, RequestResource(refused.request),
                  *refused.status);
  });
  Serve(v1::RegistryService::service_full_name(), this,
        &RegistryGrpcService::GetField, &RegistryGrpcService::ListFields,
        &RegistryGrpcService::GetRegion, &RegistryGrpcService::ListRegions,
        &RegistryGrpcService::GetComplex, &RegistryGrpcService::ListComplexes,
        &RegistryGrpcService::CreateComplex, &RegistryGrpcService::UpdateComplex,
        &RegistryGrpcService::DeleteComplex, &RegistryGrpcService::UndeleteComplex,
        &RegistryGrpcService::GetCouncil, &RegistryGrpcService::ListCouncils,
        &RegistryGrpcService::CreateCouncil, &RegistryGrpcService::UpdateCouncil,
        &RegistryGrpcService::DeleteCouncil, &RegistryGrpcService::UndeleteCouncil,
        &RegistryGrpcService::GetOrganization, &RegistryGrpcService::ListOrganizations,
        &RegistryGrpcService::CreateOrganization, &RegistryGrpcService::UpdateOrganization,
        &RegistryGrpcService::DeleteOrganization, &RegistryGrpcService::UndeleteOrganization,
        &RegistryGrpcService::GetMembership, &RegistryGrpcService::ListMemberships,
        &RegistryGrpcService::CreateMembership, &RegistryGrpcService::UpdateMembership,
        &RegistryGrpcService::DeleteMembership, &RegistryGrpcService::GetReportedFigure,
        &RegistryGrpcService::ListReportedFigures,
        &RegistryGrpcService::ListAuditEntries);
}

grpc::ServerUnaryReactor* RegistryGrpcService::GetField(grpc::CallbackServerContext* context,
                                                        const v1::GetFieldRequest* request,
                                                        v1::Field* response) {
  return Reply(context, registry_->GetField(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::ListFields(grpc::CallbackServerContext* context,
                                                          const v1::ListFieldsRequest* request,
                                                          v1::ListFieldsResponse* response) {
  return Reply(context, registry_->ListFields(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::GetRegion(grpc::CallbackServerContext* context,
                                                         const v1::GetRegionRequest* request,
                                                         v1::Region* response) {
  return Reply(context, registry_->GetRegion(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::ListRegions(grpc::CallbackServerContext* context,
                                                           const v1::ListRegionsRequest* request,
                                                           v1::ListRegionsResponse* response) {
  return Reply(context, registry_->ListRegions(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::GetComplex(grpc::CallbackServerContext* context,
                                                          const v1::GetComplexRequest* request,
                                                          v1::IndustrialComplex* response) {
  return Reply(context, registry_->GetComplex(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::ListComplexes(
    grpc::CallbackServerContext* context, const v1::ListComplexesRequest* request,
    v1::ListComplexesResponse* response) {
  return Reply(context, registry_->ListComplexes(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::CreateComplex(
    grpc::CallbackServerContext* context, const v1::CreateComplexRequest* request,
    v1::IndustrialComplex* response) {
  return ReplyLater<absl::StatusOr<v1::IndustrialComplex>>(
      context, &writes_, response, [this, request, context](crud::Done<v1::IndustrialComplex> done) {
        registry_->CreateComplex(CallerOf(*context), *request, std::move(done));
      });
}

grpc::ServerUnaryReactor* RegistryGrpcService::UpdateComplex(
    grpc::CallbackServerContext* context, const v1::UpdateComplexRequest* request,
    v1::IndustrialComplex* response) {
  return ReplyLater<absl::StatusOr<v1::IndustrialComplex>>(
      context, &writes_, response, [this, request, context](crud::Done<v1::IndustrialComplex> done) {
        registry_->UpdateComplex(CallerOf(*context), *request, std::move(done));
      });
}

grpc::ServerUnaryReactor* RegistryGrpcService::DeleteComplex(
    grpc::CallbackServerContext* context, const v1::DeleteComplexRequest* request,
    google::protobuf::Empty* response) {
  return ReplyLater<absl::Status>(context, &writes_, response,
                                  [this, request, context](crud::StatusDone done) {
                                    registry_->DeleteComplex(CallerOf(*context), *request, std::move(done));
                                  });
}

grpc::ServerUnaryReactor* RegistryGrpcService::UndeleteComplex(
    grpc::CallbackServerContext* context, const v1::UndeleteComplexRequest* request,
    v1::IndustrialComplex* response) {
  return ReplyLater<absl::StatusOr<v1::IndustrialComplex>>(
      context, &writes_, response, [this, request, context](crud::Done<v1::IndustrialComplex> done) {
        registry_->UndeleteComplex(CallerOf(*context), *request, std::move(done));
      });
}

grpc::ServerUnaryReactor* RegistryGrpcService::GetCouncil(grpc::CallbackServerContext* context,
                                                          const v1::GetCouncilRequest* request,
                                                          v1::Council* response) {
  return Reply(context, registry_->GetCouncil(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::ListCouncils(grpc::CallbackServerContext* context,
                                                            const v1::ListCouncilsRequest* request,
                                                            v1::ListCouncilsResponse* response) {
  return Reply(context, registry_->ListCouncils(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::CreateCouncil(
    grpc::CallbackServerContext* context, const v1::CreateCouncilRequest* request,
    v1::Council* response) {
  return ReplyLater<absl::StatusOr<v1::Council>>(
      context, &writes_, response, [this, request, context](crud::Done<v1::Council> done) {
        registry_->CreateCouncil(CallerOf(*context), *request, std::move(done));
      });
}

grpc::ServerUnaryReactor* RegistryGrpcService::UpdateCouncil(
    grpc::CallbackServerContext* context, const v1::UpdateCouncilRequest* request,
    v1::Council* response) {
  return ReplyLater<absl::StatusOr<v1::Council>>(
      context, &writes_, response, [this, request, context](crud::Done<v1::Council> done) {
        registry_->UpdateCouncil(CallerOf(*context), *request, std::move(done));
      });
}

grpc::ServerUnaryReactor* RegistryGrpcService::DeleteCouncil(
    grpc::CallbackServerContext* context, const v1::DeleteCouncilRequest* request,
    google::protobuf::Empty* response) {
  return ReplyLater<absl::Status>(context, &writes_, response,
                                  [this, request, context](crud::StatusDone done) {
                                    registry_->DeleteCouncil(CallerOf(*context), *request, std::move(done));
                                  });
}

grpc::ServerUnaryReactor* RegistryGrpcService::UndeleteCouncil(
    grpc::CallbackServerContext* context, const v1::UndeleteCouncilRequest* request,
    v1::Council* response) {
  return ReplyLater<absl::StatusOr<v1::Council>>(
      context, &writes_, response, [this, request, context](crud::Done<v1::Council> done) {
        registry_->UndeleteCouncil(CallerOf(*context), *request, std::move(done));
      });
}

grpc::ServerUnaryReactor* RegistryGrpcService::GetOrganization(
    grpc::CallbackServerContext* context, const v1::GetOrganizationRequest* request,
    v1::Organization* response) {
  return Reply(context, registry_->GetOrganization(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::ListOrganizations(
    grpc::CallbackServerContext* context, const v1::ListOrganizationsRequest* request,
    v1::ListOrganizationsResponse* response) {
  return Reply(context, registry_->ListOrganizations(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::CreateOrganization(
    grpc::CallbackServerContext* context, const v1::CreateOrganizationRequest* request,
    v1::Organization* response) {
  return ReplyLater<absl::StatusOr<v1::Organization>>(
      context, &writes_, response, [this, request, context](crud::Done<v1::Organization> done) {
        registry_->CreateOrganization(CallerOf(*context), *request, std::move(done));
      });
}

grpc::ServerUnaryReactor* RegistryGrpcService::UpdateOrganization(
    grpc::CallbackServerContext* context, const v1::UpdateOrganizationRequest* request,
    v1::Organization* response) {
  return ReplyLater<absl::StatusOr<v1::Organization>>(
      context, &writes_, response, [this, request, context](crud::Done<v1::Organization> done) {
        registry_->UpdateOrganization(CallerOf(*context), *request, std::move(done));
      });
}

grpc::ServerUnaryReactor* RegistryGrpcService::DeleteOrganization(
    grpc::CallbackServerContext* context, const v1::DeleteOrganizationRequest* request,
    google::protobuf::Empty* response) {
  return ReplyLater<absl::Status>(context, &writes_, response,
                                  [this, request, context](crud::StatusDone done) {
                                    registry_->DeleteOrganization(CallerOf(*context), *request, std::move(done));
                                  });
}

grpc::ServerUnaryReactor* RegistryGrpcService::UndeleteOrganization(
    grpc::CallbackServerContext* context, const v1::UndeleteOrganizationRequest* request,
    v1::Organization* response) {
  return ReplyLater<absl::StatusOr<v1::Organization>>(
      context, &writes_, response, [this, request, context](crud::Done<v1::Organization> done) {
        registry_->UndeleteOrganization(CallerOf(*context), *request, std::move(done));
      });
}

grpc::ServerUnaryReactor* RegistryGrpcService::GetMembership(
    grpc::CallbackServerContext* context, const v1::GetMembershipRequest* request,
    v1::Membership* response) {
  return Reply(context, registry_->GetMembership(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::ListMemberships(
    grpc::CallbackServerContext* context, const v1::ListMembershipsRequest* request,
    v1::ListMembershipsResponse* response) {
  return Reply(context, registry_->ListMemberships(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::CreateMembership(
    grpc::CallbackServerContext* context, const v1::CreateMembershipRequest* request,
    v1::Membership* response) {
  return ReplyLater<absl::StatusOr<v1::Membership>>(
      context, &writes_, response, [this, request, context](crud::Done<v1::Membership> done) {
        registry_->CreateMembership(CallerOf(*context), *request, std::move(done));
      });
}

grpc::ServerUnaryReactor* RegistryGrpcService::UpdateMembership(
    grpc::CallbackServerContext* context, const v1::UpdateMembershipRequest* request,
    v1::Membership* response) {
  return ReplyLater<absl::StatusOr<v1::Membership>>(
      context, &writes_, response, [this, request, context](crud::Done<v1::Membership> done) {
        registry_->UpdateMembership(CallerOf(*context), *request, std::move(done));
      });
}

grpc::ServerUnaryReactor* RegistryGrpcService::DeleteMembership(
    grpc::CallbackServerContext* context, const v1::DeleteMembershipRequest* request,
    google::protobuf::Empty* response) {
  return ReplyLater<absl::Status>(context, &writes_, response,
                                  [this, request, context](crud::StatusDone done) {
                                    registry_->DeleteMembership(CallerOf(*context), *request, std::move(done));
                                  });
}

grpc::ServerUnaryReactor* RegistryGrpcService::GetReportedFigure(
    grpc::CallbackServerContext* context, const v1::GetReportedFigureRequest* request,
    v1::ReportedFigure* response) {
  return Reply(context, registry_->GetReportedFigure(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::ListReportedFigures(
    grpc::CallbackServerContext* context, const v1::ListReportedFiguresRequest* request,
    v1::ListReportedFiguresResponse* response) {
  return Reply(context, registry_->ListReportedFigures(*request), response);
}

grpc::ServerUnaryReactor* RegistryGrpcService::ListAuditEntries(
    grpc::CallbackServerContext* context, const audit::v1::ListAuditEntriesRequest* request,
    audit::v1::ListAuditEntriesResponse* response) {
  return Reply(context, registry_->ListAuditEntries(CallerOf(*context), *request), response);
}

void RegistryGrpcService::RecordRefusal(const Caller& caller, absl::string_view method,
                       absl::string_view resource, const absl::Status& status) {
  registry_->auditor().RecordRefusal(caller, method, resource, status);
}

}  // namespace sanhak::registry
