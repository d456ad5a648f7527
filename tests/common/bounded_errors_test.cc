// Errors a hostile caller provokes stay small on the wire, over real gRPC on loopback
// against an in-process registry. An error travels in the trailers; trailers beyond the
// peer's header limit (8 KB by default) cost a C++ client the error itself
// (RESOURCE_EXHAUSTED instead) and hang a grpc-js client's connection, so each test
// checks the size a client receives and that the same channel still answers a normal call.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "gtest/gtest.h"
#include "tests/registry/registry_fixture.h"
#include "tests/support/test_support.h"

namespace sanhak::registry {
namespace {

using ::sanhak::testing::BadRequestOf;
using ::sanhak::testing::Context;

constexpr size_t kPeerHeaderLimit = 8 * 1024;
constexpr char kCouncil[] = "councils/special-purpose-ships";

// The bytes the error takes in the trailers: grpc-message percent-encodes every byte
// outside printable ASCII, and '%' (3 bytes each); grpc-status-details-bin is base64.
size_t TrailerBytes(const grpc::Status& status) {
  size_t message = 0;
  for (unsigned char c : status.error_message()) {
    message += (c >= 0x20 && c <= 0x7e && c != '%') ? 1 : 3;
  }
  const size_t details = (status.error_details().size() + 2) / 3 * 4;
  return message + details;
}

int MoreOf(const google::rpc::BadRequest& bad_request) {
  return OmittedViolations(bad_request);
}

class BoundedErrorsTest : public RegistryFixture {
 protected:
  void SetUp() override {
    StartRegistry(sanhak::testing::SourceDir() + "/data/registry.textproto");
  }

  grpc::Status GetCouncil(const std::string& name) {
    v1::GetCouncilRequest request;
    request.set_name(name);
    v1::Council council;
    return stub_->GetCouncil(Context(10).get(), request, &council);
  }

  // A normal call on the same channel, right after the hostile one.
  void ExpectChannelStillAnswers() {
    v1::GetCouncilRequest request;
    request.set_name(kCouncil);
    v1::Council council;
    grpc::Status status = stub_->GetCouncil(Context(5).get(), request, &council);
    ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    EXPECT_EQ(council.name(), kCouncil);
  }
};

TEST_F(BoundedErrorsTest, ThirtyTwoKilobyteNameGetsASmallError) {
  grpc::Status status = GetCouncil("councils/" + std::string(32 * 1024, 'a'));
  // Before the bound this came back RESOURCE_EXHAUSTED: the client refused the trailers.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message().substr(0, 200);
  EXPECT_LT(status.error_message().size() + status.error_details().size(), kPeerHeaderLimit);
  EXPECT_LT(TrailerBytes(status), kPeerHeaderLimit / 2);
  // The error still names the field and what was wrong with it.
  google::rpc::BadRequest bad_request = BadRequestOf(status);
  ASSERT_EQ(bad_request.field_violations_size(), 1);
  EXPECT_EQ(bad_request.field_violations(0).field(), "name");
  EXPECT_TRUE(absl::StrContains(bad_request.field_violations(0).description(),
                                "(32768 bytes)"))
      << bad_request.field_violations(0).description();
  ExpectChannelStillAnswers();
}

TEST_F(BoundedErrorsTest, ThirtyTwoKilobyteKoreanNameGetsASmallError) {
  // Percent-encoding triples every byte of Korean text in grpc-message.
  std::string name = "councils/";
  for (int i = 0; i < 11000; ++i) name += "조선";
  grpc::Status status = GetCouncil(name);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(TrailerBytes(status), kPeerHeaderLimit / 2);
  // Cut on a character boundary, or the client could not parse the details.
  EXPECT_EQ(sanhak::testing::ViolatedFields(status), std::vector<std::string>{"name"});
  ExpectChannelStillAnswers();
}

TEST_F(BoundedErrorsTest, TwentyThousandBadMaskPathsGetASmallCountedError) {
  v1::UpdateCouncilRequest request;
  request.mutable_council()->set_name(kCouncil);
  for (int i = 0; i < 20000; ++i) {
    request.mutable_update_mask()->add_paths(absl::StrCat("no_such_field_", i));
  }
  v1::Council council;
  grpc::Status status = stub_->UpdateCouncil(Context(30).get(), request, &council);
  // Before the bound: a 3.97 MB error, refused by the client as RESOURCE_EXHAUSTED.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message().substr(0, 200);
  EXPECT_LT(status.error_message().size() + status.error_details().size(), kPeerHeaderLimit);
  EXPECT_LT(TrailerBytes(status), kPeerHeaderLimit / 2);
  google::rpc::BadRequest bad_request = BadRequestOf(status);
  const int kept = bad_request.field_violations_size() - 1;
  ASSERT_GE(kept, 1);
  EXPECT_LE(kept, kMaxViolations);
  EXPECT_EQ(bad_request.field_violations(0).field(), "update_mask");
  EXPECT_TRUE(absl::StrContains(bad_request.field_violations(0).description(),
                                "no_such_field_0"));
  // The rest are counted: none lost without a word, none named twice.
  EXPECT_EQ(kept + MoreOf(bad_request), 20000);
  ExpectChannelStillAnswers();
}

TEST_F(BoundedErrorsTest, LongMaskPathsGetASmallError) {
  // Few violations, each quoting a 40 KB path (the request stays under the 1 MiB limit).
  v1::UpdateCouncilRequest request;
  request.mutable_council()->set_name(kCouncil);
  for (int i = 0; i < 20; ++i) {
    request.mutable_update_mask()->add_paths(absl::StrCat(i, std::string(40 * 1024, 'p')));
  }
  v1::Council council;
  grpc::Status status = stub_->UpdateCouncil(Context(30).get(), request, &council);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message().substr(0, 200);
  EXPECT_LT(TrailerBytes(status), kPeerHeaderLimit / 2);
  google::rpc::BadRequest bad_request = BadRequestOf(status);
  EXPECT_EQ(bad_request.field_violations_size() - (MoreOf(bad_request) > 0 ? 1 : 0) +
                MoreOf(bad_request),
            20);
  ExpectChannelStillAnswers();
}

}  // namespace
}  // namespace sanhak::registry
