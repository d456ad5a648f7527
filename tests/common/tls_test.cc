// TLS on the gRPC ports (issue #11, "Transport"): real gRPC over loopback with real
// certificates made by the test (tests/support/test_certs.h). A small registry service
// that counts its handler calls is served by the real GrpcServer, so "refused" means no
// handler ran; the real binaries are run on mutual TLS too, and refuse plaintext off
// loopback.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "common/server.h"
#include "common/tls.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certs.h"
#include "tests/support/test_support.h"

namespace sanhak {
namespace {

using ::sanhak::testing::CertDir;
using ::sanhak::testing::Context;
using ::sanhak::testing::TempDir;
using ::sanhak::testing::TestCert;
using ::sanhak::testing::TestPki;
using ::testing::HasSubstr;
namespace rv1 = ::sanhak::registry::v1;

constexpr char kServerUri[] = "spiffe://sanhak.local/service/registry";
constexpr char kClientUri[] = "spiffe://sanhak.local/user/alice";

// GetCouncil answers at once and counts; it records the SANs of each caller's certificate.
class CountingRegistry : public rv1::RegistryService::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetCouncil(grpc::CallbackServerContext* context,
                                       const rv1::GetCouncilRequest* request,
                                       rv1::Council* response) override {
    calls_.fetch_add(1);
    std::string sans;
    for (const grpc::string_ref& san :
         context->auth_context()->FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME)) {
      sans.append(san.data(), san.size()).append(" ");
    }
    {
      absl::MutexLock lock(&mu_);
      last_sans_ = sans;
    }
    response->set_name(request->name());
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  int calls() const { return calls_.load(); }
  std::string last_sans() {
    absl::MutexLock lock(&mu_);
    return last_sans_;
  }

 private:
  std::atomic<int> calls_{0};
  absl::Mutex mu_;
  std::string last_sans_ ABSL_GUARDED_BY(mu_);
};

// A new connection for each channel: gRPC otherwise shares one subchannel (and its TLS
// session) between channels to the same target.
std::shared_ptr<grpc::Channel> FreshChannel(const std::string& address,
                                            std::shared_ptr<grpc::ChannelCredentials> creds) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, std::move(creds), args);
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    auto pki = TestPki::Create(dir_.path());
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    auto other = TestPki::Create(dir_.path(), "unrelated CA", "other-");
    ASSERT_TRUE(other.ok()) << other.status();
    other_ = *std::move(other);
    auto server = pki_->IssueService("server", kServerUri);
    auto client = pki_->IssueClientUri("alice", kClientUri);
    ASSERT_TRUE(server.ok() && client.ok()) << server.status() << client.status();
    server_cert_ = *server;
    client_cert_ = *client;
  }

  void StartServer(const TlsFiles& files, bool client_certificate_optional = false) {
    ServerOptions options;
    options.tls = files;
    options.insecure_plaintext = false;
    options.log_calls = false;
    options.tls_refresh_interval = absl::Seconds(1);
    options.tls_client_certificate_optional = client_certificate_optional;
    // These tests are about the transport: every authenticated principal may call.
    // (Who may call what is tests/common/auth's.)
    options.auth.policy_path = dir_.File("policy.json");
    ASSERT_TRUE(testing::WriteFileAtomically(options.auth.policy_path,
                                    R"({"name": "transport-tests", "allow_rules": [{"name": "admin",
                                        "source": {"principals": ["*"]},
                                        "request": {"paths": ["*"]}}]})")
                    .ok());
    auto server = GrpcServer::Start(options, {{&service_, "sanhak.registry.v1.RegistryService",
                                               nullptr}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->tls());
  }

  TlsFiles ServerFiles() const { return {server_cert_.cert_path, server_cert_.key_path,
                                         pki_->ca_path()}; }

  std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(const TlsFiles& files) {
    auto credentials = ChannelCredentialsFromFiles(files);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return credentials.ok() ? *credentials : nullptr;
  }

  // One GetCouncil on a fresh connection.
  grpc::Status Call(std::shared_ptr<grpc::ChannelCredentials> credentials,
                    std::string* peer_pem = nullptr) {
    auto stub = rv1::RegistryService::NewStub(FreshChannel(server_->address(), credentials));
    rv1::GetCouncilRequest request;
    request.set_name("councils/display");
    rv1::Council council;
    auto context = Context(10);
    grpc::Status status = stub->GetCouncil(context.get(), request, &council);
    if (peer_pem != nullptr && status.ok()) {
      auto values = context->auth_context()->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
      *peer_pem = values.empty() ? "" : std::string(values[0].data(), values[0].size());
    }
    return status;
  }

  TempDir dir_{"tls-test"};
  std::unique_ptr<TestPki> pki_;
  std::unique_ptr<TestPki> other_;
  TestCert server_cert_;
  TestCert client_cert_;
  CountingRegistry service_;
  std::unique_ptr<GrpcServer> server_;
};

