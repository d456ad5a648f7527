#include "services/analytics/analytics_server.h"

#include <optional>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "common/resource_names.h"

namespace sanhak::analytics {

absl::StatusOr<std::unique_ptr<AnalyticsServer>> AnalyticsServer::Start(
    const AnalyticsConfig& config) {
  if (config.engine.redis_address.empty()) {
    return absl::InvalidArgumentError("analytics needs a Redis address (--redis)");
  }
  // The registry and events are dialled with this service's own certificate as client
  // identity (or plaintext in the development mode).
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ServiceChannelCredentials(config.server);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<AnalyticsServer> self(new AnalyticsServer());
  self->source_ = std::make_unique<GrpcSourceOfTruth>(
      grpc::CreateChannel(config.registry_address, *credentials),
      grpc::CreateChannel(config.events_address, *credentials));
  AnalyticsOptions options = config.engine;
  // Named here, so the consumer group and the lease know this replica by one name.
  if (options.replica_id.empty()) options.replica_id = GenerateId("replica");
  self->storage_ = std::make_unique<RedisStorage>(RedisStorageOptions{
      options.redis_address, options.redis_credentials, options.redis_timeout, options.services,
      options.replica_id, options.updates_kept});
  self->analytics_ =
      std::make_unique<Analytics>(options, self->source_.get(), self->storage_.get());
  self->service_ = std::make_unique<AnalyticsGrpcService>(self->analytics_.get());
  self->RegisterEngineMetrics();
  Analytics* engine = self->analytics_.get();
  // Ready once the state has been loaded from Redis; after that, serving means answering:
  // from Redis, or from a rebuild while Redis is away or emptied (the engine logs that as
  // degraded) — NOT_SERVING when that rebuild fails.
  auto server = GrpcServer::Start(
      config.server, {{self->service_.get(), kAnalyticsServiceName,
                       [engine] { return engine->Serving(); }}},
      &self->metrics_);
  if (!server.ok()) return server.status();
  self->server_ = *std::move(server);
  return self;
}

void AnalyticsServer::RegisterEngineMetrics() {
  using metrics::MetricType;
  struct Field {
    MetricType type;
    const char* name;
    const char* help;
    double (*read)(const Analytics::Stats&);
  };
  static constexpr Field kFields[] = {
      {MetricType::kCounter, "sanhak_analytics_rebuilds_total",
       "Times the aggregates were rebuilt from the registry and events.",
       [](const Analytics::Stats& s) -> double { return s.rebuilds; }},
      {MetricType::kCounter, "sanhak_analytics_applied_total",
       "Change records applied to the aggregates.",
       [](const Analytics::Stats& s) -> double { return s.applied; }},
      {MetricType::kGauge, "sanhak_analytics_watchers", "Open WatchAggregates streams.",
       [](const Analytics::Stats& s) -> double { return s.watchers; }},
      {MetricType::kGauge, "sanhak_analytics_redis_reachable", "1 while Redis answers, else 0.",
       [](const Analytics::Stats& s) -> double { return s.redis_reachable; }},
      {MetricType::kGauge, "sanhak_analytics_leader",
       "1 on the replica that applies the change feed, else 0.",
       [](const Analytics::Stats& s) -> double { return s.leader; }},
      {MetricType::kGauge, "sanhak_analytics_ready",
       "1 once the aggregates have been loaded, else 0.",
       [](const Analytics::Stats& s) -> double { return s.ready; }},
      {MetricType::kGauge, "sanhak_analytics_stream_lag",
       "Change records in the services' Redis Streams not yet in this replica's aggregates.",
       [](const Analytics::Stats& s) -> double { return s.stream_lag; }},
      {MetricType::kGauge, "sanhak_analytics_update_sequence",
       "Updates applied in the current generation of the aggregates.",
       [](const Analytics::Stats& s) -> double { return s.useq; }},
  };
  Analytics* engine = analytics_.get();
  // Each reads one field of stats(): a scrape takes the engine's lock a few times, which
  // is nothing beside a scrape interval of seconds.
  for (const Field& f : kFields) {
    metrics_.AddCallback(f.type, f.name, f.help,
                         [engine, read = f.read]() -> std::optional<double> {
                           return read(engine->stats());
                         });
  }
}

void AnalyticsServer::Shutdown() {
  // Watchers are closed first, so the drain does not wait for endless streams.
  if (analytics_ != nullptr) analytics_->Stop();
  if (server_ != nullptr) server_->Shutdown();
}

}  // namespace sanhak::analytics
