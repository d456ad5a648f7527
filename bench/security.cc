#include "bench/security.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/servers.h"
#include "grpcpp/grpcpp.h"
#include "sanhak/bench/v1/bench.grpc.pb.h"
#include "tests/support/jwt_test_keys.h"
#include "tests/support/test_certs.h"

namespace sanhak::bench {
namespace {

constexpr char kClientUri[] = "spiffe://sanhak.bench/user/bench";
constexpr char kServiceUriPrefix[] = "spiffe://sanhak.bench/service/";

// Permissive, as the brief of the measurement is the cost of the machinery, not of a long
// rule list: the bench client's certificate is admin, the servers' certificates (the
// services call each other) are service, and a token caller of role admin may call
// anything. Every call is still authenticated and evaluated against it.
std::string PolicyJson() {
  return absl::StrCat(R"({"name": "sanhak-bench", "allow_rules": [
  {"name": "admin", "source": {"principals": [")", kClientUri, R"("]},
   "request": {"paths": ["*"]}},
  {"name": "service", "source": {"principals": [")", kServiceUriPrefix, R"(*"]},
   "request": {"paths": ["*"]}},
  {"name": "token-admin", "request": {"paths": ["*"],
   "headers": [{"key": "sanhak-role", "values": ["admin"]}]}}
]}
)");
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

SecurityFiles Layout(const std::string& dir) {
  SecurityFiles f;
  f.dir = dir;
  f.ca = dir + "/ca.crt";
  f.client = {dir + "/bench-client.crt", dir + "/bench-client.key", f.ca};
  f.policy = dir + "/policy.json";
  f.jwt_keys = dir + "/jwks.json";
  f.description = absl::StrFormat(
      "mutual TLS (EC P-256 certificates of a private CA in %s), every call authenticated "
      "and checked against %s: client certificate %s = admin, servers' certificates %s* = "
      "service, token rule token-admin; bearer token ES256 (role admin, iss %s, aud %s), "
      "verified on every call against %s",
      dir, f.policy, kClientUri, kServiceUriPrefix, kBenchJwtIssuer, kBenchJwtAudience,
      f.jwt_keys);
  return f;
}

}  // namespace

TlsFiles SecurityFiles::ServerTls(const std::string& name) const {
  return {absl::StrCat(dir, "/", name, ".crt"), absl::StrCat(dir, "/", name, ".key"), ca};
}

absl::StatusOr<SecurityFiles> CreateSecurityFiles(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<sanhak::testing::TestPki>> pki =
      sanhak::testing::TestPki::Create(dir, "sanhak bench CA");
  if (!pki.ok()) return pki.status();
  for (const std::string& name : SecureServers()) {
    absl::StatusOr<sanhak::testing::TestCert> cert =
        (*pki)->IssueService(name, absl::StrCat(kServiceUriPrefix, name));
    if (!cert.ok()) return cert.status();
  }
  absl::StatusOr<sanhak::testing::TestCert> client =
      (*pki)->IssueClientUri("bench-client", kClientUri);
  if (!client.ok()) return client.status();

  SecurityFiles f = Layout(dir);
  if (absl::Status s = sanhak::testing::WriteFileAtomically(f.policy, PolicyJson()); !s.ok()) {
    return s;
  }
  const auth::testing::TestKey key = auth::testing::MakeEcKey("bench-es256");
  if (absl::Status s = sanhak::testing::WriteFileAtomically(f.jwt_keys,
                                                            auth::testing::KeySet({key}));
      !s.ok()) {
    return s;
  }
  auth::testing::Claims claims;
  claims.iss = kBenchJwtIssuer;
  claims.aud = kBenchJwtAudience;
  claims.sub = "bench";
  claims.role = "admin";
  claims.exp = absl::Now() + absl::Hours(24);
  f.token = auth::testing::SignToken(key, claims);
  if (absl::Status s = sanhak::testing::WriteFileAtomically(dir + "/token.jwt", f.token);
      !s.ok()) {
    return s;
  }
  return f;
}

absl::StatusOr<SecurityFiles> ReadSecurityFiles(const std::string& dir) {
  SecurityFiles f = Layout(dir);
  absl::StatusOr<std::string> token = ReadFile(dir + "/token.jwt");
  if (!token.ok()) {
    return absl::NotFoundError(absl::StrCat(
        "--security_dir ", dir, " holds no token.jwt: give a directory a --security=tls run "
        "made (--serve prints it)"));
  }
  f.token = std::string(absl::StripAsciiWhitespace(*token));
  return f;
}

void ServeSecurely(const SecurityFiles& files, const std::string& name, ServerOptions* options) {
  options->tls = files.ServerTls(name);
  options->insecure_plaintext = false;
  options->tls_client_certificate_optional = true;
  options->auth.policy_path = files.policy;
  options->auth.jwt_keys_path = files.jwt_keys;
  options->auth.jwt_issuer = kBenchJwtIssuer;
  options->auth.jwt_audience = kBenchJwtAudience;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> CertificateCredentials(
    const SecurityFiles& files) {
  return ChannelCredentialsFromFiles(files.client);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> TokenCredentials(
    const SecurityFiles& files) {
  TlsFiles ca_only;
  ca_only.ca = files.ca;
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> tls =
      ChannelCredentialsFromFiles(ca_only);
  if (!tls.ok()) return tls.status();
  return grpc::CompositeChannelCredentials(*tls, grpc::AccessTokenCredentials(files.token));
}

HandshakeResult MeasureHandshakes(const HandshakeKind& kind, int count, int salt,
                                  const std::function<double()>& server_cpu_seconds) {
  HandshakeResult result;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  channels.reserve(count);
  auto cpu_now = [&] {
    return ProcessCpuSeconds(getpid()) + (server_cpu_seconds ? server_cpu_seconds() : 0);
  };
  const double cpu_start = cpu_now();
  for (int i = 0; i < count; ++i) {
    const auto start = std::chrono::steady_clock::now();
    grpc::ChannelArguments args;
    // A connection of its own: no subchannel shared with any other channel.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("sanhak.bench.handshake", salt * 100000 + i);
    channels.push_back(grpc::CreateCustomChannel(kind.address, kind.credentials, args));
    std::unique_ptr<v1::EmptyService::Stub> stub = v1::EmptyService::NewStub(channels.back());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    context.set_wait_for_ready(true);
    v1::EmptyRequest request;
    request.set_name("councils/handshake");
    v1::EmptyResponse response;
    const grpc::Status status = stub->Empty(&context, request, &response);
    const auto end = std::chrono::steady_clock::now();
    ++result.connections;
    if (!status.ok()) {
      if (result.errors++ == 0) {
        result.first_error = absl::StrCat(status.error_code(), ": ", status.error_message());
      }
      continue;
    }
    result.latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(end - start).count());
    grpc::ClientContext second;
    second.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    const auto second_start = std::chrono::steady_clock::now();
    const grpc::Status second_status = stub->Empty(&second, request, &response);
    const auto second_end = std::chrono::steady_clock::now();
    if (!second_status.ok()) {
      if (result.errors++ == 0) {
        result.first_error = absl::StrCat(second_status.error_code(), ": ",
                                          second_status.error_message(), " (second call)");
      }
      continue;
    }
    result.second_call_ms.push_back(
        std::chrono::duration<double, std::milli>(second_end - second_start).count());
  }
  if (result.connections > 0) {
    result.cpu_us_per_connection = (cpu_now() - cpu_start) * 1e6 / result.connections;
  }
  return result;
}

}  // namespace sanhak::bench