TEST_F(TlsTest, MutualTlsCallReachesTheHandlerWithTheCallersCertificate) {
  StartServer(ServerFiles());
  std::string peer_pem;
  grpc::Status status = Call(ClientCredentials({client_cert_.cert_path, client_cert_.key_path,
                                                pki_->ca_path()}),
                             &peer_pem);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(service_.calls(), 1);
  EXPECT_THAT(service_.last_sans(), HasSubstr(kClientUri));
  // The client saw the server's own certificate.
  EXPECT_EQ(peer_pem, server_cert_.cert_pem);
}

TEST_F(TlsTest, ClientNamedByDnsSanIsServed) {
  StartServer(ServerFiles());
  auto client = pki_->IssueClientDns("institution", "ksic.example.kr");
  ASSERT_TRUE(client.ok()) << client.status();
  grpc::Status status =
      Call(ClientCredentials({client->cert_path, client->key_path, pki_->ca_path()}));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(service_.last_sans(), HasSubstr("ksic.example.kr"));
}

TEST_F(TlsTest, PlaintextClientIsRefused) {
  StartServer(ServerFiles());
  grpc::Status status = Call(grpc::InsecureChannelCredentials());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(service_.calls(), 0);
}

TEST_F(TlsTest, ClientWithoutCertificateIsRefusedWhenCertificatesAreRequired) {
  StartServer(ServerFiles());
  TlsFiles ca_only;
  ca_only.ca = pki_->ca_path();
  grpc::Status status = Call(ClientCredentials(ca_only));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(service_.calls(), 0);
}

TEST_F(TlsTest, ClientTrustingAnotherAuthorityRejectsTheServer) {
  StartServer(ServerFiles());
  grpc::Status status = Call(ClientCredentials({client_cert_.cert_path, client_cert_.key_path,
                                                other_->ca_path()}));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(service_.calls(), 0);
}

// In both modes: a certificate that is sent is verified, and a bad one ends the handshake.
TEST_F(TlsTest, ExpiredOrForeignClientCertificateIsRefusedBeforeAnyHandler) {
  auto expired = pki_->IssueExpiredClient("expired", kClientUri);
  auto foreign = other_->IssueClientUri("mallory", kClientUri);
  ASSERT_TRUE(expired.ok() && foreign.ok()) << expired.status() << foreign.status();
  for (bool optional : {false, true}) {
    SCOPED_TRACE(optional ? "certificate optional" : "certificate required");
    StartServer(ServerFiles(), optional);
    for (const TestCert* bad : {&*expired, &*foreign}) {
      grpc::Status status =
          Call(ClientCredentials({bad->cert_path, bad->key_path, pki_->ca_path()}));
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
          << bad->cert_path << ": " << status.error_message();
    }
    EXPECT_EQ(service_.calls(), 0);
    server_.reset();
  }
}

// The mode for servers that also take bearer tokens: a caller without a certificate gets
// through the handshake (the authentication then needs its token).
// Optional client certificates (where bearer tokens are accepted) let the handshake
// through; the caller then has no identity, so the authentication refuses the call
// (UNAUTHENTICATED, not the UNAVAILABLE of a failed handshake) before any handler.
TEST_F(TlsTest, OptionalClientCertificateLetsACallerWithoutOneThroughTheHandshake) {
  StartServer(ServerFiles(), /*client_certificate_optional=*/true);
  TlsFiles ca_only;
  ca_only.ca = pki_->ca_path();
  grpc::Status status = Call(ClientCredentials(ca_only));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_EQ(service_.calls(), 0);
}

