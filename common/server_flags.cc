#include "common/server_flags.h"

#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"

namespace sanhak {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

int EnvIntOr(const char* name, int fallback) {
  int value = fallback;
  return absl::SimpleAtoi(EnvOr(name, ""), &value) ? value : fallback;
}

ServerOptions ServerOptionsFromFlags() {
  ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.max_request_bytes = absl::GetFlag(FLAGS_max_request_bytes);
  options.default_deadline = absl::Milliseconds(absl::GetFlag(FLAGS_default_deadline_ms));
  options.drain_deadline = absl::Milliseconds(absl::GetFlag(FLAGS_drain_ms));
  options.log_calls = absl::GetFlag(FLAGS_log_calls);
  options.metrics_listen_address = absl::GetFlag(FLAGS_metrics_listen);
  options.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  options.memory_quota_bytes = int64_t{absl::GetFlag(FLAGS_memory_quota_mb)} << 20;
  options.max_writes_in_flight = absl::GetFlag(FLAGS_max_writes_in_flight);
  options.tls.cert = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key = absl::GetFlag(FLAGS_tls_key);
  options.tls.ca = absl::GetFlag(FLAGS_tls_ca);
  options.tls_refresh_interval = absl::Seconds(absl::GetFlag(FLAGS_tls_refresh_s));
  // The binaries' default is false, unlike ServerOptions' (see there).
  options.insecure_plaintext = absl::GetFlag(FLAGS_insecure_plaintext);
  options.auth.policy_path = absl::GetFlag(FLAGS_authz_policy);
  options.auth.jwt_keys_path = absl::GetFlag(FLAGS_jwt_keys);
  options.auth.jwt_issuer = absl::GetFlag(FLAGS_jwt_issuer);
  options.auth.jwt_audience = absl::GetFlag(FLAGS_jwt_audience);
  // Callers without a certificate can only be token holders, so the handshake asks for
  // one only where tokens are accepted.
  options.tls_client_certificate_optional = !options.auth.jwt_keys_path.empty();
  options.writes_per_second_per_caller = absl::GetFlag(FLAGS_writes_per_second_per_caller);
  options.write_burst_per_caller = absl::GetFlag(FLAGS_write_burst_per_caller);
  return options;
}

}  // namespace sanhak

ABSL_FLAG(std::string, listen, sanhak::EnvOr("SANHAK_LISTEN", "127.0.0.1:50051"),
          "host:port to serve gRPC on; port 0 picks a free one (env SANHAK_LISTEN)");
ABSL_FLAG(int, max_message_bytes, sanhak::EnvIntOr("SANHAK_MAX_MESSAGE_BYTES", 4 << 20),
          "largest response sent (env SANHAK_MAX_MESSAGE_BYTES)");
ABSL_FLAG(int, max_request_bytes, sanhak::EnvIntOr("SANHAK_MAX_REQUEST_BYTES", 1 << 20),
          "largest request accepted (env SANHAK_MAX_REQUEST_BYTES)");
ABSL_FLAG(int, default_deadline_ms, sanhak::EnvIntOr("SANHAK_DEFAULT_DEADLINE_MS", 30000),
          "deadline for work caused by a call that carries none (env "
          "SANHAK_DEFAULT_DEADLINE_MS)");
ABSL_FLAG(int, drain_ms, sanhak::EnvIntOr("SANHAK_DRAIN_MS", 10000),
          "on SIGTERM, how long in-flight calls may finish (env SANHAK_DRAIN_MS)");
ABSL_FLAG(bool, log_calls, sanhak::EnvOr("SANHAK_LOG_CALLS", "true") == "true",
          "log one JSON line per call (env SANHAK_LOG_CALLS)");
ABSL_FLAG(std::string, metrics_listen, sanhak::EnvOr("SANHAK_METRICS_LISTEN", ""),
          "host:port to serve Prometheus metrics on (GET /metrics); empty serves none "
          "(env SANHAK_METRICS_LISTEN)");
