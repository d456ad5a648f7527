#include "common/grpc_metrics.h"

#include <chrono>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"

namespace sanhak {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

constexpr int kCodes = 17;

// The services grpc::ServerBuilder adds to every GrpcServer (the default health
// service and the reflection plugin), which need not be in the generated
// descriptor pool.
struct RuntimeMethod {
  const char* full_name;
  ServerRpcInfo::Type type;
};
constexpr RuntimeMethod kRuntimeMethods[] = {
    {"/grpc.health.v1.Health/Check", ServerRpcInfo::Type::UNARY},
    {"/grpc.health.v1.Health/Watch", ServerRpcInfo::Type::SERVER_STREAMING},
    {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
     ServerRpcInfo::Type::BIDI_STREAMING},
};

absl::string_view TypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY: return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING: return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING: return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING: return "bidi_stream";
  }
  return "unary";
}

ServerRpcInfo::Type TypeOf(const google::protobuf::MethodDescriptor& method) {
  if (method.client_streaming() && method.server_streaming()) {
    return ServerRpcInfo::Type::BIDI_STREAMING;
  }
  if (method.client_streaming()) return ServerRpcInfo::Type::CLIENT_STREAMING;
  if (method.server_streaming()) return ServerRpcInfo::Type::SERVER_STREAMING;
  return ServerRpcInfo::Type::UNARY;
}

// Counts the call as started and in flight when created (the call has arrived),
// and as handled when its status is sent. The destructor covers a call that
// ends without one.
class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcServerMetrics* metrics, GrpcServerMetrics::MethodSeries* series)
      : metrics_(metrics), series_(series), start_(std::chrono::steady_clock::now()) {
    series_->started->Increment();
    series_->in_flight->Add(1);
  }

  ~MetricsInterceptor() override {
    if (!finished_) Finish(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!finished_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      // Recorded before the status goes out, so a client that has its answer
      // sees it counted (and the call no longer in flight) on its next scrape.
      Finish(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Finish(grpc::StatusCode code) {
    finished_ = true;
    std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    series_->handling->Observe(elapsed.count());
    metrics_->HandledCounter(series_, code)->Increment();
    series_->in_flight->Add(-1);
  }

  GrpcServerMetrics* const metrics_;
  GrpcServerMetrics::MethodSeries* const series_;
  const std::chrono::steady_clock::time_point start_;
  bool finished_ = false;
};

class MetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(GrpcServerMetrics* metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new MetricsInterceptor(
        metrics_, metrics_->SeriesFor(info->method() != nullptr ? info->method() : "", info->type()));
  }

 private:
  GrpcServerMetrics* const metrics_;
};

}  // namespace

absl::string_view GrpcCodeName(grpc::StatusCode code) {
  // gRPC's codes are absl's, number for number.
  const int i = static_cast<int>(code);
  if (i < 0 || i >= kCodes) return "UNKNOWN";
  static const auto* const kNames = [] {
    auto* names = new std::string[kCodes];
    for (int c = 0; c < kCodes; ++c) {
      names[c] = absl::StatusCodeToString(static_cast<absl::StatusCode>(c));
    }
    return names;
  }();
  return kNames[i];
}

absl::string_view GoGrpcCodeName(grpc::StatusCode code) {
  // google.golang.org/grpc/codes, Code.String(), in code order.
  static constexpr absl::string_view kNames[kCodes] = {
      "OK",           "Canceled",         "Unknown",           "InvalidArgument",
      "DeadlineExceeded", "NotFound",     "AlreadyExists",     "PermissionDenied",
      "ResourceExhausted", "FailedPrecondition", "Aborted",    "OutOfRange",
      "Unimplemented", "Internal",        "Unavailable",       "DataLoss",
      "Unauthenticated"};
  const int i = static_cast<int>(code);
  return i < 0 || i >= kCodes ? kNames[2] : kNames[i];
}

