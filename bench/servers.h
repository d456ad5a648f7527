// The servers the benchmark drives, started in one process: either the benchmark's own
// (in-process mode) or a child it started with --serve (separate-process mode), which
// prints their addresses for the load generator in the parent.
#ifndef SANHAK_BENCH_SERVERS_H_
#define SANHAK_BENCH_SERVERS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sanhak/bench/v1/bench.grpc.pb.h"

namespace sanhak::bench {

// The empty handler on gRPC's callback API (as every service serves): the scenario
// EmptyCallback here, and the separate-process baseline of sanhak_bench_scale.
class EmptyCallbackServiceImpl final : public v1::EmptyService::CallbackService {
  grpc::ServerUnaryReactor* Empty(grpc::CallbackServerContext* context, const v1::EmptyRequest*,
                                  v1::EmptyResponse*) override;
};

// host:port of each server; empty when it does not run (--load may name a subset).
struct ServerAddresses {
  std::string baseline;   // EmptyService on the suite's runtime (sync API)
  std::string callback;   // EmptyService on the suite's runtime (callback API)
  // EmptyService (sync API, as `baseline`) on mutual TLS with authentication and the
  // policy; only with --security=tls.
  std::string tls;
  std::string echo;       // the bare echo server, nothing of the suite's in it
  std::string registry;
  std::string events;
  std::string analytics;
};

// "baseline=H:P,callback=H:P,...": what --serve prints after "SERVING " and --load takes.
std::string FormatAddresses(const ServerAddresses& addresses);
// Parses FormatAddresses' format (',' or ' ' between entries); unknown keys are an error.
absl::StatusOr<ServerAddresses> ParseAddresses(absl::string_view text);

struct ServerSetup {
  // RegistryData imported into the registry's fresh SQLite file.
  std::string data;
  // An existing Redis (host:port), or empty to start `redis_server` privately.
  std::string redis;
  std::string redis_server = "/usr/bin/redis-server";
  // ServerOptions of every suite server (the bare echo server takes gRPC's defaults).
  int max_writes_in_flight = 256;
  int max_concurrent_streams = 64;
  bool log_calls = false;
  bool metrics = false;
  // --security=tls: the files CreateSecurityFiles made there (bench/security.h). Then the
  // registry, events and analytics serve mutual TLS with authentication and the policy,
  // and a second empty baseline does (`tls`); the plaintext baselines stay plaintext.
  // Empty: everything plaintext.
  std::string security_dir;
  // The registry's and events' engine: "sqlite" (a fresh file each) or "postgresql" (a
  // private PostgreSQL server, tests/support/postgres_server.h, a fresh database each).
  std::string db = "sqlite";
  // Registry and events servers each (> 1 only with "postgresql"): replicas on one
  // database per service, sharing one page token key file per service. The address of a
  // replicated server is its replicas' addresses joined by '+' (see ReplicaAddresses).
  int replicas = 1;
};

// The replicas' host:port of a server address ("H:P" or "H:P+H:P+...").
std::vector<std::string> ReplicaAddresses(absl::string_view address);

class BenchServers {
 public:
  // Starts Redis (unless setup.redis), the two empty baselines, the bare echo server,
  // registry, events (registry at the in-process registry) and one analytics replica; with
  // setup.security_dir also the empty baseline on TLS.
  static absl::StatusOr<std::unique_ptr<BenchServers>> Start(const ServerSetup& setup);
  ~BenchServers();

  const ServerAddresses& addresses() const { return addresses_; }
  // What runs where, for the report's header: one line each, no newline.
  const std::vector<std::string>& description() const { return description_; }
  // Stops every server (analytics first, Redis last). Safe to call more than once.
  void Shutdown();

 private:
  BenchServers() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ServerAddresses addresses_;
  std::vector<std::string> description_;
};

// CPU seconds (user + system, every thread) process `pid` has used; 0 when unreadable.
double ProcessCpuSeconds(int pid);

// CPU seconds the PostgreSQL processes below process `root` (its descendants named
// "postgres": the postmaster, its backends and helpers) have used, reaped backends
// included; 0 when there are none. The database's share of a call's CPU with --db=postgresql.
double PostgresCpuSeconds(int root);

// Parses a CPU list ("1", "0-1", "0,2-3") and binds the calling thread, and every thread
// it starts later, to those CPUs. Empty: no change.
absl::Status PinToCpus(absl::string_view cpus);

}  // namespace sanhak::bench

#endif  // SANHAK_BENCH_SERVERS_H_
