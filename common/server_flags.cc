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
  options.default_deadline = absl::Milliseconds(absl::GetFlag(FLAGS_default_deadline_ms));
  options.drain_deadline = absl::Milliseconds(absl::GetFlag(FLAGS_drain_ms));
  options.log_calls = absl::GetFlag(FLAGS_log_calls);
  options.metrics_listen_address = absl::GetFlag(FLAGS_metrics_listen);
  return options;
}

}  // namespace sanhak

ABSL_FLAG(std::string, listen, sanhak::EnvOr("SANHAK_LISTEN", "127.0.0.1:50051"),
          "host:port to serve gRPC on; port 0 picks a free one (env SANHAK_LISTEN)");
ABSL_FLAG(int, max_message_bytes, sanhak::EnvIntOr("SANHAK_MAX_MESSAGE_BYTES", 4 << 20),
          "largest request or response accepted (env SANHAK_MAX_MESSAGE_BYTES)");
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
