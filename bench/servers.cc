#include "bench/servers.h"

#include <sched.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/bare_echo_server.h"
#include "bench/security.h"
#include "common/server.h"
#include "common/store_factory.h"
#include "sanhak/bench/v1/bench.grpc.pb.h"
#include "services/analytics/analytics_server.h"
#include "services/events/events_server.h"
#include "services/registry/registry_server.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_process.h"
#include "tests/support/temp_dir.h"

namespace sanhak::bench {
namespace {

constexpr char kBaselineServiceName[] = "sanhak.bench.v1.EmptyService";

class EmptyServiceImpl final : public v1::EmptyService::Service {
  grpc::Status Empty(grpc::ServerContext*, const v1::EmptyRequest*,
                     v1::EmptyResponse*) override {
    return grpc::Status::OK;
  }
};

// The name of the file system a path is on, as far as it matters for fsync.
std::string FileSystemType(const std::string& path) {
  struct statfs fs {};
  if (statfs(path.c_str(), &fs) != 0) return "unknown file system";
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs: fsync costs nothing here";
    case 0x794C7630: return "overlayfs";
    default: return absl::StrFormat("file system 0x%x", static_cast<unsigned long>(fs.f_type));
  }
}

}  // namespace

grpc::ServerUnaryReactor* EmptyCallbackServiceImpl::Empty(grpc::CallbackServerContext* context,
                                                          const v1::EmptyRequest*,
                                                          v1::EmptyResponse*) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

std::vector<std::string> ReplicaAddresses(absl::string_view address) {
  return absl::StrSplit(address, '+', absl::SkipEmpty());
}

std::string FormatAddresses(const ServerAddresses& a) {
  std::vector<std::string> parts;
  auto add = [&](const char* key, const std::string& value) {
    if (!value.empty()) parts.push_back(absl::StrCat(key, "=", value));
  };
  add("baseline", a.baseline);
  add("callback", a.callback);
  add("tls", a.tls);
  add("echo", a.echo);
  add("registry", a.registry);
  add("events", a.events);
  add("analytics", a.analytics);
  return absl::StrJoin(parts, ",");
}

absl::StatusOr<ServerAddresses> ParseAddresses(absl::string_view text) {
  ServerAddresses a;
  for (absl::string_view part : absl::StrSplit(text, absl::ByAnyChar(", "), absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    std::string* slot = kv.first == "baseline"    ? &a.baseline
                        : kv.first == "callback"  ? &a.callback
                        : kv.first == "tls"       ? &a.tls
                        : kv.first == "echo"      ? &a.echo
                        : kv.first == "registry"  ? &a.registry
                        : kv.first == "events"    ? &a.events
                        : kv.first == "analytics" ? &a.analytics
                                                  : nullptr;
    if (slot == nullptr || kv.second.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "server address '", part,
          "' is not NAME=HOST:PORT with NAME one of baseline, callback, tls, echo, registry, "
          "events, analytics"));
    }
    *slot = kv.second;
  }
  return a;
}

struct BenchServers::Impl {
  // Declared first, destroyed last: the servers' files and Redis outlive the servers.
  std::unique_ptr<sanhak::testing::TempDir> dir;
  std::unique_ptr<sanhak::testing::RedisProcess> redis;
  // --db=postgresql: the private server both services' databases are on.
  std::unique_ptr<sanhak::testing::PostgresServer> postgres;
  EmptyServiceImpl empty_service;
  // The same handler for the TLS baseline (a service instance is registered on one server).
  EmptyServiceImpl empty_tls_service;
  EmptyCallbackServiceImpl empty_callback_service;
  std::unique_ptr<GrpcServer> baseline;
  std::unique_ptr<GrpcServer> callback;
  std::unique_ptr<GrpcServer> tls;
  std::unique_ptr<BareEchoServer> echo;
  // The replicas (one unless --replicas); [0] imported the data.
  std::vector<std::unique_ptr<registry::RegistryServer>> registry;
  std::vector<std::unique_ptr<events::EventsServer>> events;
  std::unique_ptr<analytics::AnalyticsServer> analytics;
};

