// The events service as a runnable unit: store (with its outbox relay), registry client,
// domain, gRPC handler and server runtime. main.cc and the tests start it the same way.
#ifndef SANHAK_SERVICES_EVENTS_EVENTS_SERVER_H_
#define SANHAK_SERVICES_EVENTS_EVENTS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/audit_log.h"
#include "common/metrics.h"
#include "common/outbox_relay.h"
#include "common/redis.h"
#include "common/server.h"
#include "common/resource_store.h"
#include "services/events/events.h"
#include "services/events/events_service.h"
#include "services/events/registry_directory.h"
#include "services/events/registry_view.h"

namespace sanhak::events {

inline constexpr char kEventsServiceName[] = "sanhak.events.v1.EventsService";

struct EventsConfig {
  ServerOptions server;
  std::string database_path = "events.db";
  // host:port of the registry service.
  std::string registry_address = "127.0.0.1:50051";
  // An EventsData text file imported at start (idempotent); empty imports nothing.
  std::string import_path;
  // host:port of Redis for the change feed; empty keeps change records in the outbox.
  std::string redis_address;
  // The Redis ACL user the relay signs in as (common/redis.h); empty user: no AUTH. The
  // registry view reads the registry's stream as the same user.
  redis::Credentials redis_credentials;
  // With redis_address: confirm councils and organizations from a local view of the
  // registry kept current from its change feed (services/events/registry_view.h), asking
  // the registry only about names the view has not seen. False: a registry call per
  // write that names any, as without Redis.
  bool registry_view = true;
  // Bounds and timeouts of the view; its Redis address and user are the ones above.
  RegistryViewOptions registry_view_options;
  // Outcomes held at most (kMaxOutcomes; tests lower it).
  int64_t max_outcomes = kMaxOutcomes;
  // The key page tokens are signed with (common/page_token.h), created on first start;
  // empty means database_path + ".token-key". Replicas serving one data set share it.
  std::string page_token_key_path;
  // A JSON-lines file every audit entry is appended to as well (common/audit_log.h);
  // empty: none.
  std::string audit_log_path;
};

// Reads an EventsData text-format file; errors name the line and column.
absl::StatusOr<v1::EventsData> LoadEventsData(const std::string& path);

class EventsServer {
 public:
  static absl::StatusOr<std::unique_ptr<EventsServer>> Start(const EventsConfig& config);
  ~EventsServer() { Shutdown(); }

  int port() const { return server_->port(); }
  std::string address() const { return server_->address(); }
  // The metrics endpoint ("" when config.server.metrics_listen_address is empty).
  std::string metrics_address() const { return server_->metrics_address(); }
  int metrics_port() const { return server_->metrics_port(); }
  Events& events() { return *events_; }
  // The registry view, or null (no Redis, or config.registry_view false).
  RegistryView* registry_view() { return view_.get(); }
  store::ResourceStore& store() { return *store_; }
  const crud::ImportSummary& import_summary() const { return import_summary_; }
  // What the start-up index update did (crud::UpdateIndex).
  const crud::IndexUpdate& index_update() const { return index_update_; }
  // One line: how many of each resource the service holds.
  absl::StatusOr<std::string> Describe();
  void Shutdown();

 private:
  EventsServer() = default;

  // Declared first, so it outlives everything its callbacks read (store, relay).
  metrics::MetricsRegistry metrics_;
  std::unique_ptr<store::ResourceStore> store_;
  std::unique_ptr<AuditLog> audit_log_;
  std::unique_ptr<OutboxRelay> relay_;
  std::unique_ptr<GrpcRegistryDirectory> directory_;
  // Wraps directory_ (declared after it, so it goes first).
  std::unique_ptr<RegistryView> view_;
  std::unique_ptr<Events> events_;
  std::unique_ptr<EventsGrpcService> service_;
  std::unique_ptr<GrpcServer> server_;
  crud::ImportSummary import_summary_;
  crud::IndexUpdate index_update_;
};

}  // namespace sanhak::events

#endif  // SANHAK_SERVICES_EVENTS_EVENTS_SERVER_H_
