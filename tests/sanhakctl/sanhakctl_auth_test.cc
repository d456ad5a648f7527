// sanhakctl against a registry that serves mutual TLS and accepts bearer tokens, as a
// person uses it (issue #11): a client certificate by flags and through a named context,
// a token file, `whoami` showing what the server sees, and the refusals a person gets
// without credentials or beyond their role. The real binary, a real registry in process
// (its policy the shipped config/authz-policy.json), certificates and tokens made here.
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/registry/registry_server.h"
#include "tests/support/child_process.h"
#include "tests/support/jwt_test_keys.h"
#include "tests/support/test_certs.h"
#include "tests/support/test_support.h"

namespace sanhak::ctl {
namespace {

using ::sanhak::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kIssuer[] = "https://login.sanhak.test";
constexpr char kAudience[] = "sanhak";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Result {
  int code;
  std::string out;
  std::string err;
};

class SanhakctlAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    auto pki = sanhak::testing::TestPki::Create(dir_.path());
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    auto server = pki_->IssueService("registry", "spiffe://sanhak.local/service/registry");
    auto admin = pki_->IssueClientUri("admin", "spiffe://sanhak.local/user/admin");
    ASSERT_TRUE(server.ok() && admin.ok());
    admin_ = *admin;

    key_ = auth::testing::MakeEcKey("key-1");
    std::ofstream(dir_.File("jwks.json")) << auth::testing::KeySet({key_});

    registry::RegistryConfig rc;
    rc.server.listen_address = "127.0.0.1:0";
    rc.server.log_calls = false;
    rc.server.drain_deadline = absl::Seconds(2);
    rc.server.insecure_plaintext = false;
    rc.server.tls = {server->cert_path, server->key_path, pki_->ca_path()};
    rc.server.tls_client_certificate_optional = true;
    rc.server.auth.policy_path = sanhak::testing::SourceDir() + "/config/authz-policy.json";
    rc.server.auth.jwt_keys_path = dir_.File("jwks.json");
    rc.server.auth.jwt_issuer = kIssuer;
    rc.server.auth.jwt_audience = kAudience;
    rc.database_path = dir_.File("registry.db");
    rc.import_path = sanhak::testing::SourceDir() + "/data/registry.textproto";
    auto registry = registry::RegistryServer::Start(rc);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
  }

  void TearDown() override {
    if (registry_ != nullptr) registry_->Shutdown();
  }

  // A token file for `role`, signed by the key the registry trusts.
  std::string TokenFile(const std::string& name, const std::string& role) {
    auth::testing::Claims claims;
    claims.iss = kIssuer;
    claims.aud = kAudience;
    claims.sub = name;
    claims.role = role;
    const std::string path = dir_.File(name + ".jwt");
    std::ofstream(path) << auth::testing::SignToken(key_, claims) << "\n";
    return path;
  }

  // Runs sanhakctl with `args`, its config file in the test's folder.
  Result Run(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "SANHAKCTL_CONFIG=" + dir_.File("ctl/config.json"),
                                     "SANHAK_CA=", "SANHAK_CERT=", "SANHAK_KEY=",
                                     "SANHAK_TOKEN_FILE=", SANHAKCTL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    sanhak::testing::ChildStreams streams;
    streams.stdin_path = "/dev/null";
    streams.stdout_path = dir_.File("out");
    streams.stderr_path = dir_.File("err");
    streams.truncate = true;
    sanhak::testing::ChildProcess child;
    absl::Status started = child.Start(argv, streams);
    EXPECT_TRUE(started.ok()) << started;
    const int code = child.WaitExit(absl::Seconds(60));
    return {code, ReadAll(dir_.File("out")), ReadAll(dir_.File("err"))};
  }

  std::string Target() const { return "--registry_target=" + registry_->address(); }
  std::vector<std::string> AdminFlags() const {
    return {"--ca=" + pki_->ca_path(), "--cert=" + admin_.cert_path, "--key=" + admin_.key_path};
  }

  TempDir dir_{"sanhakctl-auth"};
  std::unique_ptr<sanhak::testing::TestPki> pki_;
  sanhak::testing::TestCert admin_;
  auth::testing::TestKey key_;
  std::unique_ptr<registry::RegistryServer> registry_;
};

