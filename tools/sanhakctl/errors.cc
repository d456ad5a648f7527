#include "tools/sanhakctl/errors.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/cord.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

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

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (!status.error_details().empty()) {
    out.SetPayload(kRpcStatusPayload, absl::Cord(status.error_details()));
  }
  return out;
}

namespace {

google::rpc::Status RpcStatusOf(const absl::Status& status) {
  google::rpc::Status rpc;
  if (auto payload = status.GetPayload(kRpcStatusPayload)) {
    rpc.ParseFromString(std::string(*payload));
  }
  return rpc;
}

}  // namespace

std::string ReasonOf(const absl::Status& status) {
  const google::rpc::Status rpc = RpcStatusOf(status);
  for (const auto& any : rpc.details()) {
    google::rpc::ErrorInfo info;
    if (any.Is<google::rpc::ErrorInfo>() && any.UnpackTo(&info)) return info.reason();
  }
  return "";
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
  const google::rpc::Status rpc = RpcStatusOf(status);
  for (const auto& any : rpc.details()) {
    if (any.Is<google::rpc::BadRequest>()) {
      google::rpc::BadRequest bad;
      any.UnpackTo(&bad);
      for (const auto& v : bad.field_violations()) {
        absl::StrAppend(&out, "  ", v.field(), ": ", v.description(), "\n");
      }
    } else if (any.Is<google::rpc::ErrorInfo>()) {
      google::rpc::ErrorInfo info;
      any.UnpackTo(&info);
      absl::StrAppend(&out, "  reason: ", info.reason(), "\n");
    }
  }
  if (status.code() == absl::StatusCode::kAborted && ReasonOf(status) == "ETAG_MISMATCH") {
    absl::StrAppend(&out,
                    "  the resource changed since it was read: get it again and retry the "
                    "update with the new etag\n");
  }
  return out;
}

}  // namespace sanhak::ctl