absl::StatusOr<std::unique_ptr<BenchServers>> BenchServers::Start(const ServerSetup& setup) {
  std::unique_ptr<BenchServers> self(new BenchServers);
  self->impl_ = std::make_unique<Impl>();
  Impl& s = *self->impl_;
  std::vector<std::string>& d = self->description_;

  // The databases and the private Redis's log, removed at exit.
  s.dir = std::make_unique<sanhak::testing::TempDir>("sanhak-bench");
  if (s.dir->path().empty()) return absl::InternalError("cannot create a temporary directory");

  // Redis for the change feed: registry and events relay their outbox to it, analytics
  // consumes it.
  std::string redis_address = setup.redis;
  std::string redis_note;
  if (redis_address.empty()) {
    sanhak::testing::RedisOptions redis_options;
    redis_options.binary = setup.redis_server;
    redis_options.dir = s.dir->path();
    s.redis = std::make_unique<sanhak::testing::RedisProcess>(redis_options);
    if (absl::Status st = s.redis->Start(); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat("redis-server: ", st.message()));
    }
    redis_address = s.redis->address();
    redis_note = absl::StrCat("private ", setup.redis_server, " at ", redis_address,
                              " (--save \"\" --appendonly no, killed at exit)");
  } else {
    redis_note = absl::StrCat("existing Redis at ", redis_address, " (--redis)");
  }

  // The same runtime and options for every suite server; only the hosted service differs.
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.log_calls = setup.log_calls;
  options.metrics_listen_address = setup.metrics ? "127.0.0.1:0" : "";
  options.drain_deadline = absl::Seconds(2);
  options.max_writes_in_flight = setup.max_writes_in_flight;
  options.max_concurrent_streams = setup.max_concurrent_streams;

  auto baseline = GrpcServer::Start(
      options, {{&s.empty_service, kBaselineServiceName, [] { return absl::OkStatus(); }}});
  if (!baseline.ok()) return absl::Status(baseline.status().code(), absl::StrCat(
      "baseline server: ", baseline.status().message()));
  s.baseline = *std::move(baseline);
  auto callback = GrpcServer::Start(
      options,
      {{&s.empty_callback_service, kBaselineServiceName, [] { return absl::OkStatus(); }}});
  if (!callback.ok()) return absl::Status(callback.status().code(), absl::StrCat(
      "callback baseline server: ", callback.status().message()));
  s.callback = *std::move(callback);
  auto echo = BareEchoServer::Start();
  if (!echo.ok()) return echo.status();
  s.echo = *std::move(echo);

  // --security=tls: each server on mutual TLS with its own certificate, authentication
  // and the policy; otherwise each on `options` as it is.
  std::optional<SecurityFiles> security;
  if (!setup.security_dir.empty()) {
    absl::StatusOr<SecurityFiles> files = ReadSecurityFiles(setup.security_dir);
    if (!files.ok()) return files.status();
    security = *std::move(files);
  }
  auto options_for = [&](const std::string& name) {
    ServerOptions o = options;
    if (security.has_value()) ServeSecurely(*security, name, &o);
    return o;
  };
  if (security.has_value()) {
    auto tls = GrpcServer::Start(
        options_for("empty-tls"),
        {{&s.empty_tls_service, kBaselineServiceName, [] { return absl::OkStatus(); }}});
    if (!tls.ok()) return absl::Status(tls.status().code(), absl::StrCat(
        "TLS baseline server: ", tls.status().message()));
    s.tls = *std::move(tls);
  }

  // The databases: a fresh SQLite file per service, or a fresh PostgreSQL database per
  // service on a private server (every replica of a service on the same one).
  if (setup.db != "sqlite" && setup.db != "postgresql") {
    return absl::InvalidArgumentError(
        absl::StrCat("--db=", setup.db, ": sqlite or postgresql"));
  }
  if (setup.replicas < 1 || (setup.replicas > 1 && setup.db != "postgresql")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--replicas=", setup.replicas, ": at least 1, and more only with --db=postgresql "
        "(replicas share one database)"));
  }
  std::string registry_db = s.dir->File("registry.db");
  std::string events_db = s.dir->File("events.db");
  std::string engine_note = "fresh SQLite";
  if (setup.db == "postgresql") {
    s.postgres = std::make_unique<sanhak::testing::PostgresServer>();
    if (!s.postgres->Start()) {
      return absl::UnavailableError(absl::StrCat("PostgreSQL: ", s.postgres->Log()));
    }
    absl::StatusOr<std::string> r = s.postgres->CreateDatabase("registry");
    if (!r.ok()) return r.status();
    absl::StatusOr<std::string> e = s.postgres->CreateDatabase("events");
    if (!e.ok()) return e.status();
    registry_db = *r;
    events_db = *e;
    engine_note = absl::StrFormat(
        "PostgreSQL 15 (private server on 127.0.0.1:%d, fsync off), %d replica(s) on", 
        s.postgres->port(), setup.replicas);
  }

  std::vector<std::string> registry_addresses, events_addresses;
  registry::RegistryConfig registry_config;
  for (int i = 0; i < setup.replicas; ++i) {
    registry_config.server = options_for("registry");
    registry_config.database_path = registry_db;
    // The first replica imports; the others start on the data it wrote.
    registry_config.import_path = i == 0 ? setup.data : "";
    registry_config.redis_address = redis_address;
    registry_config.page_token_key_path = s.dir->File("registry.token-key");
    auto registry = registry::RegistryServer::Start(registry_config);
    if (!registry.ok()) return absl::Status(registry.status().code(), absl::StrCat(
        "registry: ", registry.status().message()));
    registry_addresses.push_back((*registry)->address());
    s.registry.push_back(*std::move(registry));
  }
  absl::StatusOr<std::string> holds = s.registry[0]->Describe();

  events::EventsConfig events_config;
  for (int i = 0; i < setup.replicas; ++i) {
    events_config.server = options_for("events");
    events_config.database_path = events_db;
    events_config.registry_address = registry_addresses[i];
    events_config.redis_address = redis_address;
    events_config.page_token_key_path = s.dir->File("events.token-key");
    auto events = events::EventsServer::Start(events_config);
    if (!events.ok()) return absl::Status(events.status().code(), absl::StrCat(
        "events: ", events.status().message()));
    events_addresses.push_back((*events)->address());
    s.events.push_back(*std::move(events));
  }

  analytics::AnalyticsConfig analytics_config;
  analytics_config.server = options_for("analytics");
  analytics_config.registry_address = registry_addresses[0];
  analytics_config.events_address = events_addresses[0];
  analytics_config.engine.redis_address = redis_address;
  auto analytics = analytics::AnalyticsServer::Start(analytics_config);
  if (!analytics.ok()) return absl::Status(analytics.status().code(), absl::StrCat(
      "analytics: ", analytics.status().message()));
  s.analytics = *std::move(analytics);

  ServerAddresses& a = self->addresses_;
  a.baseline = s.baseline->address();
  a.callback = s.callback->address();
  if (s.tls) a.tls = s.tls->address();
  a.echo = s.echo->address();
  a.registry = absl::StrJoin(registry_addresses, "+");
  a.events = absl::StrJoin(events_addresses, "+");
  a.analytics = s.analytics->address();

  d.push_back(absl::StrFormat(
      "suite servers started by sanhak::GrpcServer::Start with the same ServerOptions (listen "
      "127.0.0.1:0, log_calls=%s, metrics %s, max_concurrent_streams=%d per connection, "
      "max_writes_in_flight=%d)",
      setup.log_calls ? "true" : "false", setup.metrics ? "on (127.0.0.1:0)" : "off",
      setup.max_concurrent_streams, setup.max_writes_in_flight));
  d.push_back(absl::StrFormat("  baseline  %s at %s (sync API)", kBaselineServiceName,
                              a.baseline));
  d.push_back(absl::StrFormat("  callback  %s at %s (callback API)", kBaselineServiceName,
                              a.callback));
  if (s.tls) {
    d.push_back(absl::StrFormat("  tls       %s at %s (sync API, as baseline) on mutual TLS, "
                                "authenticated, policy checked",
                                kBaselineServiceName, a.tls));
  }
  d.push_back(absl::StrFormat(
      "  echo      sanhak.bench.echo.EchoService at %s: bare grpc::ServerBuilder, callback "
      "API, gRPC's defaults, nothing of the suite's runtime",
      a.echo));
  const auto& imported = s.registry[0]->import_summary();
  d.push_back(absl::StrFormat("  registry  %s at %s, %s %s",
                              registry::kRegistryServiceName, a.registry, engine_note,
                              store::RedactedDatabase(registry_db)));
  d.push_back(absl::StrFormat("            imported %s (created %d, updated %d, unchanged %d); "
                              "holds %s",
                              setup.data, imported.created, imported.updated, imported.unchanged,
                              holds.ok() ? *holds : holds.status().ToString()));
  d.push_back(absl::StrFormat(
      "  events    %s at %s, %s %s (%s), registry at %s (replica i asks registry replica "
      "i), change feed relayed to Redis",
      events::kEventsServiceName, a.events, engine_note, store::RedactedDatabase(events_db),
      FileSystemType(s.dir->path()), a.registry));
  d.push_back(absl::StrFormat("  analytics %s at %s, one replica, consuming the change feed",
                              analytics::kAnalyticsServiceName, a.analytics));
  d.push_back(absl::StrFormat("  redis     %s; registry and events relay their outbox to it",
                              redis_note));
  d.push_back(security.has_value()
                  ? absl::StrCat("  security  tls, registry, events, analytics on TLS "
                                 "(baseline, callback, echo stay plaintext): ",
                                 security->description)
                  : "  security  plaintext (every server; --security=tls for mutual TLS)");
  return self;
}

