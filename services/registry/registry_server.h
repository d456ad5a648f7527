// The registry as a runnable unit: store, domain, gRPC handler and server runtime wired
// together. main.cc and the integration tests start it the same way.
#ifndef SANHAK_SERVICES_REGISTRY_REGISTRY_SERVER_H_
#define SANHAK_SERVICES_REGISTRY_REGISTRY_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/audit_log.h"
#include "common/metrics.h"
#include "common/outbox_relay.h"
#include "common/redis.h"
#include "common/server.h"
#include "common/resource_store.h"
#include "services/registry/registry.h"
#include "services/registry/registry_service.h"

namespace sanhak::registry {

inline constexpr char kRegistryServiceName[] = "sanhak.registry.v1.RegistryService";

struct RegistryConfig {
  ServerOptions server;
  // The registry's SQLite file.
  std::string database_path = "registry.db";
  // A RegistryData text file imported at start (idempotent); empty imports nothing.
  std::string import_path;
  // host:port of Redis for the change feed; empty keeps change records in the outbox.
  std::string redis_address;
  // The Redis ACL user the relay signs in as (common/redis.h); empty user: no AUTH.
  redis::Credentials redis_credentials;
  // The key page tokens are signed with (common/page_token.h), created on first start;
  // empty means database_path + ".token-key". Replicas serving one data set share it.
  std::string page_token_key_path;
  // A JSON-lines file every audit entry is appended to as well (common/audit_log.h);
  // empty: none.
  std::string audit_log_path;
};

// Reads a RegistryData text-format file; errors name the line and column.
absl::StatusOr<v1::RegistryData> LoadRegistryData(const std::string& path);

class RegistryServer {
 public:
  static absl::StatusOr<std::unique_ptr<RegistryServer>> Start(const RegistryConfig& config);

  int port() const { return server_->port(); }
  std::string address() const { return server_->address(); }
  // The metrics endpoint ("" when config.server.metrics_listen_address is empty).
  std::string metrics_address() const { return server_->metrics_address(); }
  int metrics_port() const { return server_->metrics_port(); }
  Registry& registry() { return *registry_; }
  store::ResourceStore& store() { return *store_; }
  // What the start-up import did (all zero without an import).
  const ImportSummary& import_summary() const { return import_summary_; }
  // What the start-up index update did (crud::UpdateIndex).
  const crud::IndexUpdate& index_update() const { return index_update_; }
  // One line: how many of each resource the registry holds.
  absl::StatusOr<std::string> Describe();
  // Graceful: health NOT_SERVING, drain, stop serving, stop relaying. Idempotent.
  void Shutdown();
  ~RegistryServer() { Shutdown(); }

 private:
  RegistryServer() = default;

  // Declared first, so it outlives everything its callbacks read (store, relay).
  metrics::MetricsRegistry metrics_;
  std::unique_ptr<store::ResourceStore> store_;
  std::unique_ptr<AuditLog> audit_log_;
  std::unique_ptr<OutboxRelay> relay_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<RegistryGrpcService> service_;
  std::unique_ptr<GrpcServer> server_;
  ImportSummary import_summary_;
  crud::IndexUpdate index_update_;
};

}  // namespace sanhak::registry

#endif  // SANHAK_SERVICES_REGISTRY_REGISTRY_SERVER_H_
