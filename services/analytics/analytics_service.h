// The analytics gRPC edge, on gRPC's callback API: unary reads answer from memory, and
// each WatchAggregates stream is a reactor fed by the engine, so a thousand watchers
// cost a thousand small objects, not a thousand threads. GetAggregates and
// WatchAggregates are served raw (as bytes on the wire): the engine serializes the
// aggregates once per change and every event once, and those bytes go to every caller
// and every watcher without being copied or serialized again.
#ifndef SANHAK_SERVICES_ANALYTICS_ANALYTICS_SERVICE_H_
#define SANHAK_SERVICES_ANALYTICS_ANALYTICS_SERVICE_H_

#include "common/overload.h"
#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "services/analytics/analytics.h"

namespace sanhak::analytics {

class AnalyticsGrpcService final
    : public v1::AnalyticsService::WithRawCallbackMethod_GetAggregates<
          v1::AnalyticsService::WithRawCallbackMethod_WatchAggregates<
              v1::AnalyticsService::CallbackService>> {
 public:
  // `analytics` must outlive the service.
  explicit AnalyticsGrpcService(Analytics* analytics)
      : analytics_(analytics), watchers_(analytics->options().max_watchers) {}

  // GetAggregatesRequest in, Aggregates out.
  grpc::ServerUnaryReactor* GetAggregates(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetCouncilScorecard(grpc::CallbackServerContext* context,
                                                const v1::GetCouncilScorecardRequest* request,
                                                v1::CouncilScorecard* response) override;
  grpc::ServerUnaryReactor* GetNetwork(grpc::CallbackServerContext* context,
                                       const v1::GetNetworkRequest* request,
                                       v1::Network* response) override;
  // WatchAggregatesRequest in, AggregatesEvent out.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchAggregates(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) override;

 private:
  Analytics* analytics_;
  // Admits at most options().max_watchers watch streams at once.
  AdmissionGate watchers_;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_ANALYTICS_SERVICE_H_
