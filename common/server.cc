#include "common/server.h"

#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth/identity_service.h"
#include "common/log.h"
#include "common/process_metrics.h"
#include "common/reflection.h"
#include "common/trace_context.h"
#include "grpc/health/v1/health.pb.h"
#include "grpc/support/log.h"
#include "grpc/grpc.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/resource_quota.h"
#include "google/protobuf/stubs/logging.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/support/server_interceptor.h"

namespace sanhak {
namespace {

// Logs one line per call when the status is sent: method, peer, code, latency, and the
// call's trace (the caller's span from the request's traceparent; the call's own span and
// request id from the traceparent and x-request-id the handler put in the response's
// initial metadata, common/parsed_call.h). Later interceptors (authentication, audit)
// sit beside this one.
class CallLogInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit CallLogInterceptor(grpc::experimental::ServerRpcInfo* info)
      : info_(info), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      if (std::optional<TraceParent> parent =
              ParseTraceparent(Header(*methods->GetRecvInitialMetadata(), kTraceparentHeader))) {
        trace_.parent_span_id = std::move(parent->parent_id);
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      const auto& sent = *methods->GetSendInitialMetadata();
      if (std::optional<TraceParent> ours = ParseTraceparent(Header(sent, kTraceparentHeader))) {
        trace_.trace_id = std::move(ours->trace_id);
        trace_.span_id = std::move(ours->parent_id);
        trace_.request_id = std::string(Header(sent, kRequestIdHeader));
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      double latency_ms = absl::ToDoubleMilliseconds(absl::Now() - start_);
      LogField fields[] = {
          {"method", std::string(info_->method())},
          {"peer", info_->server_context()->peer()},
          {"code", std::string(GrpcCodeName(status.error_code()))},
          {"latency_ms", latency_ms},
      };
      ScopedTrace in_trace(trace_.empty() ? nullptr : &trace_);
      bool failed = !status.ok();
      if (failed) {
        Log(LogLevel::kInfo, "rpc",
            {fields[0], fields[1], fields[2], fields[3], {"error", status.error_message()}});
      } else {
        Log(LogLevel::kInfo, "rpc", {fields[0], fields[1], fields[2], fields[3]});
      }
    }
    methods->Proceed();
  }

 private:
  template <typename Metadata>
  static absl::string_view Header(const Metadata& metadata, absl::string_view key) {
    for (const auto& [name, value] : metadata) {
      if (absl::string_view(name.data(), name.size()) == key) {
        return absl::string_view(value.data(), value.size());
      }
    }
    return {};
  }

  grpc::experimental::ServerRpcInfo* info_;
  absl::Time start_;
  TraceContext trace_;
};

class CallLogInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallLogInterceptor(info);
  }
};

void LogGrpcMessage(gpr_log_func_args* args) {
  LogLevel level = args->severity == GPR_LOG_SEVERITY_ERROR  ? LogLevel::kError
                   : args->severity == GPR_LOG_SEVERITY_INFO ? LogLevel::kInfo
                                                             : LogLevel::kDebug;
  Log(level, args->message != nullptr ? args->message : "",
      {{"source", std::string("grpc")},
       {"file", std::string(args->file != nullptr ? args->file : "")},
       {"line", int64_t{args->line}}});
}

// libprotobuf logs an ERROR line for every string field it refuses as invalid UTF-8, so a
// caller sending such requests could otherwise write to stderr as fast as it sends. The
// lines go into the JSON log, at most kProtobufLinesPerSecond a second; the rest are
// counted and the count is logged with the next line let through.
constexpr int kProtobufLinesPerSecond = 10;
ABSL_CONST_INIT absl::Mutex protobuf_log_mu(absl::kConstInit);
// The current one-second window, lines let through in it, lines dropped since the last.
absl::Time window ABSL_GUARDED_BY(protobuf_log_mu);
int in_window ABSL_GUARDED_BY(protobuf_log_mu) = 0;
int64_t suppressed ABSL_GUARDED_BY(protobuf_log_mu) = 0;

void LogProtobufMessage(google::protobuf::LogLevel level, const char* filename, int line,
                        const std::string& message) {
  int64_t suppressed_before = 0;
  {
    absl::MutexLock lock(&protobuf_log_mu);
    const absl::Time now = absl::Now();
    if (now - window >= absl::Seconds(1)) {
      window = now;
      in_window = 0;
    }
    if (++in_window > kProtobufLinesPerSecond) {
      ++suppressed;
      return;
    }
    suppressed_before = suppressed;
    suppressed = 0;
  }
  LogLevel ours = level >= google::protobuf::LOGLEVEL_ERROR     ? LogLevel::kError
                  : level == google::protobuf::LOGLEVEL_WARNING ? LogLevel::kWarning
                                                                : LogLevel::kInfo;
  Log(ours, message,
      {{"source", std::string("protobuf")},
       {"file", std::string(filename != nullptr ? filename : "")},
       {"line", int64_t{line}},
       {"suppressed_before", suppressed_before}});
}

