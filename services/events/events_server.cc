#include "services/events/events_server.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/audit_log.h"
#include "common/outbox_metrics.h"
#include "common/page_token.h"
#include "common/store_factory.h"
#include "common/text_data.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace sanhak::events {

absl::StatusOr<v1::EventsData> LoadEventsData(const std::string& path) {
  v1::EventsData data;
  if (absl::Status s = LoadTextProto(path, &data); !s.ok()) return s;
  return data;
}

absl::StatusOr<std::unique_ptr<EventsServer>> EventsServer::Start(const EventsConfig& config) {
  std::unique_ptr<EventsServer> self(new EventsServer());
  // Replicas sharing a PostgreSQL database must sign page tokens with one key, so a
  // page asked of one replica continues on another: there is no per-file default.
  const bool shared_database = store::IsPostgresUri(config.database_path);
  if (shared_database && config.page_token_key_path.empty()) {
    return absl::InvalidArgumentError(
        "--page_token_key is required with a PostgreSQL database: every replica must sign "
        "page tokens with the same key (a file all replicas mount)");
  }
  auto store = store::OpenResourceStore({config.database_path, "events"});
  if (!store.ok()) return store.status();
  if (absl::Status s = InstallPageTokenKeyFile(config.page_token_key_path.empty()
                                                   ? config.database_path + ".token-key"
                                                   : config.page_token_key_path);
      !s.ok()) {
    return s;
  }
  self->store_ = *std::move(store);
  if (!config.redis_address.empty()) {
    RelayOptions relay;
    relay.redis_address = config.redis_address;
    relay.redis_credentials = config.redis_credentials;
    relay.stream = ChangeStreamKey("events");
    self->relay_ = std::make_unique<OutboxRelay>(self->store_.get(), relay);
    OutboxRelay* raw_relay = self->relay_.get();
    self->store_->SetCommitListener([raw_relay] { raw_relay->Notify(); });
  }
  // The registry is dialled with this service's own certificate as client identity (or
  // plaintext in the development mode).
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ServiceChannelCredentials(config.server);
  if (!credentials.ok()) return credentials.status();
  self->directory_ = std::make_unique<GrpcRegistryDirectory>(
      grpc::CreateChannel(config.registry_address, *credentials));
  RegistryDirectory* directory = self->directory_.get();
  if (!config.redis_address.empty() && config.registry_view) {
    RegistryViewOptions view = config.registry_view_options;
    view.redis_address = config.redis_address;
    view.redis_credentials = config.redis_credentials;
    view.stream = ChangeStreamKey("registry");
    self->view_ = std::make_unique<RegistryView>(self->directory_.get(), std::move(view));
    self->view_->RegisterMetrics(&self->metrics_);
    directory = self->view_.get();
  }
  if (!config.audit_log_path.empty()) {
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(config.audit_log_path);
    if (!log.ok()) return log.status();
    self->audit_log_ = *std::move(log);
  }
  self->events_ = std::make_unique<Events>(self->store_.get(), directory,
                                           config.max_outcomes, self->audit_log_.get());
  // Entries a release that derived them otherwise wrote are brought up to this one
  // before anything reads them.
  absl::StatusOr<crud::IndexUpdate> indexes = self->events_->UpdateIndexes();
  if (!indexes.ok()) {
    return absl::Status(indexes.status().code(),
                        absl::StrCat("updating the index: ", indexes.status().message()));
  }
  self->index_update_ = *indexes;
  if (!config.import_path.empty()) {
    absl::StatusOr<v1::EventsData> data = LoadEventsData(config.import_path);
    if (!data.ok()) return data.status();
    absl::StatusOr<crud::ImportSummary> summary =
        self->events_->Import(*data, absl::Now() + config.server.default_deadline);
    if (!summary.ok()) {
      return absl::Status(summary.status().code(),
                          absl::StrCat("import ", config.import_path, ": ",
                                       summary.status().message()));
    }
    self->import_summary_ = *summary;
  }
  self->service_ =
      std::make_unique<EventsGrpcService>(
      self->events_.get(), config.server.default_deadline, config.server.max_writes_in_flight);
  RegisterOutboxMetrics(&self->metrics_, self->store_.get(), self->relay_.get());
  store::ResourceStore* raw_store = self->store_.get();
  self->service_->LimitWritesPerCaller(config.server.writes_per_second_per_caller,
                                       config.server.write_burst_per_caller);
  // Writes the authorization policy refuses never reach the service: the authenticator
  // tells the audit trail.
  ServerOptions server_options = config.server;
  EventsGrpcService* raw_service = self->service_.get();
  server_options.auth.on_policy_refusal = RecordPolicyRefusalsOf(
      v1::EventsService::service_full_name(),
      [raw_service](const Caller& caller, absl::string_view method, const absl::Status& status) {
        raw_service->RecordRefusal(caller, method, "", status);
      });
  auto server = GrpcServer::Start(
      server_options,
      {{self->service_.get(), kEventsServiceName, [raw_store] { return raw_store->Ping(); }}},
      &self->metrics_);
  if (!server.ok()) return server.status();
  self->server_ = *std::move(server);
  return self;
}

void EventsServer::Shutdown() {
  if (server_ != nullptr) server_->Shutdown();
  if (relay_ != nullptr) relay_->Stop();
  if (view_ != nullptr) view_->Stop();
}

absl::StatusOr<std::string> EventsServer::Describe() {
  absl::StatusOr<v1::ListActivitiesResponse> activities = events_->ListActivities({});
  absl::StatusOr<v1::ListOutcomesResponse> outcomes = events_->ListOutcomes({});
  v1::ListRegistrationsRequest all;
  all.set_parent("activities/-");
  absl::StatusOr<v1::ListRegistrationsResponse> registrations = events_->ListRegistrations(all);
  for (const absl::Status& s : {activities.status(), outcomes.status(), registrations.status()}) {
    if (!s.ok()) return s;
  }
  absl::StatusOr<int64_t> backlog = store_->OutboxBacklog();
  return absl::StrFormat("%d activities, %d outcomes, %d registrations; %d changes waiting "
                         "to be relayed",
                         activities->total_size(), outcomes->total_size(),
                         registrations->total_size(), backlog.ok() ? *backlog : -1);
}

}  // namespace sanhak::events
