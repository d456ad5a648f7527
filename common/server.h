// The one server bootstrap every service runs on: listen address (port 0 picks a free
// port), grpc.health.v1 fed by the service's own probe, server reflection, one JSON log
// line per call, Prometheus metrics on a port of their own, bounded message sizes,
// graceful drain on shutdown.
#ifndef SANHAK_COMMON_SERVER_H_
#define SANHAK_COMMON_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/grpc_metrics.h"
#include "common/metrics.h"
#include "common/metrics_http.h"
#include "grpcpp/server.h"
#include "grpcpp/server_context.h"

namespace sanhak {

struct ServerOptions {
  // host:port; port 0 lets the kernel pick one (tests).
  std::string listen_address = "127.0.0.1:0";
  // Largest request or response accepted, in bytes.
  int max_message_bytes = 4 * 1024 * 1024;
  // Deadline for work a call causes when the caller sent none (see DeadlineFor).
  absl::Duration default_deadline = absl::Seconds(30);
  // How long in-flight calls may run on after shutdown starts before they are cancelled.
  absl::Duration drain_deadline = absl::Seconds(10);
  // How often each service's health probe runs.
  absl::Duration health_interval = absl::Seconds(2);
  // One log line per call; the benchmark turns it off for both servers alike.
  bool log_calls = true;
  // host:port of the Prometheus endpoint (GET /metrics); port 0 picks a free port. Empty
  // serves no metrics and records none (no interceptor on the call path).
  std::string metrics_listen_address;
  // Threads the sync server keeps polling for calls (see server.cc).
  int min_pollers = 2;
  int max_pollers = 16;
};

// Returns OK while the service can do its work (its store answers).
using HealthProbe = std::function<absl::Status()>;

struct HostedService {
  grpc::Service* service;
  // Full service name as health checks ask for it, e.g. "sanhak.registry.v1.RegistryService".
  std::string name;
  HealthProbe probe;
};

class GrpcServer {
 public:
  // Builds and starts the server. The services must outlive it. `metrics` holds the
  // service's own metrics (outbox backlog, ...) and gets the gRPC call metrics beside
  // them; it must outlive the server. When null and metrics are on, the server keeps a
  // registry of its own with the call metrics alone.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const ServerOptions& options, std::vector<HostedService> services,
      metrics::MetricsRegistry* metrics = nullptr);

  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  int port() const { return port_; }
  // "host:port" with the real port, ready for a client to dial.
  std::string address() const;
  // The metrics endpoint's port and "host:port"; 0 and "" when metrics are off.
  int metrics_port() const { return metrics_http_ != nullptr ? metrics_http_->port() : 0; }
  std::string metrics_address() const {
    return metrics_http_ != nullptr ? metrics_http_->address() : "";
  }

  // Health turns NOT_SERVING, new calls are refused, in-flight calls get until the drain
  // deadline to finish. Safe to call more than once.
  void Shutdown();

 private:
  GrpcServer(const ServerOptions& options, std::vector<HostedService> services);
  void ProbeLoop();
  void RunProbes();

  const ServerOptions options_;
  const std::vector<HostedService> services_;
  std::unique_ptr<metrics::MetricsRegistry> own_metrics_;  // when Start got none
  std::unique_ptr<GrpcServerMetrics> call_metrics_;
  metrics::GaugeFamily* serving_ = nullptr;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<metrics::MetricsHttpServer> metrics_http_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<bool> last_healthy_ ABSL_GUARDED_BY(mu_);
  std::thread prober_;
};

// The deadline for work a call causes (outbound calls, waits): the caller's deadline, or
// `default_deadline` from now when the caller sent none.
absl::Time DeadlineFor(const grpc::ServerContextBase& context,
                       absl::Duration default_deadline);

// Routes gRPC's own log lines (connection errors, assertion messages) through Log(), so
// stderr carries nothing but JSON lines. Process-wide; GrpcServer::Start calls it, and
// main() may call it earlier so that clients built before the server log the same way.
void RouteGrpcLogsToLog();

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts later. Call
// first thing in main(), so that WaitForTerminationSignal() is the only receiver.
void BlockTerminationSignals();

// Waits for SIGINT or SIGTERM and returns which arrived.
int WaitForTerminationSignal();

// What every main() does once its server is up: wait for SIGINT/SIGTERM, log it, run
// `shutdown` (drain), log "stopped". Returns the process exit code.
int ServeUntilTerminated(const std::function<void()>& shutdown);

}  // namespace sanhak

#endif  // SANHAK_COMMON_SERVER_H_
