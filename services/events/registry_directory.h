// What the events service asks the registry: do these councils and organizations exist,
// and are they deleted?
// An interface so the domain logic can be unit-tested with a fake; the real one calls
// sanhak.registry.v1.RegistryService over gRPC.
#ifndef SANHAK_SERVICES_EVENTS_REGISTRY_DIRECTORY_H_
#define SANHAK_SERVICES_EVENTS_REGISTRY_DIRECTORY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"

namespace sanhak::events {

class RegistryDirectory {
 public:
  virtual ~RegistryDirectory() = default;

  // What the registry said about the names asked.
  struct Answer {
    // Names the registry does not hold.
    std::vector<std::string> missing;
    // Names it holds soft-deleted (AIP-164): they resolve, so what already names them
    // keeps working, but no write may newly name them.
    std::vector<std::string> deleted;
  };
  using CheckDone = absl::AnyInvocable<void(absl::StatusOr<Answer>)>;
  // Tells `done` which of `names` (`councils/{id}` or `organizations/{id}`) the registry
  // does not hold and which it holds deleted, or UNAVAILABLE when the registry cannot
  // answer by `deadline`. Returns at once; `done` runs once, on whichever thread the last
  // answer arrives.
  virtual void Check(const std::vector<std::string>& names, absl::Time deadline,
                     CheckDone done) = 0;
};

class GrpcRegistryDirectory : public RegistryDirectory {
 public:
  explicit GrpcRegistryDirectory(std::shared_ptr<grpc::Channel> channel)
      : stub_(registry::v1::RegistryService::NewStub(std::move(channel))) {}

  // One Get per name, all in flight at once on gRPC's callback API.
  void Check(const std::vector<std::string>& names, absl::Time deadline,
             CheckDone done) override;

 private:
  std::unique_ptr<registry::v1::RegistryService::Stub> stub_;
};

}  // namespace sanhak::events

#endif  // SANHAK_SERVICES_EVENTS_REGISTRY_DIRECTORY_H_