GrpcServerMetrics::GrpcServerMetrics(metrics::MetricsRegistry* registry)
    : started_(registry->AddCounter("sanhak_grpc_server_started_total",
                                    "RPCs started on the server.",
                                    {"grpc_type", "grpc_service", "grpc_method"})),
      handled_(registry->AddCounter("sanhak_grpc_server_handled_total",
                                    "RPCs completed on the server, by status code.",
                                    {"grpc_type", "grpc_service", "grpc_method", "grpc_code"})),
      handling_(registry->AddHistogram(
          "sanhak_grpc_server_handling_seconds",
          "Time from an RPC's arrival to its status being sent, in seconds.",
          {"grpc_type", "grpc_service", "grpc_method"}, metrics::LatencyBuckets())),
      in_flight_(registry->AddGauge("sanhak_grpc_server_in_flight",
                                    "RPCs started and not yet completed (streams included).",
                                    {"grpc_type", "grpc_service", "grpc_method"})) {}

std::unique_ptr<GrpcServerMetrics::MethodSeries> GrpcServerMetrics::NewSeries(
    absl::string_view full_method, grpc::experimental::ServerRpcInfo::Type type) {
  // "/package.Service/Method" -> "package.Service", "Method".
  absl::string_view name = full_method;
  if (!name.empty() && name.front() == '/') name.remove_prefix(1);
  size_t slash = name.rfind('/');
  absl::string_view service =
      slash == absl::string_view::npos ? absl::string_view() : name.substr(0, slash);
  absl::string_view method = slash == absl::string_view::npos ? name : name.substr(slash + 1);

  auto series = std::make_unique<MethodSeries>();
  series->labels = {std::string(TypeName(type)), std::string(service), std::string(method)};
  series->started = started_->WithLabels(series->labels);
  series->handling = handling_->WithLabels(series->labels);
  series->in_flight = in_flight_->WithLabels(series->labels);
  for (auto& counter : series->handled) counter.store(nullptr, std::memory_order_relaxed);
  HandledCounter(series.get(), grpc::StatusCode::OK);
  return series;
}

void GrpcServerMetrics::AddMethod(const std::string& full_method, ServerRpcInfo::Type type) {
  if (!known_.contains(full_method)) known_.emplace(full_method, NewSeries(full_method, type));
}

void GrpcServerMetrics::AddServices(const std::vector<std::string>& service_names) {
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& service_name : service_names) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(service_name);
    // A service without a generated descriptor counts as unknown; every
    // service here is generated.
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor& method = *service->method(i);
      AddMethod("/" + service->full_name() + "/" + method.name(), TypeOf(method));
    }
  }
  for (const RuntimeMethod& method : kRuntimeMethods) AddMethod(method.full_name, method.type);
}

GrpcServerMetrics::MethodSeries* GrpcServerMetrics::SeriesFor(absl::string_view full_method,
                                                              ServerRpcInfo::Type type) {
  if (auto it = known_.find(full_method); it != known_.end()) return it->second.get();
  size_t i = static_cast<size_t>(type);
  absl::MutexLock lock(&mu_);
  if (i >= unknown_.size()) i = 0;
  if (unknown_[i] == nullptr) unknown_[i] = NewSeries("/unknown/unknown", type);
  return unknown_[i].get();
}

metrics::Counter* GrpcServerMetrics::HandledCounter(MethodSeries* series, grpc::StatusCode code) {
  int i = static_cast<int>(code);
  if (i < 0 || i >= kCodes) i = static_cast<int>(grpc::StatusCode::UNKNOWN);
  metrics::Counter* counter = series->handled[i].load(std::memory_order_acquire);
  if (counter != nullptr) return counter;
  std::vector<std::string> labels = series->labels;
  labels.emplace_back(GoGrpcCodeName(static_cast<grpc::StatusCode>(i)));
  // Two threads may race here; both get the same series from the family.
  counter = handled_->WithLabels(labels);
  series->handled[i].store(counter, std::memory_order_release);
  return counter;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcServerMetrics::NewFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

}  // namespace sanhak
