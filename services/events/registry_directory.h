// What the events service asks the registry: do these councils and organizations exist?
// An interface so the domain logic can be unit-tested with a fake; the real one calls
// sanhak.registry.v1.RegistryService over gRPC.
#ifndef SANHAK_SERVICES_EVENTS_REGISTRY_DIRECTORY_H_
#define SANHAK_SERVICES_EVENTS_REGISTRY_DIRECTORY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"

namespace sanhak::events {

class RegistryDirectory {
 public:
  virtual ~RegistryDirectory() = default;
  // The names (`councils/{id}` or `organizations/{id}`) the registry does not hold.
  // UNAVAILABLE when the registry cannot answer by `deadline`.
  virtual absl::StatusOr<std::vector<std::string>> Missing(
      const std::vector<std::string>& names, absl::Time deadline) = 0;
};

class GrpcRegistryDirectory : public RegistryDirectory {
 public:
  explicit GrpcRegistryDirectory(std::shared_ptr<grpc::Channel> channel)
      : stub_(registry::v1::RegistryService::NewStub(std::move(channel))) {}

  absl::StatusOr<std::vector<std::string>> Missing(const std::vector<std::string>& names,
                                                   absl::Time deadline) override;

 private:
  std::unique_ptr<registry::v1::RegistryService::Stub> stub_;
};

}  // namespace sanhak::events

#endif  // SANHAK_SERVICES_EVENTS_REGISTRY_DIRECTORY_H_
