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
#include "common/auth/authenticator.h"
#include "common/tls.h"
#include "grpcpp/server.h"
#include "grpcpp/server_context.h"

namespace sanhak {

struct ServerOptions {
  // host:port; port 0 lets the kernel pick one (tests).
  std::string listen_address = "127.0.0.1:0";

  // Transport security (common/tls.h). With tls.cert, tls.key and tls.ca set, the port
  // serves mutual TLS only, whatever insecure_plaintext says. Without them the port is
  // plaintext, which Start allows only when insecure_plaintext is set AND listen_address
  // is a loopback address; otherwise Start fails saying which flags are missing.
  // insecure_plaintext is true here for in-process tests and tools; the service binaries'
  // --insecure_plaintext defaults to false, so a binary given neither refuses to start.
  // (The metrics endpoint is plain HTTP in every case; see metrics_listen_address.)
  TlsFiles tls;
  bool insecure_plaintext = true;
  // How often the TLS files are re-read (a rotation reaches new connections within it).
  absl::Duration tls_refresh_interval = kDefaultTlsRefreshInterval;
  // Whether a TLS caller may come without a client certificate (then with a bearer
  // token, which the authentication requires). False: the handshake requires one. Set
  // only where token authentication is configured (--jwt_keys).
  bool tls_client_certificate_optional = false;
  // Who may call (common/auth): on a TLS server every call is authenticated (client
  // certificate or bearer token) and checked against auth.policy_path before any handler
  // runs; Start fails when TLS is on and no policy is given. A plaintext server has no
  // identities: every call is the development caller (common/caller.h).
  auth::AuthOptions auth;
  // Writes one caller may make per second (bursts up to write_burst_per_caller); beyond
  // it RESOURCE_EXHAUSTED with RetryInfo, reason CALLER_LIMIT. <= 0: no limit. Applied by
  // the services that write (ParsedService::LimitWritesPerCaller).
  double writes_per_second_per_caller = 0;
  int write_burst_per_caller = 1000;
  // Largest response sent, in bytes.
  int max_message_bytes = 4 * 1024 * 1024;
  // Largest request accepted, in bytes; a larger one is refused with RESOURCE_EXHAUSTED.
  // gRPC 1.51 checks this only once the whole message has arrived, and opens the stream's
  // flow-control window to the length the caller announced, so it does not bound what a
  // stalled, half-sent request holds (see memory_quota_bytes).
  int max_request_bytes = 1024 * 1024;
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
  // Threads a sync server would keep polling for calls. Every service (reflection and
  // health included) is a callback service, so none are started; kept for a service
  // that is not.
  int min_pollers = 1;
  int max_pollers = 2;

  // Load limits: what one caller, or many, can make the process hold. Each is enforced
  // by gRPC's transport or by admission in the handlers; beyond it a caller is refused
  // (RESOURCE_EXHAUSTED with RetryInfo, or the stream or connection closed), never queued
  // without bound.
  // Streams (calls) open at once on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).
  int max_concurrent_streams = 64;
  // Memory gRPC may use for every connection's buffers together (its resource quota);
  // under pressure it shrinks flow-control windows and resets streams (ENHANCE_YOUR_CALM).
  // gRPC 1.51 reclaims only after the bytes have arrived, so the quota steers the peak
  // rather than bounding it: 2 connections x 60 stalled 4 MB requests took the registry to
  // 363-405 MiB with 256 MiB here and to 126-162 MiB with 64 MiB (tests/common/
  // stalled_streams_test.cc). 64 MiB still holds 16 of the largest (4 MiB) messages.
  // Analytics sets more: it holds many long-lived streams (AnalyticsConfig).
  int64_t memory_quota_bytes = int64_t{64} << 20;
  // Writes (and calls to other services that writes cause) admitted at once; beyond it a
  // write is refused at once with RESOURCE_EXHAUSTED and RetryInfo.
  int max_writes_in_flight = 1024;
  // Largest header block (metadata) a caller may send.
  int max_metadata_bytes = 16 * 1024;
  // The server pings an idle connection this often and drops it when no answer comes
  // within keepalive_timeout: dead peers free their resources.
  absl::Duration keepalive_time = absl::Seconds(60);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  // A client may ping at most this often (keepalive enforcement); a client that pings
  // faster is sent GOAWAY after two strikes.
  absl::Duration min_client_ping_interval = absl::Seconds(10);
  // A connection with no call open for this long is closed.
  absl::Duration max_connection_idle = absl::Minutes(5);
  // Every connection is closed after this age (with GOAWAY, so clients reconnect and
  // load spreads over replicas); calls still open get max_connection_age_grace to end.
  // Watch streams resume with their token on a new connection.
  absl::Duration max_connection_age = absl::Minutes(30);
  absl::Duration max_connection_age_grace = absl::Minutes(5);
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
  // Whether the port serves TLS (false: the plaintext development mode).
  bool tls() const { return tls_provider_ != nullptr; }
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
  // Every service's last probe passed and the server is not draining: what the
  // metrics endpoint's /readyz answers (the kubelet cannot reach the mTLS gRPC port).
  bool Ready();

  const ServerOptions options_;
  const std::vector<HostedService> services_;
  std::unique_ptr<metrics::MetricsRegistry> own_metrics_;  // when Start got none
  std::unique_ptr<GrpcServerMetrics> call_metrics_;
  metrics::GaugeFamily* serving_ = nullptr;
  // Watches the TLS files; null when plaintext.
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> tls_provider_;
  // sanhak.identity.v1.IdentityService (WhoAmI), hosted on every server.
  std::unique_ptr<grpc::Service> identity_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<metrics::MetricsHttpServer> metrics_http_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<bool> last_healthy_ ABSL_GUARDED_BY(mu_);
  std::thread prober_;
};

// The credentials the port is served with, by the rules at ServerOptions::tls: TLS from
// the files, or plaintext in the development mode on a loopback address; an error
// naming the flags otherwise. `provider` receives the TLS file watcher (null when
// plaintext).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const ServerOptions& options,
    std::shared_ptr<grpc::experimental::CertificateProviderInterface>* provider = nullptr);

// The credentials a service dials the suite's other services with: TLS with its own
// certificate as client identity when `options` has TLS files, else plaintext (the
// development mode; its checks are ServerCredentialsFor's).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ServiceChannelCredentials(
    const ServerOptions& options);

// The deadline for work a call causes (outbound calls, waits): the caller's deadline, or
// `default_deadline` from now when the caller sent none.
absl::Time DeadlineFor(const grpc::ServerContextBase& context,
                       absl::Duration default_deadline);

// Routes gRPC's own log lines (connection errors, assertion messages) and libprotobuf's
// (e.g. a refused invalid-UTF-8 string, at most 10 a second) through Log(), so stderr
// carries nothing but JSON lines. Process-wide; GrpcServer::Start calls it, and
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
