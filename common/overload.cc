#include "common/overload.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "google/rpc/error_details.pb.h"

namespace sanhak {
namespace {

constexpr absl::string_view kRetryInfoUrl = "type.googleapis.com/google.rpc.RetryInfo";

}  // namespace

absl::Status Overloaded(absl::string_view what, absl::Duration retry_delay) {
  absl::Status status = WithReason(
      absl::ResourceExhaustedError(absl::StrCat(what, "; retry after ",
                                                absl::FormatDuration(retry_delay))),
      "OVERLOADED");
  google::rpc::RetryInfo info;
  const int64_t nanos = absl::ToInt64Nanoseconds(retry_delay);
  info.mutable_retry_delay()->set_seconds(nanos / 1000000000);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  status.SetPayload(kRetryInfoUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

absl::Duration RetryDelayOf(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryInfoUrl);
  if (!payload.has_value()) return absl::ZeroDuration();
  google::rpc::RetryInfo info;
  if (!info.ParseFromString(std::string(*payload))) return absl::ZeroDuration();
  return absl::Seconds(info.retry_delay().seconds()) +
         absl::Nanoseconds(info.retry_delay().nanos());
}

}  // namespace sanhak
