#include "services/analytics/analytics_server.h"

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace sanhak::analytics {

absl::StatusOr<std::unique_ptr<AnalyticsServer>> AnalyticsServer::Start(
    const AnalyticsConfig& config) {
  if (config.engine.redis_address.empty()) {
    return absl::InvalidArgumentError("analytics needs a Redis address (--redis)");
  }
  std::unique_ptr<AnalyticsServer> self(new AnalyticsServer());
  self->source_ = std::make_unique<GrpcSourceOfTruth>(
      grpc::CreateChannel(config.registry_address, grpc::InsecureChannelCredentials()),
      grpc::CreateChannel(config.events_address, grpc::InsecureChannelCredentials()));
  self->analytics_ = std::make_unique<Analytics>(config.engine, self->source_.get());
  self->service_ = std::make_unique<AnalyticsGrpcService>(self->analytics_.get());
  Analytics* engine = self->analytics_.get();
  // Ready once the state has been loaded from Redis; after that, serving means answering:
  // from Redis, or from a rebuild while Redis is away (the engine logs that as degraded).
  auto server = GrpcServer::Start(
      config.server, {{self->service_.get(), kAnalyticsServiceName, [engine] {
                         return engine->stats().ready
                                    ? absl::OkStatus()
                                    : absl::UnavailableError("loading the aggregates");
                       }}});
  if (!server.ok()) return server.status();
  self->server_ = *std::move(server);
  return self;
}

void AnalyticsServer::Shutdown() {
  // Watchers are closed first, so the drain does not wait for endless streams.
  if (analytics_ != nullptr) analytics_->Stop();
  if (server_ != nullptr) server_->Shutdown();
}

}  // namespace sanhak::analytics
