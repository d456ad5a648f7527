// Server-side gRPC metrics, named after go-grpc-prometheus's (with a sanhak_
// prefix) so its dashboards and alerts carry over:
//   sanhak_grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   sanhak_grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   sanhak_grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}
//   (histogram)
//   sanhak_grpc_server_in_flight{grpc_type,grpc_service,grpc_method} (gauge)
// grpc_code is spelled as go-grpc-prometheus spells it (Go's codes.Code.String():
// "OK", "NotFound", "ResourceExhausted", ...), so a stock rule such as
// grpc_code=~"Unknown|Internal|Unavailable|DataLoss" matches; docs/metrics.md lists
// where the suite differs.
// A call is in flight from its start until its status is sent, so a watch
// stream counts for as long as it runs. Recorded by a server interceptor.
// Calls to a method the server does not serve are all labelled
// grpc_service="unknown", grpc_method="unknown": a method name is the caller's
// to choose, and a series per name would let any caller grow the exposition
// (and this process's memory) without bound.
#ifndef SANHAK_COMMON_GRPC_METRICS_H_
#define SANHAK_COMMON_GRPC_METRICS_H_

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"

namespace sanhak {

// "OK", "NOT_FOUND", ...: the names gRPC's documentation uses (and the call log).
absl::string_view GrpcCodeName(grpc::StatusCode code);
// "OK", "NotFound", ...: the names go-grpc-prometheus gives grpc_code.
absl::string_view GoGrpcCodeName(grpc::StatusCode code);

class GrpcServerMetrics {
 public:
  // Registers the four families in `registry`, which must outlive this object.
  explicit GrpcServerMetrics(metrics::MetricsRegistry* registry);
  GrpcServerMetrics(const GrpcServerMetrics&) = delete;
  GrpcServerMetrics& operator=(const GrpcServerMetrics&) = delete;

  // Resolves the series of every method of the named services (e.g.
  // "sanhak.registry.v1.RegistryService", looked up in the generated descriptor
  // pool), and of the services gRPC serves in every GrpcServer (health,
  // reflection), so their calls take no lock and their zero counts are scraped
  // before the first call. These are the methods counted under their own
  // names; a call to any other counts as unknown. Call before the server
  // starts.
  void AddServices(const std::vector<std::string>& service_names);

  // An interceptor factory recording into this object, which must outlive the
  // server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewFactory();

  // The series of one method (full name "/package.Service/Method").
  struct MethodSeries {
    metrics::Counter* started;
    metrics::Histogram* handling;
    metrics::Gauge* in_flight;
    // Per status code, resolved on first use (OK up front).
    std::array<std::atomic<metrics::Counter*>, 17> handled;
    std::vector<std::string> labels;  // grpc_type, grpc_service, grpc_method
  };
  // The series of a method added by AddServices, else the unknown method's of
  // `type`.
  MethodSeries* SeriesFor(absl::string_view full_method,
                          grpc::experimental::ServerRpcInfo::Type type);
  metrics::Counter* HandledCounter(MethodSeries* series, grpc::StatusCode code);

 private:
  std::unique_ptr<MethodSeries> NewSeries(absl::string_view full_method,
                                          grpc::experimental::ServerRpcInfo::Type type);
  void AddMethod(const std::string& full_method, grpc::experimental::ServerRpcInfo::Type type);

  metrics::CounterFamily* const started_;
  metrics::CounterFamily* const handled_;
  metrics::HistogramFamily* const handling_;
  metrics::GaugeFamily* const in_flight_;

  // Filled by AddServices before serving, read-only afterwards: no lock on
  // lookups.
  absl::flat_hash_map<std::string, std::unique_ptr<MethodSeries>> known_;
  // The unknown method's series, one per call type, made on first use (an
  // ordinary server sees none).
  absl::Mutex mu_;
  std::array<std::unique_ptr<MethodSeries>, 4> unknown_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sanhak

#endif  // SANHAK_COMMON_GRPC_METRICS_H_
