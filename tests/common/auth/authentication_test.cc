// Who may call, over real TLS with certificates from tests/support/test_certs, real gRPC
// over loopback, real libjwt tokens: a tiny ThingService (one method per role) and
// WhoAmI behind common/auth's authentication and its evaluation of the gRPC authorization
// policy.
#include "common/auth/authenticator.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/auth/identity_service.h"
#include "common/callback_reply.h"
#include "common/parsed_call.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "gtest/gtest.h"
#include "auth_test_service.grpc.pb.h"
#include "sanhak/identity/v1/identity.grpc.pb.h"
#include "tests/support/jwt_test_keys.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certs.h"

namespace sanhak::auth {
namespace {

using ::testing::HasSubstr;
namespace authtest = ::sanhak::authtest::v1;
namespace identity = ::sanhak::identity::v1;

class ThingService final : public ParsedService<authtest::ThingService::CallbackService> {
 public:
  ThingService() {
    Serve("sanhak.authtest.v1.ThingService", this, &ThingService::GetThing,
          &ThingService::CreateThing, &ThingService::DeleteThing, &ThingService::WatchThings);
    OnRefused([this](grpc::CallbackServerContext*, const RefusedCall& call) {
      absl::MutexLock lock(&mu_);
      refused_.push_back(absl::StrCat(call.method, " ", call.caller->principal, " ",
                                      call.request != nullptr
                                          ? call.request->GetDescriptor()->name()
                                          : "(unreadable)"));
    });
  }
  grpc::ServerUnaryReactor* GetThing(grpc::CallbackServerContext* c,
                                     const authtest::GetThingRequest* r,
                                     authtest::ThingReply* out) override {
    return Run(c, r, out);
  }
  grpc::ServerUnaryReactor* CreateThing(grpc::CallbackServerContext* c,
                                        const authtest::CreateThingRequest* r,
                                        authtest::ThingReply* out) override {
    return Run(c, r, out);
  }
  grpc::ServerUnaryReactor* DeleteThing(grpc::CallbackServerContext* c,
                                        const authtest::DeleteThingRequest* r,
                                        authtest::ThingReply* out) override {
    return Run(c, r, out);
  }
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchThings(grpc::CallbackServerContext*,
                                                          authtest::WatchThingsRequest) {
    ++runs;
    return new parsed_internal::RefusedStream(grpc::Status::OK);
  }

  std::vector<std::string> refused() {
    absl::MutexLock lock(&mu_);
    return refused_;
  }

  std::atomic<int> runs{0};

 private:
  template <typename Request>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* c, const Request* r,
                                authtest::ThingReply* out) {
    ++runs;
    authtest::ThingReply reply;
    reply.set_name(r->name());
    return Reply(c, absl::StatusOr<authtest::ThingReply>(reply), out);
  }

  absl::Mutex mu_;
  std::vector<std::string> refused_ ABSL_GUARDED_BY(mu_);
};

constexpr char kIssuer[] = "https://issuer.test";

// Paths of the test service, as a role may call them.
std::string PolicyJson(const std::string& reader_paths) {
  const std::string t = "/sanhak.authtest.v1.ThingService/";
  const std::string who = "\"/sanhak.identity.v1.IdentityService/WhoAmI\"";
  const std::string editor_paths = absl::StrCat(reader_paths, ", \"", t, "CreateThing\"");
  return absl::StrCat(R"({"name": "test", "allow_rules": [
    {"name": "admin", "source": {"principals": ["spiffe://sanhak.test/user/admin"]},
     "request": {"paths": ["*"]}},
    {"name": "editor", "source": {"principals": ["spiffe://sanhak.test/user/editor"]},
     "request": {"paths": [)", editor_paths, R"(]}},
    {"name": "reader", "source": {"principals": ["spiffe://sanhak.test/user/reader",
                                                  "reader.sanhak.test"]},
     "request": {"paths": [)", reader_paths, R"(]}},
    {"name": "reader loose", "source": {"principals": ["spiffe://sanhak.test/user/loose"]},
     "request": {"paths": ["*"]}},
    {"name": "token-admin", "request": {"paths": ["*"],
     "headers": [{"key": "sanhak-role", "values": ["admin"]}]}},
    {"name": "token-editor", "request": {"paths": [)", editor_paths, R"(],
     "headers": [{"key": "sanhak-role", "values": ["editor"]}]}},
    {"name": "token-reader", "request": {"paths": [)", reader_paths, R"(],
     "headers": [{"key": "sanhak-role", "values": ["reader"]}]}}
  ]})");
}

