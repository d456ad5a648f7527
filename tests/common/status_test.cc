// The error model as a client sees it: an absl::Status built inside a service must reach
// the wire as a grpc::Status whose google.rpc.Status details name the offending fields and
// the machine-readable reason, and come back intact on the other side.
#include "common/status.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/validation.h"
#include "google/protobuf/any.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace sanhak {
namespace {

std::vector<std::string> Fields(const google::rpc::BadRequest& bad_request) {
  std::vector<std::string> fields;
  for (const auto& v : bad_request.field_violations()) fields.push_back(v.field());
  return fields;
}

// The google.rpc.Status a gRPC client would decode from the binary trailer.
google::rpc::Status ParseDetails(const grpc::Status& status) {
  google::rpc::Status rpc_status;
  EXPECT_TRUE(rpc_status.ParseFromString(status.error_details()));
  return rpc_status;
}

// What the client receives in the trailers, before percent-encoding (grpc-message) and
// base64 (grpc-status-details-bin).
size_t WireBytes(const grpc::Status& status) {
  return status.error_message().size() + status.error_details().size();
}

int MoreOf(const google::rpc::BadRequest& bad_request) {
  return OmittedViolations(bad_request);
}

google::rpc::BadRequest BadRequestOnWire(const grpc::Status& status) {
  google::rpc::BadRequest bad_request;
  // Named, not a temporary: a range-for over a temporary's member would dangle.
  const google::rpc::Status rpc_status = ParseDetails(status);
  for (const google::protobuf::Any& any : rpc_status.details()) {
    if (any.Is<google::rpc::BadRequest>()) {
      EXPECT_TRUE(any.UnpackTo(&bad_request));
    }
  }
  return bad_request;
}

TEST(QuoteValueTest, ShortValueIsQuotedWhole) {
  EXPECT_EQ(QuoteValue("councils/x"), "\"councils/x\"");
  EXPECT_EQ(QuoteValue(""), "\"\"");
  EXPECT_EQ(QuoteValue(std::string(kMaxQuotedBytes, 'a')),
            absl::StrCat("\"", std::string(kMaxQuotedBytes, 'a'), "\""));
}

TEST(QuoteValueTest, LongValueIsAShortPrefixAndItsSize) {
  std::string name = "councils/" + std::string(32 * 1024, 'a');
  std::string quoted = QuoteValue(name);
  EXPECT_LE(quoted.size(), kMaxQuotedBytes + 32);
  EXPECT_TRUE(absl::StartsWith(quoted, "\"councils/aaa")) << quoted;
  EXPECT_TRUE(absl::EndsWith(quoted, "\"\u2026(32777 bytes)")) << quoted;
}

TEST(QuoteValueTest, CutsOnACharacterBoundary) {
  // 3-byte characters: 64 bytes would end inside the 22nd.
  std::string korean;
  for (int i = 0; i < 100; ++i) korean += "미";
  std::string quoted = QuoteValue(korean);
  EXPECT_TRUE(IsValidUtf8(quoted)) << quoted;
  std::string twenty_one;
  for (int i = 0; i < 21; ++i) twenty_one += "미";
  EXPECT_EQ(quoted, absl::StrCat("\"", twenty_one, "\"\u2026(300 bytes)"));
}

TEST(FieldViolationsTest, KeepsTheFirstViolationsAndCountsTheRest) {
  FieldViolations violations;
  for (int i = 0; i < 20000; ++i) {
    violations.Add("update_mask", absl::StrCat("\"bogus_", i, "\" is not a field"));
  }
  EXPECT_EQ(violations.size(), 20000);
  absl::Status status = violations.ToStatus();
  google::rpc::BadRequest bad_request = GetBadRequest(status);
  ASSERT_EQ(bad_request.field_violations_size(), kMaxViolations + 1);
  EXPECT_EQ(bad_request.field_violations(0).description(), "\"bogus_0\" is not a field");
  EXPECT_EQ(bad_request.field_violations(kMaxViolations - 1).description(),
            "\"bogus_19\" is not a field");
  EXPECT_EQ(MoreOf(bad_request), 20000 - kMaxViolations);
  EXPECT_TRUE(absl::EndsWith(status.message(), "; and 19980 more")) << status.message();
  EXPECT_LT(status.message().size(), 2048u);
}

TEST(FieldViolationsTest, CutsLongFieldsAndDescriptions) {
  FieldViolations violations;
  violations.Add(std::string(10000, 'f'), std::string(100000, 'd'));
  google::rpc::BadRequest bad_request = GetBadRequest(violations.ToStatus());
  ASSERT_EQ(bad_request.field_violations_size(), 1);
  EXPECT_LE(bad_request.field_violations(0).field().size(), kMaxViolationFieldBytes);
  EXPECT_LE(bad_request.field_violations(0).description().size(),
            kMaxViolationDescriptionBytes);
  EXPECT_TRUE(absl::EndsWith(bad_request.field_violations(0).description(),
                             "\u2026(100000 bytes)"));
}

TEST(FieldViolationsTest, EmptyIsOk) {
  FieldViolations violations;
  EXPECT_TRUE(violations.empty());
  EXPECT_TRUE(violations.ToStatus().ok());
}

TEST(FieldViolationsTest, NamesEveryFieldInDetailsAndMessage) {
  FieldViolations violations;
  violations.Add("display_name", "is required");
  violations.Add("founded_date", "month 13 is outside 1-12");
  EXPECT_FALSE(violations.empty());

  absl::Status status = violations.ToStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  // A human reading only the message must still learn which fields are wrong and why.
  EXPECT_NE(status.message().find("display_name"), absl::string_view::npos);
  EXPECT_NE(status.message().find("is required"), absl::string_view::npos);
  EXPECT_NE(status.message().find("founded_date"), absl::string_view::npos);
  EXPECT_NE(status.message().find("month 13"), absl::string_view::npos);

  google::rpc::BadRequest bad_request = GetBadRequest(status);
  ASSERT_EQ(bad_request.field_violations_size(), 2);
  EXPECT_EQ(bad_request.field_violations(0).field(), "display_name");
  EXPECT_EQ(bad_request.field_violations(0).description(), "is required");
  EXPECT_EQ(bad_request.field_violations(1).field(), "founded_date");
  EXPECT_EQ(bad_request.field_violations(1).description(), "month 13 is outside 1-12");
  EXPECT_EQ(GetReason(status), "INVALID_ARGUMENT");
}

TEST(FieldViolationsTest, CustomReason) {
  FieldViolations violations;
  violations.Add("parent", "is required");
  EXPECT_EQ(GetReason(violations.ToStatus("MISSING_PARENT")), "MISSING_PARENT");
}

TEST(InvalidFieldTest, OneViolation) {
  absl::Status status = InvalidField("page_size", "must not be negative");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Fields(GetBadRequest(status)), std::vector<std::string>{"page_size"});
}

