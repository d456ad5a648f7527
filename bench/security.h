// --security=tls: what the benchmark needs to serve and call the suite on mutual TLS with
// authentication and the policy, as production does: a certificate authority, the servers'
// and the bench client's certificates, a permissive authorization policy, an ES256 key set
// and a bearer token signed with it, all made at start in a directory of the benchmark's own;
// and the handshake measurement (a new connection and its first call).
#ifndef SANHAK_BENCH_SECURITY_H_
#define SANHAK_BENCH_SECURITY_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/server.h"
#include "common/tls.h"
#include "grpcpp/security/credentials.h"

namespace sanhak::bench {

// The files CreateSecurityFiles writes, by fixed names in `dir` (so that a --serve child
// given the directory finds them): ca.crt; bench-client.{crt,key} (URI SAN
// spiffe://sanhak.bench/user/bench, granted "admin"); {server}.{crt,key} for every server
// (URI SAN spiffe://sanhak.bench/service/{server}, granted "service"; DNS localhost and IP
// 127.0.0.1); policy.json; jwks.json (one EC P-256 key); token.jwt (ES256, role admin,
// valid a day).
struct SecurityFiles {
  std::string dir;
  std::string ca;
  TlsFiles client;         // ca + the bench client's certificate and key
  std::string policy;      // the authorization policy
  std::string jwt_keys;    // the key set the servers verify tokens with
  std::string token;       // the bearer token itself (not the file)
  // The policy's and the token's summary, for the report's header.
  std::string description;

  // The certificate and key of server `name` (one of SecureServers()), with the ca.
  TlsFiles ServerTls(const std::string& name) const;
};

// The servers that get a certificate of their own.
inline const std::vector<std::string>& SecureServers() {
  static const auto* names =
      new std::vector<std::string>{"empty-tls", "registry", "events", "analytics"};
  return *names;
}

inline constexpr char kBenchJwtIssuer[] = "https://issuer.sanhak.bench";
inline constexpr char kBenchJwtAudience[] = "sanhak";

// Makes the authority, the certificates, the policy, the key set and the token in `dir`
// (which must exist).
absl::StatusOr<SecurityFiles> CreateSecurityFiles(const std::string& dir);
// The files a CreateSecurityFiles call left in `dir` (the --serve child, --load).
absl::StatusOr<SecurityFiles> ReadSecurityFiles(const std::string& dir);

// Sets `options` to serve mutual TLS with server `name`'s certificate, accept bearer
// tokens too (a client certificate is then requested, verified when sent, and not
// required), authenticate every call and check it against the policy: what a service
// binary does with --tls_cert/--tls_key/--tls_ca, --authz_policy and --jwt_keys.
void ServeSecurely(const SecurityFiles& files, const std::string& name, ServerOptions* options);

// The bench client's credentials: mutual TLS with its certificate (admin)...
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> CertificateCredentials(
    const SecurityFiles& files);
// ...or TLS without a certificate, the token on every call (as sanhakctl sends one).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> TokenCredentials(
    const SecurityFiles& files);

// One way of connecting, for the handshake measurement.
struct HandshakeKind {
  std::string name;  // "plaintext", "tls+cert", "tls+token"
  std::string address;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

struct HandshakeResult {
  int connections = 0;
  int errors = 0;
  std::string first_error;
  // Latency of (new channel, connect, handshake, first EmptyService/Empty call), ms.
  std::vector<double> latencies_ms;
  // Latency of a second Empty call on the same, now open, connection, ms: what the first
  // call would have cost without the connection.
  std::vector<double> second_call_ms;
  // CPU (user + system) per connection: this process plus `server_cpu_seconds`.
  double cpu_us_per_connection = 0;
};

// Opens `count` channels one after the other, each on a connection of its own (a local
// subchannel pool and distinct args), and makes one EmptyService/Empty call on each,
// waiting for it; measures each from creating the channel to the call's end, then a second
// call on it. The channels stay open until all are measured (closing them is not measured;
// the second calls are in the CPU figure).
HandshakeResult MeasureHandshakes(const HandshakeKind& kind, int count, int salt,
                                  const std::function<double()>& server_cpu_seconds);

}  // namespace sanhak::bench

#endif  // SANHAK_BENCH_SECURITY_H_