TEST_F(TlsTest, RotatedServerCertificateReachesNewConnectionsWhileCallsRun) {
  CertDir served(dir_.File("served"));
  ASSERT_TRUE(served.Install(server_cert_).ok());
  StartServer({served.cert_path(), served.key_path(), pki_->ca_path()});
  auto credentials =
      ClientCredentials({client_cert_.cert_path, client_cert_.key_path, pki_->ca_path()});
  std::string peer_pem;
  ASSERT_TRUE(Call(credentials, &peer_pem).ok());
  ASSERT_EQ(peer_pem, server_cert_.cert_pem);

  // Calls on one long-lived connection and on new connections, all through the rotation.
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> done{0};
  absl::Mutex mu;
  std::string first_failure;
  std::vector<std::thread> callers;
  auto long_lived = rv1::RegistryService::NewStub(FreshChannel(server_->address(), credentials));
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 100000 && !stop.load(); ++i) {
        grpc::Status status;
        if (t == 0) {
          rv1::GetCouncilRequest request;
          rv1::Council council;
          status = long_lived->GetCouncil(Context(10).get(), request, &council);
        } else {
          status = Call(credentials);
        }
        done.fetch_add(1);
        if (!status.ok() && failures.fetch_add(1) == 0) {
          absl::MutexLock lock(&mu);
          first_failure = status.error_message();
        }
      }
    });
  }

  auto rotated = pki_->IssueService("server-2", kServerUri);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  ASSERT_NE(rotated->serial_hex, server_cert_.serial_hex);
  ASSERT_TRUE(served.Install(*rotated).ok());
  // gRPC re-reads the files every second; new connections get the new certificate then.
  bool seen = false;
  for (int i = 0; i < 300 && !seen; ++i) {
    ASSERT_TRUE(Call(credentials, &peer_pem).ok());
    seen = peer_pem == rotated->cert_pem;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Some calls after the switch too.
  const int after = done.load() + 20;
  for (int i = 0; i < 1000 && done.load() < after; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  for (std::thread& t : callers) t.join();
  EXPECT_TRUE(seen) << "new connections still get the old certificate";
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_GT(done.load(), 20);
}

TEST(TlsFilesTest, ServerRefusesUnusableFilesNamingTheFlag) {
  TempDir dir("tls-files");
  auto pki = TestPki::Create(dir.path());
  ASSERT_TRUE(pki.ok());
  auto a = (*pki)->IssueService("a", "");
  auto b = (*pki)->IssueService("b", "");
  ASSERT_TRUE(a.ok() && b.ok());
  ServerOptions options;
  options.insecure_plaintext = false;
  options.tls = {a->cert_path, b->key_path, (*pki)->ca_path()};
  auto mismatched = GrpcServer::Start(options, {});
  EXPECT_THAT(mismatched.status().message(), HasSubstr("--tls_key"));
  options.tls = {a->cert_path, a->key_path, ""};
  EXPECT_THAT(GrpcServer::Start(options, {}).status().message(), HasSubstr("--tls_ca"));
  options.tls = {a->cert_path, a->key_path, dir.File("missing.crt")};
  EXPECT_THAT(GrpcServer::Start(options, {}).status().message(), HasSubstr("--tls_ca"));
}

TEST(PlaintextTest, AllowedOnlyWhenAskedForAndOnLoopback) {
  ServerOptions options;
  options.log_calls = false;
  options.listen_address = "127.0.0.1:0";
  options.insecure_plaintext = false;
  auto refused = GrpcServer::Start(options, {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("--tls_cert"));

  options.insecure_plaintext = true;
  options.listen_address = "0.0.0.0:0";
  auto wildcard = GrpcServer::Start(options, {});
  EXPECT_EQ(wildcard.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(wildcard.status().message(), HasSubstr("loopback"));

  options.listen_address = "127.0.0.1:0";
  auto loopback = GrpcServer::Start(options, {});
  ASSERT_TRUE(loopback.ok()) << loopback.status();
  EXPECT_FALSE((*loopback)->tls());
}

TEST(PlaintextTest, LoopbackAddresses) {
  for (const char* yes : {"127.0.0.1:50051", "127.3.2.1:1", "[::1]:50051", "localhost:1",
                          "LOCALHOST:0"}) {
    EXPECT_TRUE(IsLoopbackListenAddress(yes)) << yes;
  }
  for (const char* no : {"0.0.0.0:50051", "[::]:50051", ":50051", "10.0.0.1:1",
                         "128.0.0.1:1", "example.com:1", "[::1", "unix:/tmp/s",
                         "localhost.example.com:1"}) {
    EXPECT_FALSE(IsLoopbackListenAddress(no)) << no;
  }
}

// The real binaries: plaintext off loopback and a binary with no TLS files and no
// development flag refuse to start, saying why.
TEST(BinaryTransportTest, RegistryBinaryRefusesPlaintextOffLoopbackOrWithoutTheFlag) {
  TempDir dir("tls-binary");
  struct Case {
    std::vector<std::string> flags;
    const char* says;
  };
  for (const Case& c : {Case{{"--listen=0.0.0.0:0", "--insecure_plaintext"}, "loopback"},
                        Case{{"--insecure_plaintext=false"}, "--tls_cert"}}) {
    std::vector<std::string> flags = {"--db=" + dir.File("r.db")};
    flags.insert(flags.end(), c.flags.begin(), c.flags.end());
    testing::ServerProcess process(SANHAK_REGISTRY_BINARY, flags, dir.File("r.log"));
    ASSERT_TRUE(process.Start());
    EXPECT_EQ(process.WaitExit(std::chrono::seconds(30)), 1) << process.Log();
    EXPECT_THAT(process.Log(), HasSubstr(c.says));
    EXPECT_TRUE(process.address().empty());
  }
}

// Registry and events binaries on mutual TLS: a caller with a certificate reads the
// registry, and an activity created on events is checked against the registry over
// mutual TLS with events' own certificate.
TEST(BinaryTransportTest, ServicesRunOnMutualTls) {
  TempDir dir("tls-binaries");
  auto pki = TestPki::Create(dir.path());
  ASSERT_TRUE(pki.ok());
  auto registry_cert = (*pki)->IssueService("registry", "spiffe://sanhak.local/service/registry");
  auto events_cert = (*pki)->IssueService("events", "spiffe://sanhak.local/service/events");
  auto admin = (*pki)->IssueClientUri("admin", "spiffe://sanhak.local/user/admin");
  ASSERT_TRUE(registry_cert.ok() && events_cert.ok() && admin.ok());
  auto tls_flags = [&](const TestCert& cert) {
    return std::vector<std::string>{"--tls_cert=" + cert.cert_path, "--tls_key=" + cert.key_path,
                                    "--tls_ca=" + (*pki)->ca_path(),
                                    "--insecure_plaintext=false",
                                    "--authz_policy=" + testing::SourceDir() +
                                        "/config/authz-policy.json"};
  };
  auto client = ChannelCredentialsFromFiles({admin->cert_path, admin->key_path, (*pki)->ca_path()});
  ASSERT_TRUE(client.ok()) << client.status();

  std::vector<std::string> registry_flags = tls_flags(*registry_cert);
  registry_flags.push_back("--db=" + dir.File("registry.db"));
  registry_flags.push_back("--import=" + testing::SourceDir() + "/data/registry.textproto");
  testing::ServerProcess registry(SANHAK_REGISTRY_BINARY, registry_flags,
                                  dir.File("registry.log"));
  registry.set_channel_credentials(*client);
  ASSERT_TRUE(registry.Start());
  ASSERT_TRUE(registry.WaitServing()) << registry.Log();

  std::vector<std::string> events_flags = tls_flags(*events_cert);
  events_flags.push_back("--db=" + dir.File("events.db"));
  events_flags.push_back("--registry=" + registry.address());
  testing::ServerProcess events(SANHAK_EVENTS_BINARY, events_flags, dir.File("events.log"));
  events.set_channel_credentials(*client);
  ASSERT_TRUE(events.Start());
  ASSERT_TRUE(events.WaitServing()) << events.Log();

  auto registry_stub = rv1::RegistryService::NewStub(grpc::CreateChannel(registry.address(), *client));
  rv1::GetCouncilRequest get;
  get.set_name("councils/display");
  rv1::Council council;
  grpc::Status got = registry_stub->GetCouncil(Context(10).get(), get, &council);
  ASSERT_TRUE(got.ok()) << got.error_message();

  namespace ev1 = ::sanhak::events::v1;
  auto events_stub = ev1::EventsService::NewStub(grpc::CreateChannel(events.address(), *client));
  ev1::CreateActivityRequest create;
  create.mutable_activity()->set_kind(ev1::SEMINAR);
  create.mutable_activity()->set_title("TLS 세미나");
  create.mutable_activity()->add_councils("councils/display");
  ev1::Activity created;
  grpc::Status made = events_stub->CreateActivity(Context(10).get(), create, &created);
  ASSERT_TRUE(made.ok()) << made.error_message() << "\n" << events.Log();

  // Plaintext is refused by both.
  auto plain = rv1::RegistryService::NewStub(testing::Connect(registry.address()));
  EXPECT_EQ(plain->GetCouncil(Context(5).get(), get, &council).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace sanhak