TEST(WithReasonTest, AttachesAndReadsBack) {
  absl::Status status =
      WithReason(absl::FailedPreconditionError("has members"), "COUNCIL_HAS_MEMBERS");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "has members");
  EXPECT_EQ(GetReason(status), "COUNCIL_HAS_MEMBERS");
  // A status with no violations has no BadRequest.
  EXPECT_EQ(GetBadRequest(status).field_violations_size(), 0);
}

TEST(WithReasonTest, ReplacesEarlierReason) {
  absl::Status status = WithReason(absl::NotFoundError("gone"), "FIRST");
  status = WithReason(std::move(status), "SECOND");
  EXPECT_EQ(GetReason(status), "SECOND");
}

TEST(WithReasonTest, OkStaysOkWithoutPayload) {
  // An OK status cannot carry payloads; WithReason must not turn it into an error.
  absl::Status status = WithReason(absl::OkStatus(), "IGNORED");
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(GetReason(status), "");
}

TEST(GetReasonTest, PlainStatusHasNone) {
  EXPECT_EQ(GetReason(absl::InternalError("boom")), "");
}

TEST(ToGrpcStatusTest, OkMapsToOk) {
  grpc::Status status = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OK);
  EXPECT_TRUE(status.error_details().empty());
}

TEST(ToGrpcStatusTest, KeepsCodeMessageAndDetails) {
  FieldViolations violations;
  violations.Add("council.display_name", "is required");
  violations.Add("council.region", "must look like regions/{id}, got \"x\"");
  absl::Status status = violations.ToStatus("BAD_COUNCIL");

  grpc::Status grpc_status = ToGrpcStatus(status);
  EXPECT_EQ(grpc_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(grpc_status.error_message(), std::string(status.message()));

  google::rpc::Status rpc_status = ParseDetails(grpc_status);
  EXPECT_EQ(rpc_status.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(rpc_status.message(), std::string(status.message()));

  google::rpc::BadRequest bad_request;
  google::rpc::ErrorInfo info;
  int bad_requests = 0, infos = 0;
  for (const google::protobuf::Any& any : rpc_status.details()) {
    if (any.Is<google::rpc::BadRequest>()) {
      ASSERT_TRUE(any.UnpackTo(&bad_request));
      ++bad_requests;
    } else if (any.Is<google::rpc::ErrorInfo>()) {
      ASSERT_TRUE(any.UnpackTo(&info));
      ++infos;
    } else {
      ADD_FAILURE() << "unexpected detail " << any.type_url();
    }
  }
  EXPECT_EQ(bad_requests, 1);
  EXPECT_EQ(infos, 1);
  EXPECT_EQ(Fields(bad_request),
            (std::vector<std::string>{"council.display_name", "council.region"}));
  EXPECT_EQ(bad_request.field_violations(1).description(),
            "must look like regions/{id}, got \"x\"");
  EXPECT_EQ(info.reason(), "BAD_COUNCIL");
  EXPECT_EQ(info.domain(), std::string(kErrorDomain));
}

TEST(ToGrpcStatusTest, EveryCodeKeepsItsNumber) {
  // absl and gRPC codes share google.rpc.Code's numbering; a mix-up here would turn
  // e.g. NOT_FOUND into something a client retries.
  for (int code = 1; code <= 16; ++code) {
    absl::Status status(static_cast<absl::StatusCode>(code), "x");
    EXPECT_EQ(static_cast<int>(ToGrpcStatus(status).error_code()), code);
  }
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("x")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("x")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST(ToGrpcStatusTest, StatusWithoutDetailsStillHasRpcStatus) {
  grpc::Status grpc_status = ToGrpcStatus(absl::NotFoundError("councils/x does not exist"));
  google::rpc::Status rpc_status = ParseDetails(grpc_status);
  EXPECT_EQ(rpc_status.code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(rpc_status.message(), "councils/x does not exist");
  EXPECT_EQ(rpc_status.details_size(), 0);
}

TEST(ToGrpcStatusTest, LongMessageIsCut) {
  // As a handler would build it without quoting: NotFound of a 32 KB name.
  std::string name = "councils/" + std::string(32 * 1024, 'a');
  absl::Status status =
      WithReason(absl::NotFoundError(absl::StrCat(name, " does not exist")), "NOT_FOUND_HERE");
  grpc::Status grpc_status = ToGrpcStatus(status);
  EXPECT_EQ(grpc_status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LE(grpc_status.error_message().size(), kMaxErrorMessageBytes);
  EXPECT_LE(grpc_status.error_details().size(), kMaxErrorDetailsBytes);
  EXPECT_TRUE(absl::StartsWith(grpc_status.error_message(), "councils/aaa"));
  EXPECT_TRUE(absl::EndsWith(grpc_status.error_message(), "\u2026(32792 bytes)"))
      << grpc_status.error_message();
  google::rpc::Status rpc_status = ParseDetails(grpc_status);
  EXPECT_EQ(rpc_status.message(), grpc_status.error_message());
  EXPECT_EQ(GetReason(FromGrpcStatus(grpc_status)), "NOT_FOUND_HERE");
}

TEST(ToGrpcStatusTest, LongKoreanMessageIsCutOnACharacterBoundary) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "협의회";
  grpc::Status grpc_status = ToGrpcStatus(absl::InvalidArgumentError(text));
  EXPECT_LE(grpc_status.error_message().size(), kMaxErrorMessageBytes);
  EXPECT_TRUE(IsValidUtf8(grpc_status.error_message()));
  // A proto3 string with invalid UTF-8 would not parse on the client.
  EXPECT_EQ(ParseDetails(grpc_status).message(), grpc_status.error_message());
}

TEST(ToGrpcStatusTest, TwentyThousandViolationsFitAndAreCounted) {
  FieldViolations violations;
  for (int i = 0; i < 20000; ++i) {
    violations.Add(absl::StrCat("update_mask.paths[", i, "]"),
                   absl::StrCat("\"", std::string(200, 'x'), i,
                                "\" is not a field that can be updated"));
  }
  grpc::Status grpc_status = ToGrpcStatus(violations.ToStatus("BAD_MASK"));
  EXPECT_EQ(grpc_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LE(grpc_status.error_message().size(), kMaxErrorMessageBytes);
  EXPECT_LE(grpc_status.error_details().size(), kMaxErrorDetailsBytes);
  google::rpc::BadRequest bad_request = BadRequestOnWire(grpc_status);
  const int kept = bad_request.field_violations_size() - 1;
  ASSERT_GE(kept, 1);
  EXPECT_EQ(bad_request.field_violations(0).field(), "update_mask.paths[0]");
  // Every violation is either on the wire or in the count, none twice.
  EXPECT_EQ(kept + MoreOf(bad_request), 20000);
  EXPECT_EQ(GetReason(FromGrpcStatus(grpc_status)), "BAD_MASK");
}

TEST(ToGrpcStatusTest, BoundsABadRequestNotBuiltByFieldViolations) {
  // The edge must hold whatever built the status.
  google::rpc::BadRequest raw;
  for (int i = 0; i < 5000; ++i) {
    auto* v = raw.add_field_violations();
    v->set_field(std::string(1000, 'f'));
    v->set_description(std::string(1000, 'd'));
  }
  absl::Status status = WithReason(absl::InvalidArgumentError("bad"), "RAW");
  status.SetPayload("type.googleapis.com/google.rpc.BadRequest",
                    absl::Cord(raw.SerializeAsString()));
  grpc::Status grpc_status = ToGrpcStatus(status);
  EXPECT_LE(WireBytes(grpc_status), kMaxErrorMessageBytes + kMaxErrorDetailsBytes);
  google::rpc::BadRequest bad_request = BadRequestOnWire(grpc_status);
  const int kept = bad_request.field_violations_size() - 1;
  EXPECT_GE(kept, 1);
  EXPECT_LE(kept, kMaxViolations);
  EXPECT_EQ(kept + MoreOf(bad_request), 5000);
  for (int i = 0; i < kept; ++i) {
    EXPECT_LE(bad_request.field_violations(i).field().size(), kMaxViolationFieldBytes);
    EXPECT_LE(bad_request.field_violations(i).description().size(),
              kMaxViolationDescriptionBytes);
  }
  EXPECT_EQ(GetReason(FromGrpcStatus(grpc_status)), "RAW");
}

TEST(ToGrpcStatusTest, OversizedOtherDetailIsDroppedSmallOneKept) {
  google::rpc::DebugInfo debug;
  debug.set_detail(std::string(100000, 'x'));
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(1);
  absl::Status status = WithReason(absl::ResourceExhaustedError("busy"), "OVERLOADED");
  status.SetPayload("type.googleapis.com/google.rpc.DebugInfo",
                    absl::Cord(debug.SerializeAsString()));
  status.SetPayload("type.googleapis.com/google.rpc.RetryInfo",
                    absl::Cord(retry.SerializeAsString()));
  grpc::Status grpc_status = ToGrpcStatus(status);
  EXPECT_LE(grpc_status.error_details().size(), kMaxErrorDetailsBytes);
  std::vector<std::string> types;
  const google::rpc::Status rpc_status = ParseDetails(grpc_status);
  for (const auto& any : rpc_status.details()) types.push_back(any.type_url());
  EXPECT_EQ(types, (std::vector<std::string>{"type.googleapis.com/google.rpc.ErrorInfo",
                                             "type.googleapis.com/google.rpc.RetryInfo"}));
}

TEST(ToGrpcStatusTest, SmallErrorsPassUnchanged) {
  // The bounds must not touch an ordinary error.
  FieldViolations violations;
  violations.Add("council.display_name", "is required");
  absl::Status status = violations.ToStatus("BAD_COUNCIL");
  absl::Status back = FromGrpcStatus(ToGrpcStatus(status));
  EXPECT_EQ(back.message(), status.message());
  EXPECT_EQ(GetBadRequest(back).SerializeAsString(), GetBadRequest(status).SerializeAsString());
  EXPECT_EQ(GetReason(back), "BAD_COUNCIL");
}

TEST(FromGrpcStatusTest, RoundTrips) {
  FieldViolations violations;
  violations.Add("name", "is required");
  violations.Add("미래_필드", "한국어 설명");
  absl::Status original = violations.ToStatus("REQUEST_INVALID");

  absl::Status back = FromGrpcStatus(ToGrpcStatus(original));
  EXPECT_EQ(back.code(), original.code());
  EXPECT_EQ(back.message(), original.message());
  EXPECT_EQ(GetReason(back), "REQUEST_INVALID");
  google::rpc::BadRequest bad_request = GetBadRequest(back);
  EXPECT_EQ(Fields(bad_request), (std::vector<std::string>{"name", "미래_필드"}));
  EXPECT_EQ(bad_request.field_violations(1).description(), "한국어 설명");
}

TEST(FromGrpcStatusTest, OkMapsToOk) {
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(FromGrpcStatusTest, PlainGrpcErrorWithoutDetails) {
  // Errors from gRPC itself (deadline, connection refused) carry no details.
  absl::Status status =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "too slow"));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(status.message(), "too slow");
  EXPECT_EQ(GetReason(status), "");
}

TEST(ToGrpcReplyTest, ValueIsMovedIntoResponse) {
  absl::StatusOr<google::rpc::ErrorInfo> result = [] {
    google::rpc::ErrorInfo info;
    info.set_reason("R");
    return info;
  }();
  google::rpc::ErrorInfo response;
  grpc::Status status = ToGrpcReply(std::move(result), &response);
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(response.reason(), "R");
}

TEST(ToGrpcReplyTest, ErrorLeavesResponseAlone) {
  absl::StatusOr<google::rpc::ErrorInfo> result =
      WithReason(absl::NotFoundError("councils/x does not exist"), "NOT_FOUND_HERE");
  google::rpc::ErrorInfo response;
  response.set_reason("untouched");
  grpc::Status status = ToGrpcReply(std::move(result), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "councils/x does not exist");
  EXPECT_EQ(GetReason(FromGrpcStatus(status)), "NOT_FOUND_HERE");
  EXPECT_EQ(response.reason(), "untouched");
}

TEST(ToGrpcReplyTest, PlainStatus) {
  google::rpc::ErrorInfo response;
  EXPECT_TRUE(ToGrpcReply(absl::OkStatus(), &response).ok());
  EXPECT_EQ(ToGrpcReply(absl::AbortedError("etag"), &response).error_code(),
            grpc::StatusCode::ABORTED);
}

}  // namespace
}  // namespace sanhak
