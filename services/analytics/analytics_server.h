// The analytics service as a runnable unit: source of truth (the other services), engine,
// gRPC handler and server runtime. main.cc and the tests start it the same way.
#ifndef SANHAK_SERVICES_ANALYTICS_ANALYTICS_SERVER_H_
#define SANHAK_SERVICES_ANALYTICS_ANALYTICS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "common/server.h"
#include "services/analytics/analytics.h"
#include "services/analytics/analytics_service.h"
#include "services/analytics/redis_storage.h"
#include "services/analytics/source_of_truth.h"

namespace sanhak::analytics {

inline constexpr char kAnalyticsServiceName[] = "sanhak.analytics.v1.AnalyticsService";

// Analytics' requests are tiny and its watch streams long-lived and many: a client may
// hold many watches on one connection, and no request needs more than 64 KiB.
inline constexpr int kAnalyticsMaxConcurrentStreams = 1024;
inline constexpr int kAnalyticsMaxRequestBytes = 64 * 1024;
// gRPC charges each open stream's buffers to the resource quota and resets streams
// (RST_STREAM ENHANCE_YOUR_CALM) when it runs out: with the other services' 64 MiB, 256 of
// 20,000 watches (the max_watchers default) were reset as they opened; with 256 MiB none
// (bench/fanout.cc, 20000@10). The container's limit is 1 GiB (deploy/base/analytics.yaml).
inline constexpr int kAnalyticsMemoryQuotaMb = 256;

struct AnalyticsConfig {
  AnalyticsConfig() {
    server.max_concurrent_streams = kAnalyticsMaxConcurrentStreams;
    server.max_request_bytes = kAnalyticsMaxRequestBytes;
    server.memory_quota_bytes = int64_t{kAnalyticsMemoryQuotaMb} << 20;
  }
  ServerOptions server;
  std::string registry_address = "127.0.0.1:50051";
  std::string events_address = "127.0.0.1:50052";
  AnalyticsOptions engine;
};

class AnalyticsServer {
 public:
  static absl::StatusOr<std::unique_ptr<AnalyticsServer>> Start(const AnalyticsConfig& config);
  ~AnalyticsServer() { Shutdown(); }

  int port() const { return server_->port(); }
  std::string address() const { return server_->address(); }
  // The metrics endpoint ("" when config.server.metrics_listen_address is empty).
  std::string metrics_address() const { return server_->metrics_address(); }
  int metrics_port() const { return server_->metrics_port(); }
  Analytics& analytics() { return *analytics_; }
  void Shutdown();

 private:
  AnalyticsServer() = default;
  // The engine's counters, read from Analytics::stats() at scrape time.
  void RegisterEngineMetrics();

  // Declared first, so it outlives the engine its callbacks read.
  metrics::MetricsRegistry metrics_;
  std::unique_ptr<GrpcSourceOfTruth> source_;
  std::unique_ptr<RedisStorage> storage_;
  std::unique_ptr<Analytics> analytics_;
  std::unique_ptr<AnalyticsGrpcService> service_;
  std::unique_ptr<GrpcServer> server_;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_ANALYTICS_SERVER_H_
