// What sanhakctl's exit code says, and how a failed call is shown: the gRPC code, the
// message, and the google.rpc details (BadRequest field violations, ErrorInfo reason).
#ifndef SANHAK_TOOLS_SANHAKCTL_ERRORS_H_
#define SANHAK_TOOLS_SANHAKCTL_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace sanhak::ctl {

// Exit codes, documented in --help and README.md. Scripts branch on them, so they never
// change meaning.
inline constexpr int kExitOk = 0;
inline constexpr int kExitOther = 1;
// Usage errors, bad input files, INVALID_ARGUMENT, OUT_OF_RANGE.
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitNotFound = 3;
// ALREADY_EXISTS, ABORTED (stale etag), FAILED_PRECONDITION.
inline constexpr int kExitConflict = 4;
// UNAVAILABLE, DEADLINE_EXCEEDED: the service could not answer in time.
inline constexpr int kExitUnavailable = 5;

int ExitCodeFor(absl::StatusCode code);
inline int ExitCodeFor(const absl::Status& status) { return ExitCodeFor(status.code()); }

// "NOT_FOUND: councils/x not found" then one indented line per field violation
// ("  council.complexes[2]: ...") and the ErrorInfo reason ("  reason: ETAG_MISMATCH"),
// each line ending in '\n'. `status` carries its details as common/status.h's
// FromGrpcStatus leaves them.
std::string FormatError(const absl::Status& status);

// The usual name of a code ("NOT_FOUND").
std::string CodeName(absl::StatusCode code);

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_ERRORS_H_
