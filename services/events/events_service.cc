#include "services/events/events_service.h"

#include <utility>

#include "common/callback_reply.h"
#include "common/caller.h"
#include "common/server.h"

namespace sanhak::events {

EventsGrpcService::EventsGrpcService(Events* events, absl::Duration default_deadline,
                                     int max_writes_in_flight)
    : events_(events), default_deadline_(default_deadline), writes_(max_writes_in_flight) {
  // Writes the edge refuses (role, per-caller rate; common/parsed_call.h) go into the
  // audit trail like any other refusal. A refused read is not a write: not recorded.
  OnRefused([this](grpc::CallbackServerContext*, const RefusedCall& refused) {
    if (!IsWriteMethod(refused.method)) return;
    RecordRefusal(*refused.caller, refused.method, RequestResource(refused.request),
                  *refused.status);
  });
  Serve(v1::EventsService::service_full_name(), this,
        &EventsGrpcService::GetActivity, &EventsGrpcService::ListActivities,
        &EventsGrpcService::CreateActivity, &EventsGrpcService::UpdateActivity,
        &EventsGrpcService::DeleteActivity, &EventsGrpcService::GetRegistration,
        &EventsGrpcService::ListRegistrations, &EventsGrpcService::CreateRegistration,
        &EventsGrpcService::UpdateRegistration, &EventsGrpcService::DeleteRegistration,
        &EventsGrpcService::GetOutcome, &EventsGrpcService::ListOutcomes,
        &EventsGrpcService::CreateOutcome, &EventsGrpcService::UpdateOutcome,
        &EventsGrpcService::DeleteOutcome,
        &EventsGrpcService::ListAuditEntries);
}

grpc::ServerUnaryReactor* EventsGrpcService::GetActivity(grpc::CallbackServerContext* context,
                                                         const v1::GetActivityRequest* request,
                                                         v1::Activity* response) {
  return Reply(context, events_->GetActivity(*request), response);
}

grpc::ServerUnaryReactor* EventsGrpcService::ListActivities(
    grpc::CallbackServerContext* context, const v1::ListActivitiesRequest* request,
    v1::ListActivitiesResponse* response) {
  return Reply(context, events_->ListActivities(*request), response);
}

grpc::ServerUnaryReactor* EventsGrpcService::CreateActivity(
    grpc::CallbackServerContext* context, const v1::CreateActivityRequest* request,
    v1::Activity* response) {
  return ReplyLater<absl::StatusOr<v1::Activity>>(
      context, &writes_, response, [&](crud::Done<v1::Activity> done) {
        events_->CreateActivity(CallerOf(*context), *request, DeadlineFor(*context, default_deadline_),
                                std::move(done));
      });
}

grpc::ServerUnaryReactor* EventsGrpcService::UpdateActivity(
    grpc::CallbackServerContext* context, const v1::UpdateActivityRequest* request,
    v1::Activity* response) {
  return ReplyLater<absl::StatusOr<v1::Activity>>(
      context, &writes_, response, [&](crud::Done<v1::Activity> done) {
        events_->UpdateActivity(CallerOf(*context), *request, DeadlineFor(*context, default_deadline_),
                                std::move(done));
      });
}

grpc::ServerUnaryReactor* EventsGrpcService::DeleteActivity(
    grpc::CallbackServerContext* context, const v1::DeleteActivityRequest* request,
    google::protobuf::Empty* response) {
  return ReplyLater<absl::Status>(context, &writes_, response,
                                  [this, request, context](crud::StatusDone done) {
                                    events_->DeleteActivity(CallerOf(*context), *request, std::move(done));
                                  });
}

grpc::ServerUnaryReactor* EventsGrpcService::GetRegistration(
    grpc::CallbackServerContext* context, const v1::GetRegistrationRequest* request,
    v1::Registration* response) {
  return Reply(context, events_->GetRegistration(*request), response);
}

grpc::ServerUnaryReactor* EventsGrpcService::ListRegistrations(
    grpc::CallbackServerContext* context, const v1::ListRegistrationsRequest* request,
    v1::ListRegistrationsResponse* response) {
  return Reply(context, events_->ListRegistrations(*request), response);
}

grpc::ServerUnaryReactor* EventsGrpcService::CreateRegistration(
    grpc::CallbackServerContext* context, const v1::CreateRegistrationRequest* request,
    v1::Registration* response) {
  return ReplyLater<absl::StatusOr<v1::Registration>>(
      context, &writes_, response, [&](crud::Done<v1::Registration> done) {
        events_->CreateRegistration(CallerOf(*context), *request, DeadlineFor(*context, default_deadline_),
                                    std::move(done));
      });
}

grpc::ServerUnaryReactor* EventsGrpcService::UpdateRegistration(
    grpc::CallbackServerContext* context, const v1::UpdateRegistrationRequest* request,
    v1::Registration* response) {
  return ReplyLater<absl::StatusOr<v1::Registration>>(
      context, &writes_, response, [this, request, context](crud::Done<v1::Registration> done) {
        events_->UpdateRegistration(CallerOf(*context), *request, std::move(done));
      });
}

grpc::ServerUnaryReactor* EventsGrpcService::DeleteRegistration(
    grpc::CallbackServerContext* context, const v1::DeleteRegistrationRequest* request,
    google::protobuf::Empty* response) {
  return ReplyLater<absl::Status>(context, &writes_, response,
                                  [this, request, context](crud::StatusDone done) {
                                    events_->DeleteRegistration(CallerOf(*context), *request, std::move(done));
                                  });
}

grpc::ServerUnaryReactor* EventsGrpcService::GetOutcome(grpc::CallbackServerContext* context,
                                                        const v1::GetOutcomeRequest* request,
                                                        v1::Outcome* response) {
  return Reply(context, events_->GetOutcome(*request), response);
}

grpc::ServerUnaryReactor* EventsGrpcService::ListOutcomes(grpc::CallbackServerContext* context,
                                                          const v1::ListOutcomesRequest* request,
                                                          v1::ListOutcomesResponse* response) {
  return Reply(context, events_->ListOutcomes(*request), response);
}

grpc::ServerUnaryReactor* EventsGrpcService::CreateOutcome(grpc::CallbackServerContext* context,
                                                           const v1::CreateOutcomeRequest* request,
                                                           v1::Outcome* response) {
  return ReplyLater<absl::StatusOr<v1::Outcome>>(
      context, &writes_, response, [&](crud::Done<v1::Outcome> done) {
        events_->CreateOutcome(CallerOf(*context), *request, DeadlineFor(*context, default_deadline_), std::move(done));
      });
}

grpc::ServerUnaryReactor* EventsGrpcService::UpdateOutcome(grpc::CallbackServerContext* context,
                                                           const v1::UpdateOutcomeRequest* request,
                                                           v1::Outcome* response) {
  return ReplyLater<absl::StatusOr<v1::Outcome>>(
      context, &writes_, response, [&](crud::Done<v1::Outcome> done) {
        events_->UpdateOutcome(CallerOf(*context), *request, DeadlineFor(*context, default_deadline_), std::move(done));
      });
}

grpc::ServerUnaryReactor* EventsGrpcService::DeleteOutcome(grpc::CallbackServerContext* context,
                                                           const v1::DeleteOutcomeRequest* request,
                                                           google::protobuf::Empty* response) {
  return ReplyLater<absl::Status>(context, &writes_, response,
                                  [this, request, context](crud::StatusDone done) {
                                    events_->DeleteOutcome(CallerOf(*context), *request, std::move(done));
                                  });
}

grpc::ServerUnaryReactor* EventsGrpcService::ListAuditEntries(
    grpc::CallbackServerContext* context, const audit::v1::ListAuditEntriesRequest* request,
    audit::v1::ListAuditEntriesResponse* response) {
  return Reply(context, events_->ListAuditEntries(CallerOf(*context), *request), response);
}

void EventsGrpcService::RecordRefusal(const Caller& caller, absl::string_view method,
                       absl::string_view resource, const absl::Status& status) {
  events_->auditor().RecordRefusal(caller, method, resource, status);
}

}  // namespace sanhak::events