int ToMillis(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

// The transport's part of the load limits (see ServerOptions).
void ApplyLoadLimits(const ServerOptions& options, grpc::ServerBuilder& builder) {
  grpc::ResourceQuota quota("sanhak");
  quota.Resize(static_cast<size_t>(options.memory_quota_bytes));
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, options.max_metadata_bytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ToMillis(options.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             ToMillis(options.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             ToMillis(options.min_client_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             ToMillis(options.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             ToMillis(options.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             ToMillis(options.max_connection_age_grace));
}

}  // namespace

GrpcServer::GrpcServer(const ServerOptions& options, std::vector<HostedService> services)
    : options_(options), services_(std::move(services)) {}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const ServerOptions& options, std::vector<HostedService> services,
    metrics::MetricsRegistry* metrics) {
  RouteGrpcLogsToLog();
  // Both are process-wide switches that must be set before the first server is built.
  grpc::EnableDefaultHealthCheckService(true);
  // Debian's Abseil tracks lock order on every Mutex operation (a debugging aid that was
  // several percent of CPU under load); servers run without it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  InitReflectionServerBuilderPlugin();
  // gRPC's health service speaks its own encoding; the descriptors of grpc.health.v1 are
  // linked (and so served by reflection, for generic clients) only when referenced.
  grpc::health::v1::HealthCheckRequest::descriptor();

  std::unique_ptr<GrpcServer> self(new GrpcServer(options, std::move(services)));
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFor(options, &self->tls_provider_);
  if (!credentials.ok()) return credentials.status();
  grpc::ServerBuilder builder;
  // --- Authentication and authorization (common/auth) ---------------------------------
  // On TLS every call gets its caller (certificate or token) and the policy's verdict
  // before any handler; the processor must be on the credentials before the port is added.
  if (self->tls()) {
    if (options.auth.policy_path.empty()) {
      return absl::FailedPreconditionError(
          "a TLS server needs --authz_policy (who may call which methods)");
    }
    if (absl::Status status =
            auth::InstallAuthentication(options.auth, credentials->get(), &builder);
        !status.ok()) {
      return status;
    }
  }
  self->identity_ = std::make_unique<auth::IdentityGrpcService>();
  builder.RegisterService(self->identity_.get());
  // --------------------------------------------------------------------------------------
  builder.AddListeningPort(options.listen_address, *credentials, &self->port_);
  builder.SetMaxReceiveMessageSize(options.max_request_bytes);
  // The sync server keeps up to MAX_POLLERS idle threads and ends any beyond them once
  // their call is done; with the default of 2, every burst of concurrent calls created
  // and destroyed threads (pthread_create was a visible share of CPU under load). Keep
  // enough threads for the handlers that wait (on the registry, on a group commit).
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS,
                              options.min_pollers);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              options.max_pollers);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  ApplyLoadLimits(options, builder);
  for (const HostedService& s : self->services_) builder.RegisterService(s.service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      creators;
  const bool metrics_on = !options.metrics_listen_address.empty();
  if (metrics_on) {
    if (metrics == nullptr) {
      self->own_metrics_ = std::make_unique<metrics::MetricsRegistry>();
      metrics = self->own_metrics_.get();
    }
    self->call_metrics_ = std::make_unique<GrpcServerMetrics>(metrics);
    std::vector<std::string> names;
    for (const HostedService& s : self->services_) names.push_back(s.name);
    self->call_metrics_->AddServices(names);
    // First, so the latency it records includes the other interceptors' work.
    creators.push_back(self->call_metrics_->NewFactory());
    self->serving_ = metrics->AddGauge(
        "sanhak_health_serving",
        "1 while the service's health check reports SERVING, else 0.", {"service"});
  }
  if (options.log_calls) creators.push_back(std::make_unique<CallLogInterceptorFactory>());
  // No interceptor at all when neither is on: the call path stays as gRPC built it.
  if (!creators.empty()) builder.experimental().SetInterceptorCreators(std::move(creators));
  self->server_ = builder.BuildAndStart();
  if (self->server_ == nullptr || self->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address));
  }
  if (metrics_on) {
    // The process's own figures (process_*, sanhak_build_info) belong to a service's
    // registry, beside its call metrics; the HTTP endpoint only serves what it is given.
    metrics::AddProcessMetrics(metrics);
    auto http = metrics::MetricsHttpServer::Start(options.metrics_listen_address, metrics,
                                                  [s = self.get()] { return s->Ready(); });
    if (!http.ok()) return http.status();  // the destructor stops the gRPC server
    self->metrics_http_ = *std::move(http);
  }
  {
    absl::MutexLock lock(&self->mu_);
    self->last_healthy_.assign(self->services_.size(), false);
  }
  // The first probe runs before Start returns, so health is truthful from the first call.
  self->RunProbes();
  self->prober_ = std::thread([s = self.get()] { s->ProbeLoop(); });
  return self;
}

