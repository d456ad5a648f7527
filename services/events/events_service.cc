#include "services/events/events_service.h"

#include "common/server.h"
#include "common/status.h"

namespace sanhak::events {

grpc::Status EventsGrpcService::GetActivity(grpc::ServerContext*, const v1::GetActivityRequest* request,
                                      v1::Activity* response) {
  return ToGrpcReply(events_->GetActivity(*request), response);
}

grpc::Status EventsGrpcService::ListActivities(grpc::ServerContext*, const v1::ListActivitiesRequest* request,
                                      v1::ListActivitiesResponse* response) {
  return ToGrpcReply(events_->ListActivities(*request), response);
}

grpc::Status EventsGrpcService::CreateActivity(grpc::ServerContext* context,
                                      const v1::CreateActivityRequest* request,
                                      v1::Activity* response) {
  return ToGrpcReply(events_->CreateActivity(*request, DeadlineFor(*context, default_deadline_)),
                     response);
}

grpc::Status EventsGrpcService::UpdateActivity(grpc::ServerContext* context,
                                      const v1::UpdateActivityRequest* request,
                                      v1::Activity* response) {
  return ToGrpcReply(events_->UpdateActivity(*request, DeadlineFor(*context, default_deadline_)),
                     response);
}

grpc::Status EventsGrpcService::DeleteActivity(grpc::ServerContext*, const v1::DeleteActivityRequest* request,
                                      google::protobuf::Empty* response) {
  return ToGrpcReply(events_->DeleteActivity(*request), response);
}

grpc::Status EventsGrpcService::GetRegistration(grpc::ServerContext*, const v1::GetRegistrationRequest* request,
                                      v1::Registration* response) {
  return ToGrpcReply(events_->GetRegistration(*request), response);
}

grpc::Status EventsGrpcService::ListRegistrations(grpc::ServerContext*, const v1::ListRegistrationsRequest* request,
                                      v1::ListRegistrationsResponse* response) {
  return ToGrpcReply(events_->ListRegistrations(*request), response);
}

grpc::Status EventsGrpcService::CreateRegistration(grpc::ServerContext* context,
                                      const v1::CreateRegistrationRequest* request,
                                      v1::Registration* response) {
  return ToGrpcReply(events_->CreateRegistration(*request, DeadlineFor(*context, default_deadline_)),
                     response);
}

grpc::Status EventsGrpcService::UpdateRegistration(grpc::ServerContext*, const v1::UpdateRegistrationRequest* request,
                                      v1::Registration* response) {
  return ToGrpcReply(events_->UpdateRegistration(*request), response);
}

grpc::Status EventsGrpcService::DeleteRegistration(grpc::ServerContext*, const v1::DeleteRegistrationRequest* request,
                                      google::protobuf::Empty* response) {
  return ToGrpcReply(events_->DeleteRegistration(*request), response);
}

grpc::Status EventsGrpcService::GetOutcome(grpc::ServerContext*, const v1::GetOutcomeRequest* request,
                                      v1::Outcome* response) {
  return ToGrpcReply(events_->GetOutcome(*request), response);
}

grpc::Status EventsGrpcService::ListOutcomes(grpc::ServerContext*, const v1::ListOutcomesRequest* request,
                                      v1::ListOutcomesResponse* response) {
  return ToGrpcReply(events_->ListOutcomes(*request), response);
}

grpc::Status EventsGrpcService::CreateOutcome(grpc::ServerContext* context,
                                      const v1::CreateOutcomeRequest* request,
                                      v1::Outcome* response) {
  return ToGrpcReply(events_->CreateOutcome(*request, DeadlineFor(*context, default_deadline_)),
                     response);
}

grpc::Status EventsGrpcService::UpdateOutcome(grpc::ServerContext* context,
                                      const v1::UpdateOutcomeRequest* request,
                                      v1::Outcome* response) {
  return ToGrpcReply(events_->UpdateOutcome(*request, DeadlineFor(*context, default_deadline_)),
                     response);
}

grpc::Status EventsGrpcService::DeleteOutcome(grpc::ServerContext*, const v1::DeleteOutcomeRequest* request,
                                      google::protobuf::Empty* response) {
  return ToGrpcReply(events_->DeleteOutcome(*request), response);
}

}  // namespace sanhak::events
