#include "common/status.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/validation.h"
#include "google/protobuf/any.pb.h"
#include "google/rpc/status.pb.h"

namespace sanhak {
namespace {

constexpr absl::string_view kTypePrefix = "type.googleapis.com/";

std::string TypeUrl(const google::protobuf::Message& m) {
  return absl::StrCat(kTypePrefix, m.GetDescriptor()->full_name());
}

template <typename T>
bool ReadPayload(const absl::Status& status, T* out) {
  T probe;
  auto payload = status.GetPayload(TypeUrl(probe));
  if (!payload.has_value()) return false;
  return out->ParseFromString(std::string(*payload));
}

constexpr absl::string_view kMorePrefix = "and ";
constexpr absl::string_view kMoreSuffix = " more";

// ErrorInfo's reason is an UPPER_SNAKE_CASE constant of at most 63 characters (AIP-193);
// its domain and metadata are ours, short by design, but bounded all the same.
constexpr size_t kMaxReasonBytes = 64;
constexpr size_t kMaxErrorInfoBytes = 512;
// What a BadRequest is sure to get even when other details came first.
constexpr size_t kMinBadRequestBytes = 512;
// Upper bound of the tag and length prefix of an embedded message or string.
constexpr size_t kFieldOverhead = 6;

// The count an "and N more" entry stands for; 0 for any other violation.
int MoreCount(const google::rpc::BadRequest::FieldViolation& v) {
  if (!v.field().empty()) return 0;
  absl::string_view count = v.description();
  if (!absl::ConsumePrefix(&count, kMorePrefix) || !absl::ConsumeSuffix(&count, kMoreSuffix)) {
    return 0;
  }
  int n = 0;
  return absl::SimpleAtoi(count, &n) && n > 0 ? n : 0;
}

// `in` within `budget` serialized bytes: violations in order, each cut to its bounds,
// while they fit and number at most kMaxViolations; every later one, and every "and N
// more" entry already in `in`, counted in one final "and N more" entry.
google::rpc::BadRequest BoundBadRequest(const google::rpc::BadRequest& in, size_t budget) {
  google::rpc::BadRequest out;
  // Room for the final entry is kept from the start, so it always fits.
  const size_t reserve =
      MoreViolations(std::numeric_limits<int>::max()).size() + 3 * kFieldOverhead;
  size_t used = 0;
  int more = 0;
  bool full = false;
  for (const auto& v : in.field_violations()) {
    if (int n = MoreCount(v); n > 0) {
      more += n;
      continue;
    }
    if (!full) {
      google::rpc::BadRequest::FieldViolation bounded;
      bounded.set_field(Abbreviate(v.field(), kMaxViolationFieldBytes));
      bounded.set_description(Abbreviate(v.description(), kMaxViolationDescriptionBytes));
      const size_t size = bounded.ByteSizeLong() + kFieldOverhead;
      if (out.field_violations_size() < kMaxViolations && used + size + reserve <= budget) {
        *out.add_field_violations() = std::move(bounded);
        used += size;
        continue;
      }
      // Order matters to a reader (the first violation is often the cause of the
      // rest), so once one is left out, so is every later one.
      full = true;
    }
    ++more;
  }
  if (more > 0) {
    auto* v = out.add_field_violations();
    v->set_description(MoreViolations(more));
  }
  return out;
}

google::rpc::ErrorInfo BoundErrorInfo(const google::rpc::ErrorInfo& in) {
  google::rpc::ErrorInfo out;
  out.set_reason(Abbreviate(in.reason(), kMaxReasonBytes));
  out.set_domain(Abbreviate(in.domain(), kMaxReasonBytes));
  // A protobuf map iterates in no fixed order; sorted, the same error keeps the same keys.
  std::map<std::string, std::string> sorted(in.metadata().begin(), in.metadata().end());
  for (const auto& [key, value] : sorted) {
    std::string k = Abbreviate(key, kMaxReasonBytes);
    std::string v = Abbreviate(value, kMaxQuotedBytes + 32);
    if (out.ByteSizeLong() + k.size() + v.size() + 3 * kFieldOverhead > kMaxErrorInfoBytes) {
      break;
    }
    (*out.mutable_metadata())[k] = v;
  }
  return out;
}

}  // namespace

std::string QuoteValue(absl::string_view value) {
  if (value.size() <= kMaxQuotedBytes) return absl::StrCat("\"", value, "\"");
  return absl::StrCat("\"", Utf8Prefix(value, kMaxQuotedBytes), "\"\u2026(", value.size(),
                      " bytes)");
}

std::string MoreViolations(int count) {
  return absl::StrCat(kMorePrefix, count, kMoreSuffix);
}

void FieldViolations::Add(std::string field, std::string description) {
  if (violations_.size() >= static_cast<size_t>(kMaxViolations)) {
    ++omitted_;
    return;
  }
  violations_.emplace_back(Abbreviate(field, kMaxViolationFieldBytes),
                           Abbreviate(description, kMaxViolationDescriptionBytes));
}

absl::Status FieldViolations::ToStatus(absl::string_view reason) const {
  if (violations_.empty()) return absl::OkStatus();
  google::rpc::BadRequest bad_request;
  std::vector<std::string> parts;
  for (const auto& [field, description] : violations_) {
    auto* v = bad_request.add_field_violations();
    v->set_field(field);
    v->set_description(description);
    parts.push_back(absl::StrCat(field, ": ", description));
  }
  if (omitted_ > 0) {
    auto* v = bad_request.add_field_violations();
    v->set_description(MoreViolations(omitted_));
    parts.push_back(MoreViolations(omitted_));
  }
  absl::Status status = absl::InvalidArgumentError(absl::StrJoin(parts, "; "));
  status.SetPayload(TypeUrl(bad_request), absl::Cord(bad_request.SerializeAsString()));
  return WithReason(std::move(status), reason);
}

absl::Status InvalidField(std::string field, std::string description) {
  FieldViolations v;
  v.Add(std::move(field), std::move(description));
  return v.ToStatus();
}

absl::Status WithReason(absl::Status status, absl::string_view reason) {
  if (status.ok()) return status;
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(std::string(kErrorDomain));
  status.SetPayload(TypeUrl(info), absl::Cord(info.SerializeAsString()));
  return status;
}

google::rpc::BadRequest GetBadRequest(const absl::Status& status) {
  google::rpc::BadRequest out;
  ReadPayload(status, &out);
  return out;
}

std::string GetReason(const absl::Status& status) {
  google::rpc::ErrorInfo info;
  ReadPayload(status, &info);
  return info.reason();
}

int OmittedViolations(const google::rpc::BadRequest& bad_request) {
  if (bad_request.field_violations_size() == 0) return 0;
  const auto& last = bad_request.field_violations(bad_request.field_violations_size() - 1);
  absl::string_view text = last.description();
  int n = 0;
  if (!last.field().empty() || !absl::ConsumePrefix(&text, "and ") ||
      !absl::ConsumeSuffix(&text, " more") || !absl::SimpleAtoi(text, &n)) {
    return 0;
  }
  return n;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const std::string message = Abbreviate(status.message(), kMaxErrorMessageBytes);
  google::rpc::Status rpc_status;
  rpc_status.set_code(static_cast<int>(status.code()));
  rpc_status.set_message(message);

  // Each detail is bounded on its own, then admitted while the total fits, in order of
  // priority: ErrorInfo (small, and what clients branch on); the others, sorted by type
  // (absl iterates payloads in no fixed order), leaving a BadRequest kMinBadRequestBytes;
  // then BadRequest, cut to whatever room is left.
  const std::string bad_request_url = TypeUrl(google::rpc::BadRequest());
  const std::string error_info_url = TypeUrl(google::rpc::ErrorInfo());
  std::optional<google::protobuf::Any> error_info;
  std::vector<google::protobuf::Any> others;
  bool has_bad_request = false;
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& payload) {
    if (!absl::StartsWith(type_url, kTypePrefix)) return;
    if (type_url == bad_request_url) {
      has_bad_request = true;
      return;
    }
    google::protobuf::Any any;
    any.set_type_url(std::string(type_url));
    if (type_url == error_info_url) {
      google::rpc::ErrorInfo info;
      info.ParseFromString(std::string(payload));
      any.set_value(BoundErrorInfo(info).SerializeAsString());
      error_info = std::move(any);
    } else {
      any.set_value(std::string(payload));
      others.push_back(std::move(any));
    }
  });
  std::sort(others.begin(), others.end(), [](const auto& a, const auto& b) {
    return a.type_url() < b.type_url();
  });
  size_t used = rpc_status.ByteSizeLong();
  auto admit = [&](google::protobuf::Any any, size_t limit) {
    const size_t size = any.ByteSizeLong() + kFieldOverhead;
    if (used + size > limit) return;
    used += size;
    *rpc_status.add_details() = std::move(any);
  };
  if (error_info.has_value()) admit(*std::move(error_info), kMaxErrorDetailsBytes);
  for (google::protobuf::Any& any : others) {
    admit(std::move(any), kMaxErrorDetailsBytes - (has_bad_request ? kMinBadRequestBytes : 0));
  }
  if (has_bad_request) {
    google::protobuf::Any any;
    any.set_type_url(bad_request_url);
    const size_t overhead = any.ByteSizeLong() + 2 * kFieldOverhead;
    const size_t room =
        used + overhead < kMaxErrorDetailsBytes ? kMaxErrorDetailsBytes - used - overhead : 0;
    google::rpc::BadRequest bad_request;
    ReadPayload(status, &bad_request);
    any.set_value(BoundBadRequest(bad_request, room).SerializeAsString());
    admit(std::move(any), kMaxErrorDetailsBytes);
  }
  // absl::StatusCode and grpc::StatusCode share their numbering (both follow
  // google.rpc.Code).
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message,
                      rpc_status.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()),
                   status.error_message());
  google::rpc::Status rpc_status;
  if (!status.error_details().empty() &&
      rpc_status.ParseFromString(status.error_details())) {
    for (const auto& any : rpc_status.details()) {
      out.SetPayload(any.type_url(), absl::Cord(any.value()));
    }
  }
  return out;
}

}  // namespace sanhak
