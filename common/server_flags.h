// Command-line flags every service binary shares. Each flag's default comes from an
// environment variable when set (SANHAK_LISTEN, ...), so containers configure by env and
// people by flags; a flag on the command line wins. Only main() reads them, once, into
// ServerOptions.
#ifndef SANHAK_COMMON_SERVER_FLAGS_H_
#define SANHAK_COMMON_SERVER_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "common/server.h"

ABSL_DECLARE_FLAG(std::string, listen);
ABSL_DECLARE_FLAG(int, max_message_bytes);
ABSL_DECLARE_FLAG(int, max_request_bytes);
ABSL_DECLARE_FLAG(int, default_deadline_ms);
ABSL_DECLARE_FLAG(int, drain_ms);
ABSL_DECLARE_FLAG(bool, log_calls);
ABSL_DECLARE_FLAG(std::string, metrics_listen);
ABSL_DECLARE_FLAG(int, max_concurrent_streams);
ABSL_DECLARE_FLAG(int, memory_quota_mb);
ABSL_DECLARE_FLAG(int, max_writes_in_flight);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(int, tls_refresh_s);
ABSL_DECLARE_FLAG(bool, insecure_plaintext);
ABSL_DECLARE_FLAG(std::string, authz_policy);
ABSL_DECLARE_FLAG(std::string, jwt_keys);
ABSL_DECLARE_FLAG(std::string, jwt_issuer);
ABSL_DECLARE_FLAG(std::string, jwt_audience);
ABSL_DECLARE_FLAG(double, writes_per_second_per_caller);
ABSL_DECLARE_FLAG(int, write_burst_per_caller);

namespace sanhak {

// The value of environment variable `name`, or `fallback` when unset or empty.
std::string EnvOr(const char* name, const std::string& fallback);

// The integer in environment variable `name`, or `fallback`.
int EnvIntOr(const char* name, int fallback);

// ServerOptions from the flags above.
ServerOptions ServerOptionsFromFlags();

}  // namespace sanhak

#endif  // SANHAK_COMMON_SERVER_FLAGS_H_
