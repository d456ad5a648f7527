// Error model shared by every service.
//
// Inside a service errors are absl::Status. Rich details (google.rpc.BadRequest field
// violations, google.rpc.ErrorInfo) ride along as absl::Status payloads keyed by their
// type URL, and become google.rpc.Status details exactly once, at the gRPC edge, in
// ToGrpcStatus().
#ifndef SANHAK_COMMON_STATUS_H_
#define SANHAK_COMMON_STATUS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/support/status.h"

namespace sanhak {

// The ErrorInfo domain of every error this suite produces.
inline constexpr absl::string_view kErrorDomain = "sanhak.kr";

// Collects field violations while a request is validated, then becomes one
// INVALID_ARGUMENT that names every offending field.
class FieldViolations {
 public:
  void Add(std::string field, std::string description);
  bool empty() const { return violations_.empty(); }
  // OK when nothing was added; otherwise INVALID_ARGUMENT with a BadRequest detail and an
  // ErrorInfo with `reason`.
  absl::Status ToStatus(absl::string_view reason = "INVALID_ARGUMENT") const;

 private:
  std::vector<std::pair<std::string, std::string>> violations_;
};

// INVALID_ARGUMENT naming one field.
absl::Status InvalidField(std::string field, std::string description);

// Attaches an ErrorInfo{reason, domain} to `status` (returned for chaining).
absl::Status WithReason(absl::Status status, absl::string_view reason);

// Reads back the details attached above (for tests and clients of absl::Status).
google::rpc::BadRequest GetBadRequest(const absl::Status& status);
std::string GetReason(const absl::Status& status);

// The one place an absl::Status becomes a grpc::Status: same code and message, details
// serialized as google.rpc.Status into the binary error details trailer.
grpc::Status ToGrpcStatus(const absl::Status& status);

// A handler's reply: the value into `response` on success, the status converted by
// ToGrpcStatus otherwise.
template <typename T, typename Response>
grpc::Status ToGrpcReply(absl::StatusOr<T> result, Response* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}
template <typename Response>
grpc::Status ToGrpcReply(const absl::Status& status, Response*) {
  return ToGrpcStatus(status);
}

// The reverse, for outbound calls and clients: keeps code, message and details.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace sanhak

#endif  // SANHAK_COMMON_STATUS_H_