TEST_F(SanhakctlAuthTest, ACertificateByFlagsIsWhoTheServerSees) {
  std::vector<std::string> args = AdminFlags();
  args.insert(args.end(), {Target(), "--output=json", "whoami"});
  Result r = Run(args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"principal\":\"spiffe://sanhak.local/user/admin\""));
  EXPECT_THAT(r.out, HasSubstr("\"role\":\"admin\""));
  EXPECT_THAT(r.out, HasSubstr("\"authenticatedBy\":\"certificate\""));

  args = AdminFlags();
  args.insert(args.end(), {Target(), "get", "council", "special-purpose-ships"});
  r = Run(args);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("special-purpose-ships"));
}

TEST_F(SanhakctlAuthTest, WithoutCredentialsNothingIsServed) {
  // Plaintext against the TLS port: the handshake fails; sanhakctl never falls back.
  Result r = Run({Target(), "get", "council", "special-purpose-ships"});
  EXPECT_EQ(r.code, 5) << r.out << r.err;  // UNAVAILABLE
  // TLS without a certificate or a token: no identity, refused before any handler.
  r = Run({Target(), "--ca=" + pki_->ca_path(), "get", "council", "special-purpose-ships"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("special-purpose-ships")));
}

TEST_F(SanhakctlAuthTest, ANamedContextCarriesTheCredentialsAndSwitchesInOneWord) {
  std::vector<std::string> set = {"config", "set-context", "local", Target()};
  const std::vector<std::string> admin = AdminFlags();
  set.insert(set.end(), admin.begin(), admin.end());
  ASSERT_EQ(Run(set).code, 0);
  ASSERT_EQ(Run({"config", "set-context", "reader", Target(), "--ca=" + pki_->ca_path(),
                 "--token_file=" + TokenFile("kim", "reader")})
                .code,
            0);

  // No flags at all: the current context (the first one set) is used.
  Result r = Run({"whoami"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("spiffe://sanhak.local/user/admin"));

  r = Run({"--context=reader", "whoami"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("jwt:", kIssuer, "#kim")));
  EXPECT_THAT(r.out, HasSubstr("reader"));
  EXPECT_THAT(r.out, HasSubstr("token"));

  ASSERT_EQ(Run({"config", "use-context", "reader"}).code, 0);
  r = Run({"whoami", "--output=json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"role\":\"reader\""));
  // A reader may read...
  r = Run({"get", "council", "special-purpose-ships"});
  EXPECT_EQ(r.code, 0) << r.err;
  // ...but not delete: refused naming what is missing, and the council is still there.
  r = Run({"delete", "council", "special-purpose-ships"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("PERMISSION_DENIED"));
  EXPECT_EQ(Run({"--context=local", "get", "council", "special-purpose-ships"}).code, 0);
}

TEST_F(SanhakctlAuthTest, ATokenByFlagReplacesTheContextsCertificate) {
  std::vector<std::string> set = {"config", "set-context", "local", Target()};
  const std::vector<std::string> admin = AdminFlags();
  set.insert(set.end(), admin.begin(), admin.end());
  ASSERT_EQ(Run(set).code, 0);
  Result r = Run({"--token_file=" + TokenFile("lee", "editor"), "whoami"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("jwt:", kIssuer, "#lee")));
  EXPECT_THAT(r.out, HasSubstr("editor"));

  // A token that is not one: refused as unauthenticated, nothing read.
  std::ofstream(dir_.File("forged.jwt")) << "eyJhbGciOiJub25lIn0.e30.\n";
  r = Run({"--token_file=" + dir_.File("forged.jwt"), "get", "council", "special-purpose-ships"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("UNAUTHENTICATED"));
  // A context that does not exist is a usage error.
  EXPECT_EQ(Run({Target(), "--context=none-such", "whoami"}).code, 2);
  // A token over plaintext is refused by sanhakctl itself, before anything is sent.
  ASSERT_EQ(Run({"config", "delete-context", "local"}).code, 0);
  r = Run({Target(), "--token_file=" + TokenFile("lee", "editor"), "whoami"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("only over TLS"));
}

}  // namespace
}  // namespace sanhak::ctl
