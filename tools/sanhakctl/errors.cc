#include "tools/sanhakctl/errors.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sanhak::ctl {

int ExitCodeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitBadInput;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return kExitConflict;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    default:
      return kExitOther;
  }
}

std::string CodeName(absl::StatusCode code) {
  std::string name = absl::StatusCodeToString(code);
  for (char& c : name) {
    if (c == ' ') c = '_';
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

std::string FormatError(const absl::Status& status) {
  std::string out = absl::StrCat(CodeName(status.code()), ": ", status.message(), "\n");
  const google::rpc::BadRequest bad = GetBadRequest(status);
  for (const auto& v : bad.field_violations()) {
    absl::StrAppend(&out, "  ", v.field(), ": ", v.description(), "\n");
  }
  const std::string reason = GetReason(status);
  if (!reason.empty()) absl::StrAppend(&out, "  reason: ", reason, "\n");
  if (status.code() == absl::StatusCode::kAborted && reason == "ETAG_MISMATCH") {
    absl::StrAppend(&out,
                    "  the resource changed since it was read: get it again and retry the "
                    "update with the new etag\n");
  }
  return out;
}

}  // namespace sanhak::ctl
