#include "services/events/registry_directory.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/status.h"

namespace sanhak::events {
namespace {

// One Get per name, with the caller's deadline. NOT_FOUND is an answer; anything else
// means the registry could not answer.
template <typename Request, typename Response, typename Call>
absl::StatusOr<bool> Exists(const std::string& name, absl::Time deadline, Call call) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  Request request;
  request.set_name(name);
  Response response;
  // The callback API with a notification: gRPC 1.51's blocking stubs build a completion
  // queue per call, which showed in profiles of CreateActivity.
  grpc::Status status;
  absl::Notification done;
  call(&context, &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  if (status.ok()) return true;
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return false;
  return WithReason(absl::UnavailableError(absl::StrCat(
                        "the registry could not confirm ", name, ": ",
                        status.error_message())),
                    "REGISTRY_UNAVAILABLE");
}

}  // namespace

absl::StatusOr<std::vector<std::string>> GrpcRegistryDirectory::Missing(
    const std::vector<std::string>& names, absl::Time deadline) {
  std::vector<std::string> missing;
  for (const std::string& name : names) {
    absl::StatusOr<bool> exists;
    if (absl::StartsWith(name, "organizations/")) {
      exists = Exists<registry::v1::GetOrganizationRequest, registry::v1::Organization>(
          name, deadline, [&](auto* c, auto* req, auto* resp, auto cb) {
            stub_->async()->GetOrganization(c, req, resp, std::move(cb));
          });
    } else {
      exists = Exists<registry::v1::GetCouncilRequest, registry::v1::Council>(
          name, deadline, [&](auto* c, auto* req, auto* resp, auto cb) {
            stub_->async()->GetCouncil(c, req, resp, std::move(cb));
          });
    }
    if (!exists.ok()) return exists.status();
    if (!*exists) missing.push_back(name);
  }
  return missing;
}

}  // namespace sanhak::events
