// The error model as a client sees it: an absl::Status built inside a service must reach
// the wire as a grpc::Status whose google.rpc.Status details name the offending fields and
// the machine-readable reason, and come back intact on the other side.
#include "common/status.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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
