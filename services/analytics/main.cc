// sanhak analytics: parse flags, start the server, wait for SIGINT/SIGTERM, drain.
#include <algorithm>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/log.h"
#include "common/redis_flags.h"
#include "common/server_flags.h"
#include "common/version.h"
#include "services/analytics/analytics_server.h"

ABSL_FLAG(std::string, registry, sanhak::EnvOr("SANHAK_REGISTRY", "127.0.0.1:50051"),
          "host:port of the registry service (env SANHAK_REGISTRY)");
ABSL_FLAG(std::string, events, sanhak::EnvOr("SANHAK_EVENTS", "127.0.0.1:50052"),
          "host:port of the events service (env SANHAK_EVENTS)");
ABSL_FLAG(std::string, redis, sanhak::EnvOr("SANHAK_REDIS", "127.0.0.1:6379"),
          "host:port of Redis (env SANHAK_REDIS)");
ABSL_FLAG(std::string, replica, sanhak::EnvOr("SANHAK_REPLICA", ""),
          "this replica's name in the consumer group; random when empty (env "
          "SANHAK_REPLICA, e.g. the pod name)");
ABSL_FLAG(int, max_watchers, sanhak::EnvIntOr("SANHAK_MAX_WATCHERS", 20000),
          "watch streams open at once; one more is refused RESOURCE_EXHAUSTED (env "
          "SANHAK_MAX_WATCHERS)");

ABSL_FLAG(int, max_watches_per_caller,
          sanhak::EnvIntOr("SANHAK_MAX_WATCHES_PER_CALLER", 1000),
          "watch streams one caller may hold open; one more is refused RESOURCE_EXHAUSTED "
          "with RetryInfo (env SANHAK_MAX_WATCHES_PER_CALLER; 0 = no cap)");

ABSL_FLAG(int, watch_threads, sanhak::EnvIntOr("SANHAK_WATCH_THREADS", 0),
          "threads delivering updates to watchers (env SANHAK_WATCH_THREADS; 0 = one per "
          "core this process may run on, e.g. a pod's CPU set)");

ABSL_FLAG(int, watch_linger_ms, sanhak::EnvIntOr("SANHAK_WATCH_LINGER_MS", 30),
          "how long an update may wait for the next ones, so that what is published "
          "within it reaches each watcher together (one message to a watcher that accepts "
          "batches): fewer messages, less CPU per delivery, at most this much more latency "
          "(env SANHAK_WATCH_LINGER_MS; 0 = each update at once)");

ABSL_FLAG(int, rebuild_deadline_s, sanhak::EnvIntOr("SANHAK_REBUILD_DEADLINE_S", 300),
          "bound on one rebuild of the aggregates from the services, in seconds; a rebuild "
          "reads every resource, so it grows with the data (about 1 min for 1,000,000 "
          "activities, bench/README.md) (env SANHAK_REBUILD_DEADLINE_S)");

int main(int argc, char** argv) {
  sanhak::BlockTerminationSignals();
  // Before anything creates a channel, so gRPC's own messages are JSON lines too.
  sanhak::RouteGrpcLogsToLog();
  absl::SetProgramUsageMessage("sanhak analytics service");
  sanhak::SetVersionFlagText("sanhak_analytics_server");
  // Analytics' own defaults for three shared flags (see AnalyticsConfig); the environment
  // and the command line still win.
  absl::SetFlag(&FLAGS_max_concurrent_streams,
                sanhak::EnvIntOr("SANHAK_MAX_CONCURRENT_STREAMS",
                                 sanhak::analytics::kAnalyticsMaxConcurrentStreams));
  absl::SetFlag(&FLAGS_max_request_bytes,
                sanhak::EnvIntOr("SANHAK_MAX_REQUEST_BYTES",
                                 sanhak::analytics::kAnalyticsMaxRequestBytes));
  absl::SetFlag(&FLAGS_memory_quota_mb,
                sanhak::EnvIntOr("SANHAK_MEMORY_QUOTA_MB",
                                 sanhak::analytics::kAnalyticsMemoryQuotaMb));
  absl::ParseCommandLine(argc, argv);

  sanhak::analytics::AnalyticsConfig config;
  config.server = sanhak::ServerOptionsFromFlags();
  config.registry_address = absl::GetFlag(FLAGS_registry);
  config.events_address = absl::GetFlag(FLAGS_events);
  config.engine.redis_address = absl::GetFlag(FLAGS_redis);
  absl::StatusOr<sanhak::redis::Credentials> redis_credentials =
      sanhak::RedisCredentialsFromFlags(config.engine.redis_address);
  if (!redis_credentials.ok()) {
    sanhak::Log(sanhak::LogLevel::kError, "start failed",
                {{"error", redis_credentials.status().ToString()}});
    return 1;
  }
  config.engine.redis_credentials = *std::move(redis_credentials);
  config.engine.replica_id = absl::GetFlag(FLAGS_replica);
  config.engine.max_watchers = absl::GetFlag(FLAGS_max_watchers);
  config.engine.rebuild_deadline = absl::Seconds(std::max(1, absl::GetFlag(FLAGS_rebuild_deadline_s)));
  config.engine.max_watches_per_caller = absl::GetFlag(FLAGS_max_watches_per_caller);
  config.engine.watch_threads = std::max(0, absl::GetFlag(FLAGS_watch_threads));
  config.engine.watch_linger =
      absl::Milliseconds(std::clamp(absl::GetFlag(FLAGS_watch_linger_ms), 0, 1000));

  auto server = sanhak::analytics::AnalyticsServer::Start(config);
  if (!server.ok()) {
    sanhak::Log(sanhak::LogLevel::kError, "start failed",
                {{"error", server.status().ToString()}});
    return 1;
  }
  sanhak::Log(sanhak::LogLevel::kInfo, "serving",
              {{"service", std::string(sanhak::analytics::kAnalyticsServiceName)},
               {"address", (*server)->address()},
               {"metrics", (*server)->metrics_address()},
               {"redis", config.engine.redis_address}});
  std::printf("analytics listening on %s\n", (*server)->address().c_str());
  if (!(*server)->metrics_address().empty()) {
    std::printf("analytics metrics on http://%s/metrics\n", (*server)->metrics_address().c_str());
  }
  std::fflush(stdout);

  return sanhak::ServeUntilTerminated([&] { (*server)->Shutdown(); });
}
