// Where analytics rebuilds from when Redis has lost its state, or is unreachable: the
// owning services, read whole over gRPC.
#ifndef SANHAK_SERVICES_ANALYTICS_SOURCE_OF_TRUTH_H_
#define SANHAK_SERVICES_ANALYTICS_SOURCE_OF_TRUTH_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "services/analytics/model.h"

namespace sanhak::analytics {

class SourceOfTruth {
 public:
  virtual ~SourceOfTruth() = default;
  // Every resource the aggregates depend on, with its revision. UNAVAILABLE when a
  // service cannot answer by `deadline`.
  virtual absl::StatusOr<Mirror> Load(absl::Time deadline) = 0;
};

class GrpcSourceOfTruth : public SourceOfTruth {
 public:
  GrpcSourceOfTruth(std::shared_ptr<grpc::Channel> registry,
                    std::shared_ptr<grpc::Channel> events)
      : registry_(registry::v1::RegistryService::NewStub(std::move(registry))),
        events_(events::v1::EventsService::NewStub(std::move(events))) {}

  absl::StatusOr<Mirror> Load(absl::Time deadline) override;

 private:
  std::unique_ptr<registry::v1::RegistryService::Stub> registry_;
  std::unique_ptr<events::v1::EventsService::Stub> events_;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_SOURCE_OF_TRUTH_H_