GrpcServer::~GrpcServer() { Shutdown(); }

std::string GrpcServer::address() const {
  std::string host = options_.listen_address.substr(0, options_.listen_address.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = "127.0.0.1";
  return absl::StrCat(host, ":", port_);
}

void GrpcServer::RunProbes() {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  bool all_healthy = true;
  for (size_t i = 0; i < services_.size(); ++i) {
    absl::Status status = services_[i].probe ? services_[i].probe() : absl::OkStatus();
    bool healthy = status.ok();
    all_healthy = all_healthy && healthy;
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (healthy != last_healthy_[i]) {
      Log(healthy ? LogLevel::kInfo : LogLevel::kWarning, "health",
          {{"service", services_[i].name},
           {"status", std::string(healthy ? "SERVING" : "NOT_SERVING")},
           {"reason", std::string(status.message())}});
      last_healthy_[i] = healthy;
    }
    health->SetServingStatus(services_[i].name, healthy);
    if (serving_ != nullptr) serving_->WithLabels({services_[i].name})->Set(healthy ? 1 : 0);
  }
  absl::MutexLock lock(&mu_);
  if (!stopping_) health->SetServingStatus("", all_healthy);
}

bool GrpcServer::Ready() {
  absl::MutexLock lock(&mu_);
  if (stopping_ || last_healthy_.empty()) return false;
  for (bool healthy : last_healthy_) {
    if (!healthy) return false;
  }
  return true;
}

void GrpcServer::ProbeLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.health_interval)) break;
    mu_.Unlock();
    RunProbes();
    mu_.Lock();
  }
}

void GrpcServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (prober_.joinable()) prober_.join();
  // Start failed before the server was built.
  if (server_ == nullptr) return;
  // Every service reports NOT_SERVING from here on, so load balancers stop routing here
  // while the calls already running finish.
  server_->GetHealthCheckService()->Shutdown();
  if (serving_ != nullptr) {
    for (const HostedService& service : services_) serving_->WithLabels({service.name})->Set(0);
  }
  server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.drain_deadline));
  server_->Wait();
  // Metrics are served through the drain, so a scrape can see it happen.
  if (metrics_http_ != nullptr) metrics_http_->Stop();
}

void RouteGrpcLogsToLog() {
  gpr_set_log_function(&LogGrpcMessage);
  google::protobuf::SetLogHandler(&LogProtobufMessage);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const ServerOptions& options,
    std::shared_ptr<grpc::experimental::CertificateProviderInterface>* provider) {
  if (!options.tls.empty()) {
    if (absl::Status status = CheckServerTlsFiles(options.tls); !status.ok()) return status;
    auto watcher = WatchTlsFiles(options.tls, options.tls_refresh_interval);
    if (provider != nullptr) *provider = watcher;
    return TlsServerCredentialsFrom(watcher, options.tls_client_certificate_optional
                                                 ? TlsClientCertificate::kRequestAndVerify
                                                 : TlsClientCertificate::kRequire);
  }
  if (!options.insecure_plaintext) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no TLS files: serving ", options.listen_address,
        " needs --tls_cert, --tls_key and --tls_ca (mutual TLS), or --insecure_plaintext "
        "with a loopback --listen address for development"));
  }
  if (!IsLoopbackListenAddress(options.listen_address)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--insecure_plaintext serves only a loopback address (127.0.0.0/8, ::1, "
        "localhost), not --listen=",
        options.listen_address, "; give --tls_cert, --tls_key and --tls_ca to serve it"));
  }
  if (provider != nullptr) provider->reset();
  return grpc::InsecureServerCredentials();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ServiceChannelCredentials(
    const ServerOptions& options) {
  if (!options.tls.empty()) {
    return ChannelCredentialsFromFiles(options.tls, options.tls_refresh_interval);
  }
  // Plaintext out only where plaintext in is allowed.
  if (auto server = ServerCredentialsFor(options); !server.ok()) return server.status();
  return grpc::InsecureChannelCredentials();
}

absl::Time DeadlineFor(const grpc::ServerContextBase& context,
                       absl::Duration default_deadline) {
  absl::Time caller = absl::FromChrono(context.deadline());
  absl::Time fallback = absl::Now() + default_deadline;
  return caller < fallback ? caller : fallback;
}

void BlockTerminationSignals() {
  // A shell starts background jobs with SIGINT ignored; an ignored signal is discarded
  // rather than queued for sigwait, so restore the default first.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int signal = 0;
  sigwait(&set, &signal);
  return signal;
}

int ServeUntilTerminated(const std::function<void()>& shutdown) {
  int signal = WaitForTerminationSignal();
  Log(LogLevel::kInfo, "shutting down", {{"signal", int64_t{signal}}});
  shutdown();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace sanhak
