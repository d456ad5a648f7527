#include "services/registry/registry_server.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/audit_log.h"
#include "common/outbox_metrics.h"
#include "common/page_token.h"
#include "common/store_factory.h"
#include "common/text_data.h"

namespace sanhak::registry {

absl::StatusOr<v1::RegistryData> LoadRegistryData(const std::string& path) {
  v1::RegistryData data;
  if (absl::Status s = LoadTextProto(path, &data); !s.ok()) return s;
  return data;
}

absl::StatusOr<std::unique_ptr<RegistryServer>> RegistryServer::Start(
    const RegistryConfig& config) {
  std::unique_ptr<RegistryServer> self(new RegistryServer());
  // Replicas sharing a PostgreSQL database must sign page tokens with one key, so a
  // page asked of one replica continues on another: there is no per-file default.
  const bool shared_database = store::IsPostgresUri(config.database_path);
  if (shared_database && config.page_token_key_path.empty()) {
    return absl::InvalidArgumentError(
        "--page_token_key is required with a PostgreSQL database: every replica must sign "
        "page tokens with the same key (a file all replicas mount)");
  }
  auto store = store::OpenResourceStore({config.database_path, "registry"});
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
    relay.stream = ChangeStreamKey("registry");
    self->relay_ = std::make_unique<OutboxRelay>(self->store_.get(), relay);
    OutboxRelay* raw_relay = self->relay_.get();
    self->store_->SetCommitListener([raw_relay] { raw_relay->Notify(); });
  }
  if (!config.audit_log_path.empty()) {
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(config.audit_log_path);
    if (!log.ok()) return log.status();
    self->audit_log_ = *std::move(log);
  }
  self->registry_ = std::make_unique<Registry>(self->store_.get(), self->audit_log_.get());
  // Entries a release that derived them otherwise wrote are brought up to this one
  // before anything reads them.
  absl::StatusOr<crud::IndexUpdate> indexes = self->registry_->UpdateIndexes();
  if (!indexes.ok()) {
    return absl::Status(indexes.status().code(),
                        absl::StrCat("updating the index: ", indexes.status().message()));
  }
  self->index_update_ = *indexes;
  if (!config.import_path.empty()) {
    absl::StatusOr<v1::RegistryData> data = LoadRegistryData(config.import_path);
    if (!data.ok()) return data.status();
    absl::StatusOr<ImportSummary> summary = self->registry_->Import(*data);
    if (!summary.ok()) {
      return absl::Status(summary.status().code(),
                          absl::StrCat("import ", config.import_path, ": ",
                                       summary.status().message()));
    }
    self->import_summary_ = *summary;
  }
  self->service_ = std::make_unique<RegistryGrpcService>(
      self->registry_.get(), config.server.max_writes_in_flight);
  RegisterOutboxMetrics(&self->metrics_, self->store_.get(), self->relay_.get());
  store::ResourceStore* raw_store = self->store_.get();
  self->service_->LimitWritesPerCaller(config.server.writes_per_second_per_caller,
                                       config.server.write_burst_per_caller);
  // Writes the authorization policy refuses never reach the service: the authenticator
  // tells the audit trail.
  ServerOptions server_options = config.server;
  RegistryGrpcService* raw_service = self->service_.get();
  server_options.auth.on_policy_refusal = RecordPolicyRefusalsOf(
      v1::RegistryService::service_full_name(),
      [raw_service](const Caller& caller, absl::string_view method, const absl::Status& status) {
        raw_service->RecordRefusal(caller, method, "", status);
      });
  auto server = GrpcServer::Start(
      server_options,
      {{self->service_.get(), kRegistryServiceName, [raw_store] { return raw_store->Ping(); }}},
      &self->metrics_);
  if (!server.ok()) return server.status();
  self->server_ = *std::move(server);
  return self;
}

void RegistryServer::Shutdown() {
  if (server_ != nullptr) server_->Shutdown();
  if (relay_ != nullptr) relay_->Stop();
}

absl::StatusOr<std::string> RegistryServer::Describe() {
  absl::StatusOr<v1::ListFieldsResponse> fields = registry_->ListFields({});
  absl::StatusOr<v1::ListRegionsResponse> regions = registry_->ListRegions({});
  absl::StatusOr<v1::ListComplexesResponse> complexes = registry_->ListComplexes({});
  absl::StatusOr<v1::ListCouncilsResponse> councils = registry_->ListCouncils({});
  absl::StatusOr<v1::ListOrganizationsResponse> orgs = registry_->ListOrganizations({});
  v1::ListMembershipsRequest all_memberships;
  all_memberships.set_parent("councils/-");
  absl::StatusOr<v1::ListMembershipsResponse> memberships =
      registry_->ListMemberships(all_memberships);
  for (const absl::Status& s : {fields.status(), regions.status(), complexes.status(),
                                councils.status(), orgs.status(), memberships.status()}) {
    if (!s.ok()) return s;
  }
  return absl::StrFormat(
      "%d councils, %d fields, %d regions, %d industrial complexes, %d organizations, "
      "%d memberships",
      councils->total_size(), fields->total_size(), regions->total_size(),
      complexes->total_size(), orgs->total_size(), memberships->total_size());
}

}  // namespace sanhak::registry
