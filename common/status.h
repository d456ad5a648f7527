// Error model shared by every service.
//
// Inside a service errors are absl::Status. Rich details (google.rpc.BadRequest field
// violations, google.rpc.ErrorInfo) ride along as absl::Status payloads keyed by their
// type URL, and become google.rpc.Status details exactly once, at the gRPC edge, in
// ToGrpcStatus().
//
// Every error is bounded in size, whatever the caller sent: values are quoted as short
// prefixes (QuoteValue), a response names at most kMaxViolations violations, and
// ToGrpcStatus caps the message and the details it puts on the wire. An error travels in
// the trailers, and a peer refuses trailers beyond its header limit (8 KB by default in
// gRPC): a C++ client then sees RESOURCE_EXHAUSTED instead of the error, a grpc-js
// client's whole connection hangs until its deadlines.
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

// Bytes of a caller's value an error quotes.
inline constexpr size_t kMaxQuotedBytes = 64;
// Field violations one error names; the rest become one entry "and N more".
inline constexpr int kMaxViolations = 20;
// Bytes of a violation's field path and of its description.
inline constexpr size_t kMaxViolationFieldBytes = 128;
inline constexpr size_t kMaxViolationDescriptionBytes = 256;
// On the wire, ToGrpcStatus sends at most kMaxErrorMessageBytes of message (grpc-message,
// percent-encoded: at most 3x that) and kMaxErrorDetailsBytes of google.rpc.Status
// (grpc-status-details-bin, base64: 4/3 of that), together under 5 KB: well inside the
// 8 KB of headers a gRPC peer accepts by default, with room for the other trailers.
inline constexpr size_t kMaxErrorMessageBytes = 512;
inline constexpr size_t kMaxErrorDetailsBytes = 2048;

// `value` in double quotes for an error message; beyond kMaxQuotedBytes only a prefix,
// cut on a UTF-8 boundary, and its size: "councils/aaaa"…(32777 bytes).
std::string QuoteValue(absl::string_view value);

// Collects field violations while a request is validated, then becomes one
// INVALID_ARGUMENT that names the offending fields: the first kMaxViolations, each field
// and description cut to its bound, then "and N more" for the rest. A request with 20,000
// bad entries costs 20 kept violations and a count, not 20,000 strings.
class FieldViolations {
 public:
  void Add(std::string field, std::string description);
  bool empty() const { return violations_.empty(); }
  // Violations added, kept or not.
  int size() const { return static_cast<int>(violations_.size()) + omitted_; }
  // OK when nothing was added; otherwise INVALID_ARGUMENT with a BadRequest detail and an
  // ErrorInfo with `reason`.
  absl::Status ToStatus(absl::string_view reason = "INVALID_ARGUMENT") const;

 private:
  std::vector<std::pair<std::string, std::string>> violations_;
  int omitted_ = 0;
};

// The description of the BadRequest entry (field "") that stands for `count` violations
// left out: "and 19980 more".
std::string MoreViolations(int count);

// INVALID_ARGUMENT naming one field.
absl::Status InvalidField(std::string field, std::string description);

// Attaches an ErrorInfo{reason, domain} to `status` (returned for chaining).
absl::Status WithReason(absl::Status status, absl::string_view reason);

// Reads back the details attached above (for tests and clients of absl::Status).
google::rpc::BadRequest GetBadRequest(const absl::Status& status);
std::string GetReason(const absl::Status& status);
// How many violations a bounded BadRequest left out: N of its final {"", "and N more"}
// entry, 0 when it has none (for clients and tests reading a capped error).
int OmittedViolations(const google::rpc::BadRequest& bad_request);

// The one place an absl::Status becomes a grpc::Status: same code and message, details
// serialized as google.rpc.Status into the binary error details trailer. Whatever built
// the status, the result stays within kMaxErrorMessageBytes of message and
// kMaxErrorDetailsBytes of details: the message is abbreviated; ErrorInfo is kept, with
// its strings cut; BadRequest keeps violations in order while they fit (at most
// kMaxViolations, each cut to its bounds), the rest counted in one "and N more" entry;
// any other detail that does not fit is dropped.
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
