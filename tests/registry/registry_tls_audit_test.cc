// Council scope and the audit trail over the real edge (issue 11): a registry on TLS with
// the shipped authorization policy, callers with bearer tokens (an editor scoped to one
// council, a reader) and an admin with a client certificate, all over real gRPC on
// loopback. What the domain refuses is in the trail under the caller's token identity.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/registry/registry_server.h"
#include "tests/support/jwt_test_keys.h"
#include "tests/support/test_certs.h"
#include "tests/support/test_support.h"

namespace sanhak::registry {
namespace {

using ::sanhak::testing::ReasonOf;
using ::testing::HasSubstr;

constexpr char kIssuer[] = "https://login.sanhak.test";
constexpr char kShips[] = "councils/special-purpose-ships";
constexpr char kGdx[] = "councils/gdx-small-medium-ships";

class RegistryTlsAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = sanhak::testing::TestPki::Create(dir_.path());
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    auto server = pki_->IssueService("registry", "spiffe://sanhak.local/service/registry");
    auto admin = pki_->IssueClientUri("admin", "spiffe://sanhak.local/user/admin");
    ASSERT_TRUE(server.ok() && admin.ok());
    admin_ = *admin;
    key_ = auth::testing::MakeEcKey("key-1");
    std::ofstream(dir_.File("jwks.json")) << auth::testing::KeySet({key_});

    RegistryConfig rc;
    rc.server.listen_address = "127.0.0.1:0";
    rc.server.log_calls = false;
    rc.server.drain_deadline = absl::Seconds(2);
    rc.server.insecure_plaintext = false;
    rc.server.tls = {server->cert_path, server->key_path, pki_->ca_path()};
    rc.server.tls_client_certificate_optional = true;
    rc.server.auth.policy_path = sanhak::testing::SourceDir() + "/config/authz-policy.json";
    rc.server.auth.jwt_keys_path = dir_.File("jwks.json");
    rc.server.auth.jwt_issuer = kIssuer;
    rc.server.auth.jwt_audience = "sanhak";
    rc.database_path = dir_.File("registry.db");
    rc.import_path = sanhak::testing::SourceDir() + "/data/registry.textproto";
    rc.audit_log_path = dir_.File("audit.jsonl");
    auto registry = RegistryServer::Start(rc);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
  }

  void TearDown() override {
    if (registry_ != nullptr) registry_->Shutdown();
  }

  std::string Token(const std::string& sub, const std::string& role,
                    std::vector<std::string> councils = {}) {
    auth::testing::Claims claims;
    claims.iss = kIssuer;
    claims.sub = sub;
    claims.role = role;
    claims.councils = std::move(councils);
    return auth::testing::SignToken(key_, claims);
  }

  std::unique_ptr<v1::RegistryService::Stub> Stub(const sanhak::testing::TestCert* cert) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pki_->ca_pem();
    if (cert != nullptr) {
      ssl.pem_private_key = cert->key_pem;
      ssl.pem_cert_chain = cert->cert_pem;
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return v1::RegistryService::NewStub(
        grpc::CreateCustomChannel(registry_->address(), grpc::SslCredentials(ssl), args));
  }

  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  grpc::Status Retitle(v1::RegistryService::Stub& stub, const std::string& token,
                       const std::string& council, const std::string& title) {
    v1::UpdateCouncilRequest request;
    request.mutable_council()->set_name(council);
    request.mutable_council()->set_display_name(title);
    request.mutable_update_mask()->add_paths("display_name");
    v1::Council out;
    return stub.UpdateCouncil(As(token).get(), request, &out);
  }

  sanhak::testing::TempDir dir_{"registry-tls-audit"};
  std::unique_ptr<sanhak::testing::TestPki> pki_;
  sanhak::testing::TestCert admin_;
  auth::testing::TestKey key_;
  std::unique_ptr<RegistryServer> registry_;
};

TEST_F(RegistryTlsAuditTest, AScopedEditorsTokenChangesOnlyItsCouncilAndTheTrailSaysWho) {
  auto anonymous = Stub(nullptr);
  auto admin = Stub(&admin_);
  const std::string editor = Token("kim", "editor", {kShips});
  const std::string editor_principal = absl::StrCat("jwt:", kIssuer, "#kim");

  v1::GetCouncilRequest get;
  get.set_name(kGdx);
  v1::Council before;
  ASSERT_TRUE(admin->GetCouncil(As("").get(), get, &before).ok());

  grpc::Status s = Retitle(*anonymous, editor, kGdx, "바뀐 이름");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_EQ(ReasonOf(s), "COUNCIL_OUT_OF_SCOPE");
  EXPECT_THAT(s.error_message(), HasSubstr(kGdx));
  v1::Council after;
  ASSERT_TRUE(admin->GetCouncil(As("").get(), get, &after).ok());
  EXPECT_EQ(after.etag(), before.etag());

  s = Retitle(*anonymous, editor, kShips, "특수목적선 협의체");
  EXPECT_TRUE(s.ok()) << s.error_message();

  // An editor's delete: refused at the edge (or by the policy) whatever the council.
  v1::DeleteCouncilRequest del;
  del.set_name(kShips);
  google::protobuf::Empty empty;
  s = anonymous->DeleteCouncil(As(editor).get(), del, &empty);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // The trail, read by the admin (a token editor may not read it).
  v1::ListAuditEntriesRequest list;
  v1::ListAuditEntriesResponse response;
  s = anonymous->ListAuditEntries(As(editor).get(), list, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  list.set_principal(editor_principal);
  s = admin->ListAuditEntries(As("").get(), list, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::vector<std::string> seen;
  for (const auto& e : response.audit_entries()) {
    EXPECT_EQ(e.role(), "editor");
    EXPECT_EQ(e.authenticated_by(), "token");
    seen.push_back(absl::StrCat(e.method(), " ", e.resource(), " ", e.code()));
  }
  // The two updates. The delete is not there: the shipped policy refused it in gRPC's
  // auth filter (common/auth), before any hook of this service could record it. A known
  // gap of the trail (see the branch report); this line changes when it is closed.
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], absl::StrCat("UpdateCouncil ", kGdx, " 7"));
  EXPECT_EQ(seen[1], absl::StrCat("UpdateCouncil ", kShips, " 0"));
}

}  // namespace
}  // namespace sanhak::registry
