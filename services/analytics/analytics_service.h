// The analytics gRPC edge, on gRPC's callback API: unary reads answer from memory, and
// each WatchAggregates stream is a reactor fed by the engine, so a thousand watchers
// cost a thousand small objects, not a thousand threads. gRPC hands every request over
// as bytes, parsed by common/parsed_call.h, so unreadable ones get INVALID_ARGUMENT.
// GetAggregates and WatchAggregates also answer with bytes: the engine serializes the
// aggregates once per change and every event once, and those bytes go to every caller
// and every watcher without being copied or serialized again.
#ifndef SANHAK_SERVICES_ANALYTICS_ANALYTICS_SERVICE_H_
#define SANHAK_SERVICES_ANALYTICS_ANALYTICS_SERVICE_H_

#include "common/caller_limits.h"
#include "common/overload.h"
#include "common/parsed_call.h"
#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "services/analytics/analytics.h"

namespace sanhak::analytics {

class AnalyticsGrpcService final
    : public ParsedService<v1::AnalyticsService::CallbackService> {
 public:
  // `analytics` must outlive the service.
  explicit AnalyticsGrpcService(Analytics* analytics);

  // GetAggregates: the Aggregates, serialized, into `response`. (Named apart from the
  // generated typed GetAggregates, which it does not override.)
  grpc::ServerUnaryReactor* GetAggregatesBytes(grpc::CallbackServerContext* context,
                                               const v1::GetAggregatesRequest* request,
                                               grpc::ByteBuffer* response);
  grpc::ServerUnaryReactor* GetCouncilScorecard(grpc::CallbackServerContext* context,
                                                const v1::GetCouncilScorecardRequest* request,
                                                v1::CouncilScorecard* response) override;
  grpc::ServerUnaryReactor* GetNetwork(grpc::CallbackServerContext* context,
                                       const v1::GetNetworkRequest* request,
                                       v1::Network* response) override;
  // WatchAggregates: serialized AggregatesEvents out.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchAggregatesBytes(
      grpc::CallbackServerContext* context, v1::WatchAggregatesRequest request);

 private:
  Analytics* analytics_;
  // Admits at most options().max_watchers watch streams at once.
  AdmissionGate watchers_;
  // At most options().max_watches_per_caller of them per caller.
  PerCallerCount watches_per_caller_;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_ANALYTICS_SERVICE_H_