std::string ReaderPaths() {
  return "\"/sanhak.authtest.v1.ThingService/GetThing\", "
         "\"/sanhak.authtest.v1.ThingService/WatchThings\", "
         "\"/sanhak.identity.v1.IdentityService/WhoAmI\"";
}

class AuthenticationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new sanhak::testing::TempDir("auth");
    pki_ = sanhak::testing::TestPki::Create(dir_->path()).value().release();
    other_pki_ =
        sanhak::testing::TestPki::Create(dir_->path(), "other CA", "other-").value().release();
    server_cert_ = new sanhak::testing::TestCert(pki_->IssueService("server", "").value());
    admin_ = Issue("admin", "spiffe://sanhak.test/user/admin");
    editor_ = Issue("editor", "spiffe://sanhak.test/user/editor");
    reader_ = Issue("reader", "spiffe://sanhak.test/user/reader");
    loose_ = Issue("loose", "spiffe://sanhak.test/user/loose");
    nobody_ = Issue("nobody", "spiffe://sanhak.test/user/nobody");
    dns_reader_ = new sanhak::testing::TestCert(
        pki_->IssueClientDns("dns-reader", "reader.sanhak.test").value());
    expired_ = new sanhak::testing::TestCert(
        pki_->IssueExpiredClient("expired", "spiffe://sanhak.test/user/admin").value());
    stranger_ = new sanhak::testing::TestCert(
        other_pki_->IssueClientUri("stranger", "spiffe://sanhak.test/user/admin").value());
    key_ = new testing::TestKey(testing::MakeEcKey("ec-1"));
    rsa_key_ = new testing::TestKey(testing::MakeRsaKey("rsa-1"));
  }

  static sanhak::testing::TestCert* Issue(const std::string& name, const std::string& uri) {
    return new sanhak::testing::TestCert(pki_->IssueClientUri(name, uri).value());
  }

  void SetUp() override {
    policy_path_ = dir_->File("policy.json");
    WritePolicy(PolicyJson(ReaderPaths()));
    keys_path_ = dir_->File("jwks.json");
    ASSERT_TRUE(sanhak::testing::WriteFileAtomically(keys_path_,
                                                     testing::KeySet({*key_, *rsa_key_}))
                    .ok());
    AuthOptions options;
    options.policy_path = policy_path_;
    options.jwt_keys_path = keys_path_;
    options.jwt_issuer = kIssuer;
    options.jwt_audience = "sanhak";
    options.reload_interval = absl::Seconds(1);

    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = pki_->ca_pem();
    ssl.pem_key_cert_pairs.push_back({server_cert_->key_pem, server_cert_->cert_pem});
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(ssl);
    grpc::ServerBuilder builder;
    absl::Status installed = InstallAuthentication(options, credentials.get(), &builder);
    ASSERT_TRUE(installed.ok()) << installed;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port);
    builder.RegisterService(&things_);
    builder.RegisterService(&identity_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = absl::StrCat("127.0.0.1:", port);
  }

  void TearDown() override { server_->Shutdown(); }

  void WritePolicy(const std::string& json) {
    ASSERT_TRUE(sanhak::testing::WriteFileAtomically(policy_path_, json).ok());
  }

  // A channel of its own (its own connection), presenting `cert` when given.
  std::shared_ptr<grpc::Channel> Dial(const sanhak::testing::TestCert* cert) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pki_->ca_pem();
    if (cert != nullptr) {
      ssl.pem_private_key = cert->key_pem;
      ssl.pem_cert_chain = cert->cert_pem;
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(address_, grpc::SslCredentials(ssl), args);
  }

  struct CallAs {
    std::string token;
    std::string role_header;
  };

  static void Prepare(grpc::ClientContext* context, const CallAs& as) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!as.token.empty()) context->AddMetadata("authorization", "Bearer " + as.token);
    if (!as.role_header.empty()) context->AddMetadata("sanhak-role", as.role_header);
  }

  grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                    const CallAs& as = {}) {
    auto stub = authtest::ThingService::NewStub(channel);
    grpc::ClientContext context;
    Prepare(&context, as);
    authtest::ThingReply reply;
    if (method == "GetThing") {
      authtest::GetThingRequest request;
      return stub->GetThing(&context, request, &reply);
    }
    if (method == "CreateThing") {
      authtest::CreateThingRequest request;
      request.set_name("things/1");
      return stub->CreateThing(&context, request, &reply);
    }
    if (method == "DeleteThing") {
      authtest::DeleteThingRequest request;
      request.set_name("things/1");
      return stub->DeleteThing(&context, request, &reply);
    }
    authtest::WatchThingsRequest request;
    auto reader = stub->WatchThings(&context, request);
    while (reader->Read(&reply)) {
    }
    return reader->Finish();
  }

  absl::StatusOr<identity::WhoAmIResponse> WhoAmI(const std::shared_ptr<grpc::Channel>& channel,
                                                  const CallAs& as = {}) {
    auto stub = identity::IdentityService::NewStub(channel);
    grpc::ClientContext context;
    Prepare(&context, as);
    identity::WhoAmIResponse response;
    grpc::Status status = stub->WhoAmI(&context, identity::WhoAmIRequest(), &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  std::string Token(const testing::TestKey& key, const std::string& sub, const std::string& role,
                    absl::Time exp = absl::Now() + absl::Hours(1)) {
    testing::Claims claims;
    claims.iss = kIssuer;
    claims.sub = sub;
    claims.role = role;
    claims.exp = exp;
    if (role == "editor") claims.councils = {"councils/a"};
    return testing::SignToken(key, claims);
  }

  static sanhak::testing::TempDir* dir_;
  static sanhak::testing::TestPki* pki_;
  static sanhak::testing::TestPki* other_pki_;
  static sanhak::testing::TestCert* server_cert_;
  static sanhak::testing::TestCert *admin_, *editor_, *reader_, *loose_, *nobody_, *dns_reader_,
      *expired_, *stranger_;
  static testing::TestKey* key_;
  static testing::TestKey* rsa_key_;

  std::string policy_path_;
  std::string keys_path_;
  ThingService things_;
  IdentityGrpcService identity_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

sanhak::testing::TempDir* AuthenticationTest::dir_ = nullptr;
sanhak::testing::TestPki* AuthenticationTest::pki_ = nullptr;
sanhak::testing::TestPki* AuthenticationTest::other_pki_ = nullptr;
sanhak::testing::TestCert* AuthenticationTest::server_cert_ = nullptr;
sanhak::testing::TestCert *AuthenticationTest::admin_, *AuthenticationTest::editor_,
    *AuthenticationTest::reader_, *AuthenticationTest::loose_, *AuthenticationTest::nobody_,
    *AuthenticationTest::dns_reader_, *AuthenticationTest::expired_,
    *AuthenticationTest::stranger_;
testing::TestKey* AuthenticationTest::key_ = nullptr;
testing::TestKey* AuthenticationTest::rsa_key_ = nullptr;

TEST_F(AuthenticationTest, AnonymousCallerIsUnauthenticatedBeforeAnyHandler) {
  auto anonymous = Dial(nullptr);
  for (const std::string method : {"GetThing", "CreateThing", "DeleteThing", "WatchThings"}) {
    grpc::Status status = Call(anonymous, method);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << method << ": " << status.error_message();
    // Claiming a role in the header changes nothing.
    status = Call(anonymous, method, {"", "admin"});
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
    EXPECT_THAT(status.error_message(), HasSubstr("no client certificate and no bearer token"));
  }
  EXPECT_EQ(things_.runs.load(), 0);
}

TEST_F(AuthenticationTest, WrongAuthorityAndExpiredCertificateNeverConnect) {
  for (const sanhak::testing::TestCert* cert : {stranger_, expired_}) {
    auto channel = Dial(cert);
    grpc::Status status = Call(channel, "GetThing");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_FALSE(WhoAmI(channel).ok());
  }
  EXPECT_EQ(things_.runs.load(), 0);
}

TEST_F(AuthenticationTest, CertificateCallersAreWhoTheirSansSay) {
  absl::StatusOr<identity::WhoAmIResponse> admin = WhoAmI(Dial(admin_));
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_EQ(admin->principal(), "spiffe://sanhak.test/user/admin");
  EXPECT_EQ(admin->role(), "admin");
  EXPECT_EQ(admin->authenticated_by(), "certificate");
  absl::StatusOr<identity::WhoAmIResponse> dns = WhoAmI(Dial(dns_reader_));
  ASSERT_TRUE(dns.ok()) << dns.status();
  EXPECT_EQ(dns->principal(), "reader.sanhak.test");
  EXPECT_EQ(dns->role(), "reader");
  // A valid certificate the policy names nowhere.
  grpc::Status nobody = Call(Dial(nobody_), "GetThing");
  EXPECT_EQ(nobody.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(things_.runs.load(), 0);
  EXPECT_TRUE(Call(Dial(admin_), "DeleteThing").ok());
  EXPECT_EQ(things_.runs.load(), 1);
}

TEST_F(AuthenticationTest, ReaderWritesAreRefusedAndNeverReachTheHandler) {
  auto reader = Dial(reader_);
  EXPECT_TRUE(Call(reader, "GetThing").ok());
  EXPECT_TRUE(Call(reader, "WatchThings").ok());
  ASSERT_EQ(things_.runs.load(), 2);
  // The policy gives the reader no write: refused before the handler (and before the
  // edge check, whose hook sees nothing of these), naming the method and the caller.
  for (const std::string method : {"CreateThing", "DeleteThing"}) {
    grpc::Status status = Call(reader, method);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method;
    EXPECT_EQ(status.error_message(),
              absl::StrCat("no allow rule of authorization policy \"test\" lets caller "
                           "spiffe://sanhak.test/user/reader (reader) call "
                           "/sanhak.authtest.v1.ThingService/",
                           method));
    // Sending the role header it holds changes nothing.
    EXPECT_EQ(Call(reader, method, {"", "reader"}).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_EQ(things_.runs.load(), 2);

  // A policy rule that grants a reader too much: the edge check still refuses, naming
  // the method, the role needed and the caller's.
  auto loose = Dial(loose_);
  grpc::Status create = Call(loose, "CreateThing");
  EXPECT_EQ(create.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(create.error_message(),
            "CreateThing needs role editor; caller \"spiffe://sanhak.test/user/loose\" has reader");
  absl::Status detailed = FromGrpcStatus(create);
  EXPECT_EQ(GetReason(detailed), "MISSING_ROLE");
  grpc::Status remove = Call(loose, "DeleteThing");
  EXPECT_THAT(remove.error_message(), HasSubstr("DeleteThing needs role admin"));
  EXPECT_EQ(things_.runs.load(), 2);
  // The service's hook saw both, with the request.
  EXPECT_THAT(things_.refused(),
              ::testing::ElementsAre("CreateThing spiffe://sanhak.test/user/loose CreateThingRequest",
                                     "DeleteThing spiffe://sanhak.test/user/loose DeleteThingRequest"));
}

TEST_F(AuthenticationTest, BearerTokensEs256AndRs256) {
  const std::string editor = Token(*key_, "kim", "editor");
  absl::StatusOr<identity::WhoAmIResponse> who = WhoAmI(Dial(nullptr), {editor, "editor"});
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->principal(), "jwt:https://issuer.test#kim");
  EXPECT_EQ(who->role(), "editor");
  EXPECT_THAT(who->councils(), ::testing::ElementsAre("councils/a"));
  EXPECT_EQ(who->authenticated_by(), "token");
  auto channel = Dial(nullptr);
  EXPECT_TRUE(Call(channel, "CreateThing", {editor, "editor"}).ok());
  EXPECT_EQ(Call(channel, "DeleteThing", {editor, "editor"}).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  const std::string admin = Token(*rsa_key_, "root", "admin");
  EXPECT_TRUE(Call(Dial(nullptr), "DeleteThing", {admin, "admin"}).ok());
  EXPECT_EQ(things_.runs.load(), 2);
}

TEST_F(AuthenticationTest, BadTokensAreUnauthenticatedBeforeAnyHandler) {
  const std::string expired = Token(*key_, "kim", "admin", absl::Now() - absl::Minutes(10));
  testing::TestKey forger = testing::MakeEcKey("ec-1");
  const std::string forged = Token(forger, "kim", "admin");
  testing::Claims wrong_issuer;
  wrong_issuer.iss = "https://evil.test";
  wrong_issuer.role = "admin";
  const std::string wrong_iss = testing::SignToken(*key_, wrong_issuer);
  for (const std::string& token : {expired, forged, wrong_iss, std::string("garbage")}) {
    grpc::Status status = Call(Dial(nullptr), "DeleteThing", {token, "admin"});
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("bearer token refused"));
  }
  EXPECT_EQ(things_.runs.load(), 0);
}

TEST_F(AuthenticationTest, RoleHeaderMustBeTheTokensRole) {
  const std::string reader = Token(*key_, "kim", "reader");
  grpc::Status status = Call(Dial(nullptr), "DeleteThing", {reader, "admin"});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // A certificate caller claiming more than it has.
  status = Call(Dial(reader_), "DeleteThing", {"", "admin"});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(things_.runs.load(), 0);
}

TEST_F(AuthenticationTest, OneConnectionCarriesOneIdentity) {
  auto channel = Dial(nullptr);
  EXPECT_TRUE(Call(channel, "GetThing", {Token(*key_, "kim", "reader"), "reader"}).ok());
  // The same person with a fresh token: fine.
  EXPECT_TRUE(Call(channel, "GetThing", {Token(*rsa_key_, "kim", "reader"), "reader"}).ok());
  // Someone else on the same connection is refused, not served as kim (nor kim as them).
  grpc::Status other = Call(channel, "CreateThing", {Token(*key_, "lee", "editor"), "editor"});
  EXPECT_EQ(other.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(other.error_message(), HasSubstr("open a new connection"));
  absl::StatusOr<identity::WhoAmIResponse> who =
      WhoAmI(channel, {Token(*key_, "kim", "reader"), "reader"});
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->principal(), "jwt:https://issuer.test#kim");
  // A certificate and a token together: one identity per call.
  grpc::Status both = Call(Dial(admin_), "GetThing", {Token(*key_, "kim", "reader"), "reader"});
  EXPECT_EQ(both.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(things_.runs.load(), 2);
}

TEST_F(AuthenticationTest, PolicyRewrittenWhileCallsRunAppliesWithoutRestart) {
  // Four threads call while the policy changes under them: two share the reader's
  // certificate connection, two are token readers on connections of their own (sending
  // no role header: the policy sees their verified role all the same). Each alternates
  // GetThing, which every version of the policy allows, and WatchThings, which the new
  // one takes away from readers.
  auto reader = Dial(reader_);
  const std::string token = Token(*key_, "kim", "reader");
  constexpr int kThreads = 4;
  struct Outcome {
    int watch_ok = 0, watch_denied = 0, watch_ok_after_denied = 0, get_failed = 0, other = 0;
    std::string first_other;
  };
  std::vector<Outcome> outcomes(kThreads);
  std::atomic<int> started{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const bool by_token = t >= 2;
      auto channel = by_token ? Dial(nullptr) : reader;
      const CallAs as = by_token ? CallAs{token, ""} : CallAs{};
      Outcome& out = outcomes[t];
      bool counted = false;
      for (int i = 0; i < 1000 && !stop.load(); ++i) {
        grpc::Status get = Call(channel, "GetThing", as);
        if (!get.ok()) ++out.get_failed;
        grpc::Status watch = Call(channel, "WatchThings", as);
        if (watch.ok()) {
          ++out.watch_ok;
          if (out.watch_denied > 0) ++out.watch_ok_after_denied;
          if (!counted) counted = true, ++started;
        } else if (watch.error_code() == grpc::StatusCode::PERMISSION_DENIED &&
                   absl::StrContains(watch.error_message(), "WatchThings")) {
          ++out.watch_denied;
        } else {
          if (out.other++ == 0) out.first_other = watch.error_message();
        }
        absl::SleepFor(absl::Milliseconds(5));
      }
    });
  }
  for (int i = 0; i < 500 && started.load() < kThreads; ++i) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(started.load(), kThreads) << "the callers did not get going";

  // Take WatchThings away from readers, certificate and token alike.
  WritePolicy(PolicyJson("\"/sanhak.authtest.v1.ThingService/GetThing\", "
                         "\"/sanhak.identity.v1.IdentityService/WhoAmI\""));
  // The file is looked at every second; every thread must see the change.
  auto all_denied = [&] {
    for (int i = 0; i < kThreads; ++i) {
      if (outcomes[i].watch_denied < 3) return false;  // read racily; settled after join
    }
    return true;
  };
  for (int i = 0; i < 100 && !all_denied(); ++i) absl::SleepFor(absl::Milliseconds(100));
  stop = true;
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    SCOPED_TRACE(absl::StrCat("thread ", t));
    EXPECT_GT(outcomes[t].watch_ok, 0);
    EXPECT_GE(outcomes[t].watch_denied, 3) << "the new policy never applied";
    EXPECT_EQ(outcomes[t].watch_ok_after_denied, 0) << "an older policy came back";
    EXPECT_EQ(outcomes[t].get_failed, 0) << "the reader's other rights stay";
    EXPECT_EQ(outcomes[t].other, 0) << outcomes[t].first_other;
  }
  EXPECT_TRUE(Call(reader, "GetThing").ok());

  // A role change in the file: new connections get the new role at once, old ones are
  // refused rather than served with the old role.
  auto old_editor = Dial(editor_);
  ASSERT_TRUE(Call(old_editor, "CreateThing").ok());
  WritePolicy(absl::StrReplaceAll(PolicyJson(ReaderPaths()),
                                  {{"\"spiffe://sanhak.test/user/editor\"", "\"spiffe://sanhak.test/user/demoted\""},
                                   {"\"spiffe://sanhak.test/user/reader\",", "\"spiffe://sanhak.test/user/reader\", \"spiffe://sanhak.test/user/editor\","}}));
  absl::StatusOr<identity::WhoAmIResponse> who;
  for (int i = 0; i < 100; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    who = WhoAmI(Dial(editor_));
    if (who.ok() && who->role() == "reader") break;
  }
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->role(), "reader");
  grpc::Status stale = Call(old_editor, "GetThing");
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(stale.error_message(), HasSubstr("open a new connection"));
}

TEST_F(AuthenticationTest, DenyRulesWinAndNameTheRule) {
  // Admins may call anything, except that this admin may not delete.
  std::string policy = PolicyJson(ReaderPaths());
  policy.insert(policy.find("\"allow_rules\""),
                R"("deny_rules": [{"name": "no deletes by this admin",
                     "source": {"principals": ["spiffe://sanhak.test/user/admin"]},
                     "request": {"paths": ["/sanhak.authtest.v1.ThingService/Delete*"]}}], )");
  WritePolicy(policy);
  absl::SleepFor(absl::Milliseconds(1100));  // the file is looked at once a second
  auto admin = Dial(admin_);
  grpc::Status status;
  for (int i = 0; i < 50; ++i) {
    status = Call(admin, "DeleteThing");
    if (!status.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(),
            "/sanhak.authtest.v1.ThingService/DeleteThing is refused to caller "
            "spiffe://sanhak.test/user/admin (admin) by deny rule \"no deletes by this admin\" "
            "of authorization policy \"test\"");
  const int runs = things_.runs.load();
  EXPECT_TRUE(Call(admin, "CreateThing").ok());
  EXPECT_EQ(things_.runs.load(), runs + 1);
  // Another admin (a token) is not named by the rule.
  EXPECT_TRUE(Call(Dial(nullptr), "DeleteThing", {Token(*key_, "root", "admin"), ""}).ok());
}

TEST_F(AuthenticationTest, TokenRulesNeverWidenACertificatesRules) {
  // Token readers may call everything a reader may; this certificate reader only GetThing.
  std::string policy = absl::StrReplaceAll(
      PolicyJson("\"/sanhak.authtest.v1.ThingService/GetThing\""),
      {{R"("token-reader", "request": {"paths": ["/sanhak.authtest.v1.ThingService/GetThing"])",
        R"("token-reader", "request": {"paths": ["*"])"}});
  ASSERT_NE(policy.find(R"("token-reader", "request": {"paths": ["*"])"), std::string::npos);
  WritePolicy(policy);
  auto reader = Dial(reader_);
  const std::string token = Token(*key_, "kim", "reader");
  bool applied = false;
  for (int i = 0; i < 50 && !applied; ++i) {
    applied = Call(reader, "WatchThings").error_code() == grpc::StatusCode::PERMISSION_DENIED;
    if (!applied) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(applied);
  // Neither with the role header it holds.
  EXPECT_EQ(Call(reader, "WatchThings", {"", "reader"}).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // A token reader, with or without the header, has the token rule's paths.
  EXPECT_TRUE(Call(Dial(nullptr), "WatchThings", {token, ""}).ok());
  EXPECT_TRUE(Call(Dial(nullptr), "WatchThings", {token, "reader"}).ok());
}

}  // namespace
}  // namespace sanhak::auth