ABSL_FLAG(int, max_concurrent_streams, sanhak::EnvIntOr("SANHAK_MAX_CONCURRENT_STREAMS", 64),
          "calls open at once on one connection (env SANHAK_MAX_CONCURRENT_STREAMS)");
ABSL_FLAG(int, memory_quota_mb, sanhak::EnvIntOr("SANHAK_MEMORY_QUOTA_MB", 64),
          "memory gRPC may use for all connections' buffers, in MiB; keep well inside the "
          "container's limit (env SANHAK_MEMORY_QUOTA_MB)");
ABSL_FLAG(int, max_writes_in_flight, sanhak::EnvIntOr("SANHAK_MAX_WRITES_IN_FLIGHT", 1024),
          "writes admitted at once; beyond it RESOURCE_EXHAUSTED with RetryInfo (env "
          "SANHAK_MAX_WRITES_IN_FLIGHT)");
ABSL_FLAG(std::string, tls_cert, sanhak::EnvOr("SANHAK_TLS_CERT", ""),
          "PEM certificate (chain) of this service: served on --listen and presented as "
          "the client certificate when it calls another service (env SANHAK_TLS_CERT)");
ABSL_FLAG(std::string, tls_key, sanhak::EnvOr("SANHAK_TLS_KEY", ""),
          "PEM private key of --tls_cert (env SANHAK_TLS_KEY)");
ABSL_FLAG(std::string, tls_ca, sanhak::EnvOr("SANHAK_TLS_CA", ""),
          "PEM CA bundle that verifies the peers' certificates, callers' and called "
          "services' (env SANHAK_TLS_CA)");
ABSL_FLAG(int, tls_refresh_s, sanhak::EnvIntOr("SANHAK_TLS_REFRESH_S", 60),
          "seconds between re-reads of the TLS files: a rotated certificate reaches new "
          "connections within it (env SANHAK_TLS_REFRESH_S)");
ABSL_FLAG(bool, insecure_plaintext, sanhak::EnvOr("SANHAK_INSECURE_PLAINTEXT", "false") == "true",
          "development only: serve and call plaintext when no TLS files are given; refused "
          "unless --listen is a loopback address (env SANHAK_INSECURE_PLAINTEXT)");
namespace {

double EnvDoubleOr(const char* name, double fallback) {
  double value;
  return absl::SimpleAtod(sanhak::EnvOr(name, ""), &value) ? value : fallback;
}

}  // namespace

ABSL_FLAG(std::string, authz_policy, sanhak::EnvOr("SANHAK_AUTHZ_POLICY", ""),
          "the authorization policy (gRPC's authorization policy JSON: which principals "
          "and token roles may call which methods), re-read when it changes; required "
          "with TLS (env SANHAK_AUTHZ_POLICY)");
ABSL_FLAG(std::string, jwt_keys, sanhak::EnvOr("SANHAK_JWT_KEYS", ""),
          "JWKS file of the keys that sign bearer tokens (ES256, RS256), re-read when it "
          "changes; empty: no tokens, every caller needs a certificate (env SANHAK_JWT_KEYS)");
ABSL_FLAG(std::string, jwt_issuer, sanhak::EnvOr("SANHAK_JWT_ISSUER", ""),
          "the `iss` every token must carry (env SANHAK_JWT_ISSUER)");
ABSL_FLAG(std::string, jwt_audience, sanhak::EnvOr("SANHAK_JWT_AUDIENCE", ""),
          "the `aud` every token must name (env SANHAK_JWT_AUDIENCE)");
ABSL_FLAG(double, writes_per_second_per_caller,
          EnvDoubleOr("SANHAK_WRITES_PER_SECOND_PER_CALLER", 200),
          "writes one caller may make per second on average; beyond it RESOURCE_EXHAUSTED "
          "with RetryInfo (0 = no limit; env SANHAK_WRITES_PER_SECOND_PER_CALLER)");
ABSL_FLAG(int, write_burst_per_caller, sanhak::EnvIntOr("SANHAK_WRITE_BURST_PER_CALLER", 1000),
          "writes one caller may make at once above its rate (env "
          "SANHAK_WRITE_BURST_PER_CALLER)");