BenchServers::~BenchServers() { Shutdown(); }

void BenchServers::Shutdown() {
  if (impl_ == nullptr) return;
  if (impl_->analytics) impl_->analytics->Shutdown();
  for (auto& events : impl_->events) events->Shutdown();
  for (auto& registry : impl_->registry) registry->Shutdown();
  if (impl_->echo) impl_->echo->Shutdown();
  if (impl_->tls) impl_->tls->Shutdown();
  if (impl_->callback) impl_->callback->Shutdown();
  if (impl_->baseline) impl_->baseline->Shutdown();
}

double ProcessCpuSeconds(int pid) {
  // The process's CPU clock counts in nanoseconds; /proc's utime and stime only in clock
  // ticks (10 ms), too coarse for short windows (the handshake measurement).
  clockid_t clock;
  timespec now {};
  if (clock_getcpuclockid(pid, &clock) == 0 && clock_gettime(clock, &now) == 0) {
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
  }
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces; the fields after its ')' are fixed:
  // state is field 3, utime and stime fields 14 and 15.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
  double utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtod(fields[11], &utime) ||
      !absl::SimpleAtod(fields[12], &stime)) {
    return 0;
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

namespace {

struct ProcStat {
  int pid = 0;
  int ppid = 0;
  std::string comm;
  double children_seconds = 0;  // cutime + cstime: reaped children
};

std::optional<ProcStat> ReadProcStat(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return std::nullopt;
  }
  ProcStat p;
  p.pid = pid;
  p.comm = stat.substr(open + 1, close - open - 1);
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
  // After ')': state(3) ppid(4) ... cutime(16) cstime(17).
  double cutime = 0, cstime = 0;
  if (fields.size() < 15 || !absl::SimpleAtoi(fields[1], &p.ppid) ||
      !absl::SimpleAtod(fields[13], &cutime) || !absl::SimpleAtod(fields[14], &cstime)) {
    return std::nullopt;
  }
  p.children_seconds = (cutime + cstime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return p;
}

}  // namespace

double PostgresCpuSeconds(int root) {
  std::vector<ProcStat> all;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    if (std::optional<ProcStat> p = ReadProcStat(pid); p.has_value()) all.push_back(*p);
  }
  absl::flat_hash_map<int, int> parent;
  for (const ProcStat& p : all) parent[p.pid] = p.ppid;
  auto below_root = [&](int pid) {
    for (int hops = 0; hops < 64 && pid > 1; ++hops) {
      auto it = parent.find(pid);
      if (it == parent.end()) return false;
      pid = it->second;
      if (pid == root) return true;
    }
    return false;
  };
  double seconds = 0;
  for (const ProcStat& p : all) {
    if (p.comm != "postgres" || !below_root(p.pid)) continue;
    seconds += ProcessCpuSeconds(p.pid);
    // The postmaster (its parent is no postgres) also carries its reaped backends.
    auto up = std::find_if(all.begin(), all.end(),
                           [&](const ProcStat& q) { return q.pid == p.ppid; });
    if (up == all.end() || up->comm != "postgres") seconds += p.children_seconds;
  }
  return seconds;
}

absl::Status PinToCpus(absl::string_view cpus) {
  if (cpus.empty()) return absl::OkStatus();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (absl::string_view part : absl::StrSplit(cpus, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> range =
        absl::StrSplit(part, absl::MaxSplits('-', 1));
    int first = 0, last = 0;
    if (!absl::SimpleAtoi(range.first, &first) ||
        !absl::SimpleAtoi(range.second.empty() ? range.first : range.second, &last) ||
        first < 0 || last < first || last >= CPU_SETSIZE) {
      return absl::InvalidArgumentError(
          absl::StrCat("CPU list '", cpus, "': '", part, "' is not N or N-M"));
    }
    for (int cpu = first; cpu <= last; ++cpu) CPU_SET(cpu, &set);
  }
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sched_setaffinity(", cpus, "): ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace sanhak::bench
