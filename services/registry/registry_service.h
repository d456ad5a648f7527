// The registry's gRPC edge, on gRPC's callback API: each handler hands the request to
// Registry and converts the result once (common/callback_reply.h). Reads answer on the
// thread that received the call; writes answer when their commit is on disk, with at
// most `max_writes_in_flight` of them admitted at once. gRPC hands every request over as
// bytes, parsed by common/parsed_call.h, so unreadable ones get INVALID_ARGUMENT. No logic
// lives here.
#ifndef SANHAK_SERVICES_REGISTRY_REGISTRY_SERVICE_H_
#define SANHAK_SERVICES_REGISTRY_REGISTRY_SERVICE_H_

#include "common/overload.h"
#include "common/parsed_call.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "services/registry/registry.h"

namespace sanhak::registry {

class RegistryGrpcService final : public ParsedService<v1::RegistryService::CallbackService> {
 public:
  // `registry` must outlive the service.
  RegistryGrpcService(Registry* registry, int max_writes_in_flight);

  grpc::ServerUnaryReactor* GetField(grpc::CallbackServerContext* context,
                                     const v1::GetFieldRequest* request,
                                     v1::Field* response) override;
  grpc::ServerUnaryReactor* ListFields(grpc::CallbackServerContext* context,
                                       const v1::ListFieldsRequest* request,
                                       v1::ListFieldsResponse* response) override;
  grpc::ServerUnaryReactor* GetRegion(grpc::CallbackServerContext* context,
                                      const v1::GetRegionRequest* request,
                                      v1::Region* response) override;
  grpc::ServerUnaryReactor* ListRegions(grpc::CallbackServerContext* context,
                                        const v1::ListRegionsRequest* request,
                                        v1::ListRegionsResponse* response) override;
  grpc::ServerUnaryReactor* GetComplex(grpc::CallbackServerContext* context,
                                       const v1::GetComplexRequest* request,
                                       v1::IndustrialComplex* response) override;
  grpc::ServerUnaryReactor* ListComplexes(grpc::CallbackServerContext* context,
                                          const v1::ListComplexesRequest* request,
                                          v1::ListComplexesResponse* response) override;
  grpc::ServerUnaryReactor* CreateComplex(grpc::CallbackServerContext* context,
                                          const v1::CreateComplexRequest* request,
                                          v1::IndustrialComplex* response) override;
  grpc::ServerUnaryReactor* UpdateComplex(grpc::CallbackServerContext* context,
                                          const v1::UpdateComplexRequest* request,
                                          v1::IndustrialComplex* response) override;
  grpc::ServerUnaryReactor* DeleteComplex(grpc::CallbackServerContext* context,
                                          const v1::DeleteComplexRequest* request,
                                          google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* UndeleteComplex(grpc::CallbackServerContext* context,
                                            const v1::UndeleteComplexRequest* request,
                                            v1::IndustrialComplex* response) override;
  grpc::ServerUnaryReactor* GetCouncil(grpc::CallbackServerContext* context,
                                       const v1::GetCouncilRequest* request,
                                       v1::Council* response) override;
  grpc::ServerUnaryReactor* ListCouncils(grpc::CallbackServerContext* context,
                                         const v1::ListCouncilsRequest* request,
                                         v1::ListCouncilsResponse* response) override;
  grpc::ServerUnaryReactor* CreateCouncil(grpc::CallbackServerContext* context,
                                          const v1::CreateCouncilRequest* request,
                                          v1::Council* response) override;
  grpc::ServerUnaryReactor* UpdateCouncil(grpc::CallbackServerContext* context,
                                          const v1::UpdateCouncilRequest* request,
                                          v1::Council* response) override;
  grpc::ServerUnaryReactor* DeleteCouncil(grpc::CallbackServerContext* context,
                                          const v1::DeleteCouncilRequest* request,
                                          google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* UndeleteCouncil(grpc::CallbackServerContext* context,
                                            const v1::UndeleteCouncilRequest* request,
                                            v1::Council* response) override;
  grpc::ServerUnaryReactor* GetOrganization(grpc::CallbackServerContext* context,
                                            const v1::GetOrganizationRequest* request,
                                            v1::Organization* response) override;
  grpc::ServerUnaryReactor* ListOrganizations(grpc::CallbackServerContext* context,
                                              const v1::ListOrganizationsRequest* request,
                                              v1::ListOrganizationsResponse* response) override;
  grpc::ServerUnaryReactor* CreateOrganization(grpc::CallbackServerContext* context,
                                               const v1::CreateOrganizationRequest* request,
                                               v1::Organization* response) override;
  grpc::ServerUnaryReactor* UpdateOrganization(grpc::CallbackServerContext* context,
                                               const v1::UpdateOrganizationRequest* request,
                                               v1::Organization* response) override;
  grpc::ServerUnaryReactor* DeleteOrganization(grpc::CallbackServerContext* context,
                                               const v1::DeleteOrganizationRequest* request,
                                               google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* UndeleteOrganization(grpc::CallbackServerContext* context,
                                            const v1::UndeleteOrganizationRequest* request,
                                            v1::Organization* response) override;
  grpc::ServerUnaryReactor* GetMembership(grpc::CallbackServerContext* context,
                                          const v1::GetMembershipRequest* request,
                                          v1::Membership* response) override;
  grpc::ServerUnaryReactor* ListMemberships(grpc::CallbackServerContext* context,
                                            const v1::ListMembershipsRequest* request,
                                            v1::ListMembershipsResponse* response) override;
  grpc::ServerUnaryReactor* CreateMembership(grpc::CallbackServerContext* context,
                                             const v1::CreateMembershipRequest* request,
                                             v1::Membership* response) override;
  grpc::ServerUnaryReactor* UpdateMembership(grpc::CallbackServerContext* context,
                                             const v1::UpdateMembershipRequest* request,
                                             v1::Membership* response) override;
  grpc::ServerUnaryReactor* DeleteMembership(grpc::CallbackServerContext* context,
                                             const v1::DeleteMembershipRequest* request,
                                             google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* GetReportedFigure(grpc::CallbackServerContext* context,
                                              const v1::GetReportedFigureRequest* request,
                                              v1::ReportedFigure* response) override;
  grpc::ServerUnaryReactor* ListReportedFigures(grpc::CallbackServerContext* context,
                                                const v1::ListReportedFiguresRequest* request,
                                                v1::ListReportedFiguresResponse* response) override;
  // Admin only: the domain refuses every other role (PERMISSION_DENIED).
  grpc::ServerUnaryReactor* ListAuditEntries(grpc::CallbackServerContext* context,
                                             const audit::v1::ListAuditEntriesRequest* request,
                                             audit::v1::ListAuditEntriesResponse* response) override;
  // For the edge (common/parsed_call's role check): records a write refused before its
  // handler ran, so the audit trail holds it like any other refusal. `method` is the
  // RPC's short name, `resource` what the request names ("" when unknown).
  void RecordRefusal(const Caller& caller, absl::string_view method,
                     absl::string_view resource, const absl::Status& status);

 private:
  Registry* registry_;
  AdmissionGate writes_;
};

}  // namespace sanhak::registry

#endif  // SANHAK_SERVICES_REGISTRY_REGISTRY_SERVICE_H_
