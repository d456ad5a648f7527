#include "services/events/registry_directory.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"

namespace sanhak::events {
namespace {

// The answers to one Missing() call, gathered as the Gets complete; the last one to
// complete tells `done`.
class Gathering {
 public:
  Gathering(size_t expected, RegistryDirectory::MissingDone done)
      : remaining_(expected), done_(std::move(done)) {}

  // NOT_FOUND is an answer; anything else means the registry could not answer.
  void Answer(const std::string& name, const grpc::Status& status) {
    absl::StatusOr<std::vector<std::string>> outcome;
    {
      absl::MutexLock lock(&mu_);
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
        missing_.push_back(name);
      } else if (!status.ok() && error_.ok()) {
        error_ = WithReason(absl::UnavailableError(absl::StrCat(
                                "the registry could not confirm ", name, ": ",
                                status.error_message())),
                            "REGISTRY_UNAVAILABLE");
      }
      if (--remaining_ > 0) return;
      if (error_.ok()) {
        outcome = std::move(missing_);
      } else {
        outcome = error_;
      }
    }
    done_(std::move(outcome));
  }

 private:
  absl::Mutex mu_;
  size_t remaining_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> missing_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  RegistryDirectory::MissingDone done_;
};

// One Get in flight: owns what gRPC's callback API needs until the call completes.
template <typename Request, typename Response>
struct Lookup {
  grpc::ClientContext context;
  Request request;
  Response response;
};

template <typename Request, typename Response, typename Start>
void Ask(const std::string& name, absl::Time deadline,
         const std::shared_ptr<Gathering>& gathering, Start start) {
  auto* lookup = new Lookup<Request, Response>;
  lookup->context.set_deadline(absl::ToChronoTime(deadline));
  lookup->request.set_name(name);
  start(&lookup->context, &lookup->request, &lookup->response,
        [lookup, name, gathering](grpc::Status status) {
          delete lookup;
          gathering->Answer(name, status);
        });
}

}  // namespace

void GrpcRegistryDirectory::Missing(const std::vector<std::string>& names,
                                    absl::Time deadline, MissingDone done) {
  if (names.empty()) return done(std::vector<std::string>{});
  auto gathering = std::make_shared<Gathering>(names.size(), std::move(done));
  for (const std::string& name : names) {
    if (absl::StartsWith(name, "organizations/")) {
      Ask<registry::v1::GetOrganizationRequest, registry::v1::Organization>(
          name, deadline, gathering, [&](auto* c, auto* req, auto* resp, auto cb) {
            stub_->async()->GetOrganization(c, req, resp, std::move(cb));
          });
    } else {
      Ask<registry::v1::GetCouncilRequest, registry::v1::Council>(
          name, deadline, gathering, [&](auto* c, auto* req, auto* resp, auto cb) {
            stub_->async()->GetCouncil(c, req, resp, std::move(cb));
          });
    }
  }
}

}  // namespace sanhak::events
