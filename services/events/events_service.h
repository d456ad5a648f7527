// The events service's gRPC edge, on gRPC's callback API: hands each request to Events,
// with the deadline of the registry calls it causes derived from the caller's, and
// converts the result once (common/callback_reply.h). Writes answer when the registry has
// answered and their commit is on disk, with at most `max_writes_in_flight` of them
// admitted at once; no thread waits for either. gRPC hands every request over as bytes,
// parsed by common/parsed_call.h, so unreadable ones get INVALID_ARGUMENT.
#ifndef SANHAK_SERVICES_EVENTS_EVENTS_SERVICE_H_
#define SANHAK_SERVICES_EVENTS_EVENTS_SERVICE_H_

#include "absl/time/time.h"
#include "common/overload.h"
#include "common/parsed_call.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "services/events/events.h"

namespace sanhak::events {

class EventsGrpcService final : public ParsedService<v1::EventsService::CallbackService> {
 public:
  // `events` must outlive the service. `default_deadline` bounds registry calls made for
  // a caller that sent no deadline.
  EventsGrpcService(Events* events, absl::Duration default_deadline, int max_writes_in_flight);

  grpc::ServerUnaryReactor* GetActivity(grpc::CallbackServerContext* context,
                                        const v1::GetActivityRequest* request,
                                        v1::Activity* response) override;
  grpc::ServerUnaryReactor* ListActivities(grpc::CallbackServerContext* context,
                                           const v1::ListActivitiesRequest* request,
                                           v1::ListActivitiesResponse* response) override;
  grpc::ServerUnaryReactor* CreateActivity(grpc::CallbackServerContext* context,
                                           const v1::CreateActivityRequest* request,
                                           v1::Activity* response) override;
  grpc::ServerUnaryReactor* UpdateActivity(grpc::CallbackServerContext* context,
                                           const v1::UpdateActivityRequest* request,
                                           v1::Activity* response) override;
  grpc::ServerUnaryReactor* DeleteActivity(grpc::CallbackServerContext* context,
                                           const v1::DeleteActivityRequest* request,
                                           google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* GetRegistration(grpc::CallbackServerContext* context,
                                            const v1::GetRegistrationRequest* request,
                                            v1::Registration* response) override;
  grpc::ServerUnaryReactor* ListRegistrations(grpc::CallbackServerContext* context,
                                              const v1::ListRegistrationsRequest* request,
                                              v1::ListRegistrationsResponse* response) override;
  grpc::ServerUnaryReactor* CreateRegistration(grpc::CallbackServerContext* context,
                                               const v1::CreateRegistrationRequest* request,
                                               v1::Registration* response) override;
  grpc::ServerUnaryReactor* UpdateRegistration(grpc::CallbackServerContext* context,
                                               const v1::UpdateRegistrationRequest* request,
                                               v1::Registration* response) override;
  grpc::ServerUnaryReactor* DeleteRegistration(grpc::CallbackServerContext* context,
                                               const v1::DeleteRegistrationRequest* request,
                                               google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* GetOutcome(grpc::CallbackServerContext* context,
                                       const v1::GetOutcomeRequest* request,
                                       v1::Outcome* response) override;
  grpc::ServerUnaryReactor* ListOutcomes(grpc::CallbackServerContext* context,
                                         const v1::ListOutcomesRequest* request,
                                         v1::ListOutcomesResponse* response) override;
  grpc::ServerUnaryReactor* CreateOutcome(grpc::CallbackServerContext* context,
                                          const v1::CreateOutcomeRequest* request,
                                          v1::Outcome* response) override;
  grpc::ServerUnaryReactor* UpdateOutcome(grpc::CallbackServerContext* context,
                                          const v1::UpdateOutcomeRequest* request,
                                          v1::Outcome* response) override;
  grpc::ServerUnaryReactor* DeleteOutcome(grpc::CallbackServerContext* context,
                                          const v1::DeleteOutcomeRequest* request,
                                          google::protobuf::Empty* response) override;
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
  Events* events_;
  absl::Duration default_deadline_;
  AdmissionGate writes_;
};

}  // namespace sanhak::events

#endif  // SANHAK_SERVICES_EVENTS_EVENTS_SERVICE_H_
