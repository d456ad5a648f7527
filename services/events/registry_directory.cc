#include "services/events/registry_directory.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "common/trace_context.h"

namespace sanhak::events {
namespace {

// The answers to one Check() call, gathered as the Gets complete; the last one to
// complete tells `done`.
class Gathering {
 public:
  Gathering(size_t expected, RegistryDirectory::CheckDone done)
      : remaining_(expected), done_(std::move(done)) {}

  // NOT_FOUND is an answer; anything else means the registry could not answer. `deleted`:
  // the resource came back with delete_time set.
  void Answer(const std::string& name, const grpc::Status& status, bool deleted) {
    absl::StatusOr<RegistryDirectory::Answer> outcome;
    {
      absl::MutexLock lock(&mu_);
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
        answer_.missing.push_back(name);
      } else if (status.ok() && deleted) {
        answer_.deleted.push_back(name);
      } else if (!status.ok() && error_.ok()) {
        error_ = WithReason(absl::UnavailableError(absl::StrCat(
                                "the registry could not confirm ", name, ": ",
                                status.error_message())),
                            "REGISTRY_UNAVAILABLE");
      }
      if (--remaining_ > 0) return;
      if (error_.ok()) {
        outcome = std::move(answer_);
      } else {
        outcome = error_;
      }
    }
    done_(std::move(outcome));
  }

 private:
  absl::Mutex mu_;
  size_t remaining_ ABSL_GUARDED_BY(mu_);
  RegistryDirectory::Answer answer_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  RegistryDirectory::CheckDone done_;
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
  // The write that asks, on whose thread this runs, is the lookup's parent span.
  AddTraceHeaders(&lookup->context);
  lookup->request.set_name(name);
  start(&lookup->context, &lookup->request, &lookup->response,
        [lookup, name, gathering](grpc::Status status) {
          const bool deleted = status.ok() && lookup->response.has_delete_time();
          delete lookup;
          gathering->Answer(name, status, deleted);
        });
}

}  // namespace

void GrpcRegistryDirectory::Check(const std::vector<std::string>& names,
                                  absl::Time deadline, CheckDone done) {
  if (names.empty()) return done(Answer{});
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
