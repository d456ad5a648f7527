// The analytics gRPC edge, on gRPC's callback API: unary reads answer from memory, and
// each WatchAggregates stream is a reactor fed by the engine, so a thousand watchers
// cost a thousand small objects, not a thousand threads.
#ifndef SANHAK_SERVICES_ANALYTICS_ANALYTICS_SERVICE_H_
#define SANHAK_SERVICES_ANALYTICS_ANALYTICS_SERVICE_H_

#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "services/analytics/analytics.h"

namespace sanhak::analytics {

class AnalyticsGrpcService final : public v1::AnalyticsService::CallbackService {
 public:
  // `analytics` must outlive the service.
  explicit AnalyticsGrpcService(Analytics* analytics) : analytics_(analytics) {}

  grpc::ServerUnaryReactor* GetAggregates(grpc::CallbackServerContext* context,
                                          const v1::GetAggregatesRequest* request,
                                          v1::Aggregates* response) override;
  grpc::ServerUnaryReactor* GetCouncilScorecard(grpc::CallbackServerContext* context,
                                                const v1::GetCouncilScorecardRequest* request,
                                                v1::CouncilScorecard* response) override;
  grpc::ServerUnaryReactor* GetNetwork(grpc::CallbackServerContext* context,
                                       const v1::GetNetworkRequest* request,
                                       v1::Network* response) override;
  grpc::ServerWriteReactor<v1::AggregatesEvent>* WatchAggregates(
      grpc::CallbackServerContext* context,
      const v1::WatchAggregatesRequest* request) override;

 private:
  Analytics* analytics_;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_ANALYTICS_SERVICE_H_
