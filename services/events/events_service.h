// The events service's gRPC edge: hands each request to Events, with the deadline of
// the registry calls it causes derived from the caller's, and converts the result once.
#ifndef SANHAK_SERVICES_EVENTS_EVENTS_SERVICE_H_
#define SANHAK_SERVICES_EVENTS_EVENTS_SERVICE_H_

#include "absl/time/time.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "services/events/events.h"

namespace sanhak::events {

class EventsGrpcService final : public v1::EventsService::Service {
 public:
  // `events` must outlive the service. `default_deadline` bounds registry calls made for
  // a caller that sent no deadline.
  EventsGrpcService(Events* events, absl::Duration default_deadline)
      : events_(events), default_deadline_(default_deadline) {}

  grpc::Status GetActivity(grpc::ServerContext* context, const v1::GetActivityRequest* request,
                      v1::Activity* response) override;
  grpc::Status ListActivities(grpc::ServerContext* context, const v1::ListActivitiesRequest* request,
                      v1::ListActivitiesResponse* response) override;
  grpc::Status CreateActivity(grpc::ServerContext* context, const v1::CreateActivityRequest* request,
                      v1::Activity* response) override;
  grpc::Status UpdateActivity(grpc::ServerContext* context, const v1::UpdateActivityRequest* request,
                      v1::Activity* response) override;
  grpc::Status DeleteActivity(grpc::ServerContext* context, const v1::DeleteActivityRequest* request,
                      google::protobuf::Empty* response) override;
  grpc::Status GetRegistration(grpc::ServerContext* context, const v1::GetRegistrationRequest* request,
                      v1::Registration* response) override;
  grpc::Status ListRegistrations(grpc::ServerContext* context, const v1::ListRegistrationsRequest* request,
                      v1::ListRegistrationsResponse* response) override;
  grpc::Status CreateRegistration(grpc::ServerContext* context, const v1::CreateRegistrationRequest* request,
                      v1::Registration* response) override;
  grpc::Status UpdateRegistration(grpc::ServerContext* context, const v1::UpdateRegistrationRequest* request,
                      v1::Registration* response) override;
  grpc::Status DeleteRegistration(grpc::ServerContext* context, const v1::DeleteRegistrationRequest* request,
                      google::protobuf::Empty* response) override;
  grpc::Status GetOutcome(grpc::ServerContext* context, const v1::GetOutcomeRequest* request,
                      v1::Outcome* response) override;
  grpc::Status ListOutcomes(grpc::ServerContext* context, const v1::ListOutcomesRequest* request,
                      v1::ListOutcomesResponse* response) override;
  grpc::Status CreateOutcome(grpc::ServerContext* context, const v1::CreateOutcomeRequest* request,
                      v1::Outcome* response) override;
  grpc::Status UpdateOutcome(grpc::ServerContext* context, const v1::UpdateOutcomeRequest* request,
                      v1::Outcome* response) override;
  grpc::Status DeleteOutcome(grpc::ServerContext* context, const v1::DeleteOutcomeRequest* request,
                      google::protobuf::Empty* response) override;

 private:
  Events* events_;
  absl::Duration default_deadline_;
};

}  // namespace sanhak::events

#endif  // SANHAK_SERVICES_EVENTS_EVENTS_SERVICE_H_
