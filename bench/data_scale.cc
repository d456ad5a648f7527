// The data-scale benchmark (issue #12): the suite on a database holding, by default,
// 100,000 organizations and 1,000,000 activities beside the source data, each service in
// a process of its own (the real binaries), loaded from this process.
//
//   1. Generates the data through the services' own import path (Registry::Import,
//      Events::Import, checking every council against the running registry process), in
//      transactions of --chunk resources, on fresh SQLite files or fresh databases on a
//      private PostgreSQL. The generated records' change records are dropped from the
//      outbox: the data stands for what a cluster already held, its changes relayed long
//      ago (Redis is never the only copy; analytics rebuilds from the services).
//   2. Starts registry, events and analytics (empty Redis) and times the analytics
//      rebuild: from its start until it reports SERVING, then checks it counts every
//      activity.
//   3. Runs each read and write scenario closed-loop at --concurrency, and the empty
//      handler (this program with --serve_empty, in a process of its own like the
//      services) in the same run: p50, p99, calls/s and the serving process's CPU per call
//      (with PostgreSQL, the database's CPU added), each also as a ratio to the empty
//      handler's.
//   4. Reports each process's resident memory (now and peak), Redis's memory and the
//      databases' size.
//
// Compare a run with --organizations=0 --activities=0 (the source data alone) to see what
// grows with the number of rows. See README.md, "Data scale".
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/channels.h"
#include "bench/load_generator.h"
#include "bench/servers.h"
#include "common/redis.h"
#include "common/server.h"
#include "common/server_flags.h"
#include "common/store_factory.h"
#include "grpcpp/create_channel.h"
#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "sanhak/bench/v1/bench.grpc.pb.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "services/events/events.h"
#include "services/events/events_server.h"
#include "services/events/registry_directory.h"
#include "services/registry/registry.h"
#include "services/registry/registry_server.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_process.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

ABSL_FLAG(std::string, db, "sqlite", "the registry's and events' engine: sqlite or postgresql");
ABSL_FLAG(int, organizations, 100000, "organizations generated beside the source data");
ABSL_FLAG(int, activities, 1000000, "activities generated beside the source data");
ABSL_FLAG(int, chunk, 10000, "generated resources per import transaction");
ABSL_FLAG(int, concurrency, 16, "calls in flight at all times in each scenario");
ABSL_FLAG(int, channels, 4, "client connections each scenario's calls are spread over");
ABSL_FLAG(double, duration_s, 3, "measured seconds per scenario");
ABSL_FLAG(double, warmup_s, 0.5, "seconds of load before measuring, per scenario");
ABSL_FLAG(bool, analyze, true,
          "with --db=postgresql: ANALYZE both databases after generating the data");
ABSL_FLAG(int, rebuild_limit_s, 1800, "how long analytics may take to rebuild");
ABSL_FLAG(uint64_t, seed, 1, "seed of the generated data and of the calls' choices");
ABSL_FLAG(std::string, redis_server, "/usr/bin/redis-server", "the redis-server to start");
ABSL_FLAG(std::string, registry_data, SANHAK_SOURCE_DIR "/data/registry.textproto",
          "the source data the registry imports first");
ABSL_FLAG(std::string, events_data, SANHAK_SOURCE_DIR "/data/events.textproto",
          "the source data the events service imports first");
ABSL_FLAG(std::string, registry_binary, SANHAK_REGISTRY_BINARY, "the registry server");
ABSL_FLAG(std::string, events_binary, SANHAK_EVENTS_BINARY, "the events server");
ABSL_FLAG(std::string, analytics_binary, SANHAK_ANALYTICS_BINARY, "the analytics server");
ABSL_FLAG(bool, serve_empty, false,
          "internal: serve the empty handler (sanhak.bench.v1.EmptyService) on the suite's "
          "runtime and print where, as the services do");

namespace sanhak::bench {
namespace {

namespace rv1 = ::sanhak::registry::v1;
namespace ev1 = ::sanhak::events::v1;
namespace av1 = ::sanhak::analytics::v1;

constexpr char kEmptyServiceName[] = "sanhak.bench.v1.EmptyService";

int ServeEmpty() {
  BlockTerminationSignals();
  EmptyCallbackServiceImpl service;
  auto server = GrpcServer::Start(ServerOptionsFromFlags(),
                                  {{&service, kEmptyServiceName, [] { return absl::OkStatus(); }}});
  if (!server.ok()) {
    std::fprintf(stderr, "empty server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("empty listening on %s\n", (*server)->address().c_str());
  std::fflush(stdout);
  return ServeUntilTerminated([&] { (*server)->Shutdown(); });
}

void Say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// ---------------------------------------------------------------- generating the data

// The enum's values other than 0 (UNSPECIFIED).
std::vector<int> KnownValues(const google::protobuf::EnumDescriptor* d) {
  std::vector<int> out;
  for (int i = 0; i < d->value_count(); ++i) {
    if (d->value(i)->number() != 0) out.push_back(d->value(i)->number());
  }
  return out;
}

// Generated activities start on one of the three years of days from 2024-01-01 (KST).
constexpr int64_t kFirstDay = 1704034800;

std::string OrganizationName(int i) { return absl::StrFormat("organizations/scale-%06d", i); }
std::string ActivityName(int i) { return absl::StrFormat("activities/scale-%07d", i); }

// Drops every change record waiting in the outbox (see the top of the file).
absl::Status DropOutbox(store::ResourceStore& store) {
  while (true) {
    absl::StatusOr<std::vector<store::OutboxEntry>> batch = store.ReadOutbox(10000);
    if (!batch.ok()) return batch.status();
    if (batch->empty()) return absl::OkStatus();
    if (absl::Status s = store.AckOutbox(batch->back().sequence); !s.ok()) return s;
  }
}

absl::StatusOr<std::unique_ptr<store::ResourceStore>> OpenStore(const std::string& database,
                                                                const std::string& service) {
  store::StoreOptions options;
  options.database = database;
  options.service = service;
  return store::OpenResourceStore(options);
}

struct Generated {
  std::vector<std::string> councils;
  std::vector<std::string> complexes;
  int64_t organizations = 0;  // source data and generated
  int64_t activities = 0;
  absl::Duration registry_import;
  absl::Duration events_import;
};

absl::Status GenerateRegistry(const std::string& database, int organizations, int chunk,
                              std::mt19937_64& rng, Generated& out) {
  absl::StatusOr<rv1::RegistryData> seed = registry::LoadRegistryData(absl::GetFlag(FLAGS_registry_data));
  if (!seed.ok()) return seed.status();
  for (const auto& c : seed->councils()) out.councils.push_back(c.name());
  for (const auto& c : seed->complexes()) out.complexes.push_back(c.name());
  if (out.councils.empty() || out.complexes.empty()) {
    return absl::FailedPreconditionError("the registry data holds no councils or complexes");
  }
  absl::StatusOr<std::unique_ptr<store::ResourceStore>> store = OpenStore(database, "registry");
  if (!store.ok()) return store.status();
  registry::Registry registry(store->get());
  // As the server starts: the empty store marked as indexed by this release, so the
  // servers started on it later find nothing to reindex.
  if (auto s = registry.UpdateIndexes(); !s.ok()) return s.status();
  const absl::Time start = absl::Now();
  if (auto s = registry.Import(*seed); !s.ok()) {
    return s.status();
  }
  const std::vector<int> kinds = KnownValues(rv1::OrganizationKind_descriptor());
  for (int from = 0; from < organizations; from += chunk) {
    rv1::RegistryData data;
    for (int i = from; i < std::min(organizations, from + chunk); ++i) {
      rv1::Organization* o = data.add_organizations();
      o->set_name(OrganizationName(i));
      o->set_display_name(absl::StrFormat("(주)산학연 생성기업 %06d", i));
      o->set_english_name(absl::StrFormat("Generated Company %06d", i));
      o->set_kind(static_cast<rv1::OrganizationKind>(kinds[rng() % kinds.size()]));
      o->set_home_complex(out.complexes[rng() % out.complexes.size()]);
      o->set_description("데이터 규모 벤치마크를 위해 생성한 기관");
    }
    auto s = registry.Import(data);
    if (!s.ok()) return s.status();
    if (absl::Status d = DropOutbox(**store); !d.ok()) return d;
    if ((from / chunk) % 10 == 9) Say(absl::StrFormat("  organizations: %d", from + chunk));
  }
  if (absl::Status d = DropOutbox(**store); !d.ok()) return d;
  out.registry_import = absl::Now() - start;
  out.organizations = seed->organizations_size() + organizations;
  return absl::OkStatus();
}

absl::Status GenerateEvents(const std::string& database, const std::string& registry_address,
                            int activities, int chunk, std::mt19937_64& rng, Generated& out) {
  absl::StatusOr<ev1::EventsData> seed = events::LoadEventsData(absl::GetFlag(FLAGS_events_data));
  if (!seed.ok()) return seed.status();
  absl::StatusOr<std::unique_ptr<store::ResourceStore>> store = OpenStore(database, "events");
  if (!store.ok()) return store.status();
  events::GrpcRegistryDirectory directory(
      grpc::CreateChannel(registry_address, grpc::InsecureChannelCredentials()));
  events::Events events(store->get(), &directory);
  if (auto s = events.UpdateIndexes(); !s.ok()) return s.status();
  const absl::Time start = absl::Now();
  if (auto s = events.Import(*seed, absl::Now() + absl::Seconds(60)); !s.ok()) return s.status();
  const std::vector<int> kinds = KnownValues(ev1::ActivityKind_descriptor());
  const std::vector<std::string> cities = {"울산", "창원", "군산", "여수", "구미", "광주",
                                           "대구", "천안", "포항", "시흥"};
  for (int from = 0; from < activities; from += chunk) {
    ev1::EventsData data;
    for (int i = from; i < std::min(activities, from + chunk); ++i) {
      ev1::Activity* a = data.add_activities();
      a->set_name(ActivityName(i));
      a->set_kind(static_cast<ev1::ActivityKind>(kinds[rng() % kinds.size()]));
      a->set_title(absl::StrFormat("초광역 산학연 교류회 %07d", i));
      // One council mostly, two for one activity in four.
      const size_t first = rng() % out.councils.size();
      a->add_councils(out.councils[first]);
      if (rng() % 4 == 0) a->add_councils(out.councils[(first + 1) % out.councils.size()]);
      const int64_t start_s = kFirstDay + static_cast<int64_t>(rng() % (3 * 365)) * 86400 +
                              (9 + static_cast<int64_t>(rng() % 8)) * 3600;
      a->mutable_start_time()->set_seconds(start_s);
      a->mutable_end_time()->set_seconds(start_s + 2 * 3600);
      a->set_time_zone("Asia/Seoul");
      a->mutable_place()->set_city(cities[rng() % cities.size()]);
      a->mutable_place()->set_country("KR");
      a->set_organizer(absl::StrFormat("(주)산학연 생성기업 %06d", static_cast<int>(rng() % 100000)));
    }
    auto s = events.Import(data, absl::Now() + absl::Seconds(60));
    if (!s.ok()) return s.status();
    if (absl::Status d = DropOutbox(**store); !d.ok()) return d;
    if ((from / chunk) % 10 == 9) Say(absl::StrFormat("  activities: %d", from + chunk));
  }
  if (absl::Status d = DropOutbox(**store); !d.ok()) return d;
  out.events_import = absl::Now() - start;
  out.activities = seed->activities_size() + activities;
  return absl::OkStatus();
}

// ---------------------------------------------------------------- measuring

struct Memory {
  int64_t rss_kb = -1;
  int64_t peak_kb = -1;
};

Memory MemoryOf(pid_t pid) {
  Memory m;
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    int64_t kb;
    std::vector<std::string> parts = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipWhitespace());
    if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &kb)) continue;
    if (parts[0] == "VmRSS:") m.rss_kb = kb;
    if (parts[0] == "VmHWM:") m.peak_kb = kb;
  }
  return m;
}

std::string Mib(int64_t kb) { return kb < 0 ? "?" : absl::StrFormat("%.1f MiB", kb / 1024.0); }

struct Measured {
  std::string name;
  std::string description;
  LoadResult result;
};

grpc::Status Expect(bool ok, const std::string& what) {
  return ok ? grpc::Status::OK : grpc::Status(grpc::StatusCode::DATA_LOSS, what);
}

int Run() {
  const std::string db = absl::GetFlag(FLAGS_db);
  if (db != "sqlite" && db != "postgresql") {
    std::fprintf(stderr, "--db=%s: sqlite or postgresql\n", db.c_str());
    return 2;
  }
  const int organizations = absl::GetFlag(FLAGS_organizations);
  const int activities = absl::GetFlag(FLAGS_activities);
  const int chunk = std::max(1, absl::GetFlag(FLAGS_chunk));
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));

  testing::TempDir dir("sanhak-bench-scale");
  if (dir.path().empty()) {
    std::fprintf(stderr, "cannot create a temporary directory\n");
    return 1;
  }
  auto fail = [](const std::string& what, const absl::Status& s) {
    std::fprintf(stderr, "%s: %s\n", what.c_str(), s.ToString().c_str());
    return 1;
  };

  testing::RedisOptions redis_options;
  redis_options.binary = absl::GetFlag(FLAGS_redis_server);
  redis_options.dir = dir.path();
  testing::RedisProcess redis(redis_options);
  if (absl::Status s = redis.Start(); !s.ok()) return fail("redis-server", s);

  std::unique_ptr<testing::PostgresServer> postgres;
  std::string registry_db = dir.File("registry.db"), events_db = dir.File("events.db");
  if (db == "postgresql") {
    postgres = std::make_unique<testing::PostgresServer>();
    if (!postgres->Start()) return fail("PostgreSQL", absl::UnavailableError(postgres->Log()));
    absl::StatusOr<std::string> r = postgres->CreateDatabase("registry");
    absl::StatusOr<std::string> e = postgres->CreateDatabase("events");
    if (!r.ok()) return fail("PostgreSQL", r.status());
    if (!e.ok()) return fail("PostgreSQL", e.status());
    registry_db = *r;
    events_db = *e;
  }
  Say(absl::StrFormat("sanhak_bench_scale: %s; %d organizations and %d activities generated "
                      "beside the source data, in transactions of %d; %d cores here",
                      db == "sqlite" ? "SQLite (WAL), one file per service"
                                     : "PostgreSQL 15 (private server, fsync off)",
                      organizations, activities, chunk, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))));

  // 1. The registry's data, then the registry process (events' import checks councils
  // against it).
  Generated generated;
  Say("generating the registry's data ...");
  if (absl::Status s = GenerateRegistry(registry_db, organizations, chunk, rng, generated);
      !s.ok()) {
    return fail("generating organizations", s);
  }
  const std::vector<std::string> common_flags = {
      absl::StrCat("--redis=", redis.address()), "--writes_per_second_per_caller=0",
      "--metrics_listen="};
  auto flags = [&](std::vector<std::string> own) {
    own.insert(own.end(), common_flags.begin(), common_flags.end());
    return own;
  };
  testing::ServerProcess registry(
      absl::GetFlag(FLAGS_registry_binary),
      flags({absl::StrCat("--db=", registry_db),
             absl::StrCat("--page_token_key=", dir.File("registry.token-key"))}),
      dir.File("registry.log"));
  if (!registry.Start() || !registry.WaitServing(std::chrono::seconds(600))) {
    return fail("registry", absl::UnavailableError(registry.Log()));
  }
  Say("generating the events service's data ...");
  if (absl::Status s =
          GenerateEvents(events_db, registry.address(), activities, chunk, rng, generated);
      !s.ok()) {
    return fail("generating activities", s);
  }
  Say(absl::StrFormat(
      "generated: registry %d organizations in %.1f s (%.0f/s); events %d activities in "
      "%.1f s (%.0f/s)",
      generated.organizations, absl::ToDoubleSeconds(generated.registry_import),
      generated.organizations / std::max(1e-9, absl::ToDoubleSeconds(generated.registry_import)),
      generated.activities, absl::ToDoubleSeconds(generated.events_import),
      generated.activities / std::max(1e-9, absl::ToDoubleSeconds(generated.events_import))));

  // After a bulk load PostgreSQL's planner statistics describe the empty tables until
  // autovacuum gets to them; an operator runs ANALYZE after such a load.
  if (postgres != nullptr && absl::GetFlag(FLAGS_analyze)) {
    for (const std::string& uri : {registry_db, events_db}) {
      if (auto rows = postgres->Query(uri, "ANALYZE"); !rows.ok()) {
        return fail("ANALYZE", rows.status());
      }
    }
  }

  // 2. The other services; analytics rebuilds from them (Redis holds nothing yet).
  testing::ServerProcess events(
      absl::GetFlag(FLAGS_events_binary),
      flags({absl::StrCat("--db=", events_db), absl::StrCat("--registry=", registry.address()),
             absl::StrCat("--page_token_key=", dir.File("events.token-key"))}),
      dir.File("events.log"));
  absl::Time started = absl::Now();
  if (!events.Start() || !events.WaitServing(std::chrono::seconds(600))) {
    return fail("events", absl::UnavailableError(events.Log()));
  }
  const absl::Duration events_start = absl::Now() - started;
  testing::ServerProcess analytics(
      absl::GetFlag(FLAGS_analytics_binary),
      flags({absl::StrCat("--registry=", registry.address()),
             absl::StrCat("--events=", events.address())}),
      dir.File("analytics.log"));
  started = absl::Now();
  if (!analytics.Start() ||
      !analytics.WaitServing(std::chrono::seconds(absl::GetFlag(FLAGS_rebuild_limit_s)))) {
    return fail("analytics", absl::UnavailableError(analytics.Log()));
  }
  const absl::Duration rebuild = absl::Now() - started;
  const Memory analytics_after_rebuild = MemoryOf(analytics.pid());
  // The empty handler: this program again, with --serve_empty.
  char self_path[4096];
  const ssize_t self_length = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
  if (self_length <= 0) return fail("readlink /proc/self/exe", absl::InternalError("failed"));
  self_path[self_length] = '\0';
  testing::ServerProcess empty(self_path, {"--serve_empty"}, dir.File("empty.log"));
  if (!empty.Start() || !empty.WaitServing(std::chrono::seconds(30))) {
    return fail("empty server", absl::UnavailableError(empty.Log()));
  }

  const int channels = std::max(1, absl::GetFlag(FLAGS_channels));
  auto empty_stubs = Stubs<v1::EmptyService>(Channels(empty.address(), channels, 1));
  auto registry_stubs = Stubs<rv1::RegistryService>(Channels(registry.address(), channels, 2));
  auto events_stubs = Stubs<ev1::EventsService>(Channels(events.address(), channels, 3));
  auto analytics_stubs = Stubs<av1::AnalyticsService>(Channels(analytics.address(), channels, 4));

  // The rebuild counted everything.
  {
    av1::GetAggregatesRequest request;
    request.add_metrics("activities");
    av1::Aggregates aggregates;
    grpc::ClientContext context;
    grpc::Status status = analytics_stubs[0]->GetAggregates(&context, request, &aggregates);
    if (!status.ok()) return fail("GetAggregates", absl::UnknownError(status.error_message()));
    if (aggregates.activities() != generated.activities) {
      return fail("the rebuild", absl::DataLossError(absl::StrCat(
                                     "analytics counts ", aggregates.activities(),
                                     " activities, the events service holds ",
                                     generated.activities)));
    }
  }

  // 3. The scenarios.
  const pid_t self = getpid();
  const bool pg = postgres != nullptr;
  auto cpu_of = [self, pg](pid_t pid) {
    return [self, pg, pid] {
      return ProcessCpuSeconds(pid) + (pg ? PostgresCpuSeconds(self) : 0.0);
    };
  };
  struct Planned {
    std::string name;
    std::string description;
    IssueFn issue;
    pid_t server;
  };
  std::atomic<int64_t> next_create{0};
  const std::string run_tag = absl::StrFormat("%x", static_cast<uint32_t>(absl::ToUnixMicros(absl::Now())));
  const std::vector<std::string>& councils = generated.councils;
  const std::vector<std::string>& complexes = generated.complexes;
  const int generated_orgs = organizations;
  const int generated_activities = activities;
  std::vector<int> activity_kinds = KnownValues(ev1::ActivityKind_descriptor());
  std::vector<int> org_kinds = KnownValues(rv1::OrganizationKind_descriptor());
  std::vector<Planned> plan;
  plan.push_back({"Empty", "EmptyService.Empty on the suite's runtime, its own process",
                  [&](const CallEnv& env, DoneFn done) {
                    v1::EmptyRequest request;
                    StartUnary<v1::EmptyRequest, v1::EmptyResponse>(env, request,
                               [&](auto* c, auto* q, auto* r, auto cb) {
                                 empty_stubs[env.channel]->async()->Empty(c, q, r, std::move(cb));
                               },
                               [](const auto&, const auto&) { return grpc::Status::OK; },
                               std::move(done));
                  },
                  empty.pid()});
  plan.push_back(
      {"GetActivity", "a random activity (generated ones when there are)",
       [&](const CallEnv& env, DoneFn done) {
         ev1::GetActivityRequest request;
         request.set_name(generated_activities > 0
                              ? ActivityName(env.Uniform(generated_activities))
                              : "activities/development-forum-2025");
         StartUnary<ev1::GetActivityRequest, ev1::Activity>(env, request,
                    [&](auto* c, auto* q, auto* r, auto cb) {
                      events_stubs[env.channel]->async()->GetActivity(c, q, r, std::move(cb));
                    },
                    [](const auto& q, const auto& r) {
                      return Expect(r.name() == q.name(), "another activity");
                    },
                    std::move(done));
       },
       events.pid()});
  plan.push_back(
      {"ListActivities/council", "the first page of 50 of a random council's activities",
       [&](const CallEnv& env, DoneFn done) {
         ev1::ListActivitiesRequest request;
         request.set_page_size(50);
         request.set_council(councils[env.Uniform(councils.size())]);
         StartUnary<ev1::ListActivitiesRequest, ev1::ListActivitiesResponse>(env, request,
                    [&](auto* c, auto* q, auto* r, auto cb) {
                      events_stubs[env.channel]->async()->ListActivities(c, q, r, std::move(cb));
                    },
                    [](const auto&, const auto& r) {
                      return Expect(r.total_size() <= 50 || r.activities_size() == 50,
                                    "a short page");
                    },
                    std::move(done));
       },
       events.pid()});
  plan.push_back(
      {"ListActivities/council+kind",
       "the first page of 50 of a random council's activities of a random kind",
       [&](const CallEnv& env, DoneFn done) {
         ev1::ListActivitiesRequest request;
         request.set_page_size(50);
         request.set_council(councils[env.Uniform(councils.size())]);
         request.set_kind(static_cast<ev1::ActivityKind>(activity_kinds[env.Uniform(activity_kinds.size())]));
         StartUnary<ev1::ListActivitiesRequest, ev1::ListActivitiesResponse>(env, request,
                    [&](auto* c, auto* q, auto* r, auto cb) {
                      events_stubs[env.channel]->async()->ListActivities(c, q, r, std::move(cb));
                    },
                    [](const auto&, const auto&) { return grpc::Status::OK; }, std::move(done));
       },
       events.pid()});
  plan.push_back(
      {"ListActivities/council+month",
       "the first page of 50 of a random council's activities in a random 30-day window",
       [&](const CallEnv& env, DoneFn done) {
         ev1::ListActivitiesRequest request;
         request.set_page_size(50);
         request.set_council(councils[env.Uniform(councils.size())]);
         const int64_t from = kFirstDay + static_cast<int64_t>(env.Uniform(3 * 365 - 30)) * 86400;
         request.mutable_start_time()->set_seconds(from);
         request.mutable_end_time()->set_seconds(from + 30 * 86400);
         StartUnary<ev1::ListActivitiesRequest, ev1::ListActivitiesResponse>(env, request,
                    [&](auto* c, auto* q, auto* r, auto cb) {
                      events_stubs[env.channel]->async()->ListActivities(c, q, r, std::move(cb));
                    },
                    [](const auto&, const auto&) { return grpc::Status::OK; }, std::move(done));
       },
       events.pid()});
  plan.push_back(
      {"ListOrganizations/complex+kind",
       "the first page of 50 of a random complex's organizations of a random kind",
       [&](const CallEnv& env, DoneFn done) {
         rv1::ListOrganizationsRequest request;
         request.set_page_size(50);
         request.set_complex(complexes[env.Uniform(complexes.size())]);
         request.set_kind(static_cast<rv1::OrganizationKind>(org_kinds[env.Uniform(org_kinds.size())]));
         StartUnary<rv1::ListOrganizationsRequest, rv1::ListOrganizationsResponse>(env, request,
                    [&](auto* c, auto* q, auto* r, auto cb) {
                      registry_stubs[env.channel]->async()->ListOrganizations(c, q, r,
                                                                             std::move(cb));
                    },
                    [](const auto&, const auto&) { return grpc::Status::OK; }, std::move(done));
       },
       registry.pid()});
  plan.push_back(
      {"GetOrganization", "a random organization (generated ones when there are)",
       [&](const CallEnv& env, DoneFn done) {
         rv1::GetOrganizationRequest request;
         request.set_name(generated_orgs > 0 ? OrganizationName(env.Uniform(generated_orgs))
                                             : "organizations/widetns");
         StartUnary<rv1::GetOrganizationRequest, rv1::Organization>(env, request,
                    [&](auto* c, auto* q, auto* r, auto cb) {
                      registry_stubs[env.channel]->async()->GetOrganization(c, q, r,
                                                                           std::move(cb));
                    },
                    [](const auto& q, const auto& r) {
                      return Expect(r.name() == q.name(), "another organization");
                    },
                    std::move(done));
       },
       registry.pid()});
  plan.push_back(
      {"CreateActivity", "a one-council technology exchange (registry check, commit, outbox)",
       [&](const CallEnv& env, DoneFn done) {
         ev1::CreateActivityRequest request;
         ev1::Activity* a = request.mutable_activity();
         a->set_kind(ev1::TECHNOLOGY_EXCHANGE);
         a->set_title(absl::StrCat("기술교류회 bench ", run_tag, " ", next_create++));
         a->add_councils(councils[env.Uniform(councils.size())]);
         StartUnary<ev1::CreateActivityRequest, ev1::Activity>(env, request,
                    [&](auto* c, auto* q, auto* r, auto cb) {
                      events_stubs[env.channel]->async()->CreateActivity(c, q, r, std::move(cb));
                    },
                    [](const auto&, const auto& r) {
                      return Expect(!r.name().empty(), "no name");
                    },
                    std::move(done));
       },
       events.pid()});

  std::vector<Measured> measured;
  for (const Planned& p : plan) {
    LoadOptions options;
    options.concurrency = absl::GetFlag(FLAGS_concurrency);
    options.channels = channels;
    options.warmup = absl::Seconds(absl::GetFlag(FLAGS_warmup_s));
    options.duration = absl::Seconds(absl::GetFlag(FLAGS_duration_s));
    options.seed = absl::GetFlag(FLAGS_seed);
    options.server_cpu_seconds = cpu_of(p.server);
    measured.push_back({p.name, p.description, RunClosedLoop(p.issue, options)});
    const LoadResult& r = measured.back().result;
    Say(absl::StrFormat("  %-32s %8.0f calls/s  p50 %7.3f ms  p99 %7.3f ms  server CPU "
                        "%6.0f us/call  errors %d%s",
                        p.name, r.qps, r.p50_ms, r.p99_ms, r.server_cpu_us_per_call, r.errors,
                        r.first_error.empty() ? "" : " (" + r.first_error + ")"));
  }

  // 4. Memory and size.
  std::string redis_memory = "?";
  {
    auto connection = redis::Connection::Connect(redis.address(), absl::Seconds(5), {});
    if (connection.ok()) {
      absl::StatusOr<redis::Reply> info = (*connection)->Command({"INFO", "memory"});
      if (info.ok()) {
        for (absl::string_view line : absl::StrSplit(info->str, "\r\n")) {
          if (absl::StartsWith(line, "used_memory_human:")) {
            redis_memory = std::string(line.substr(strlen("used_memory_human:")));
          }
        }
      }
    }
  }
  std::string sizes;
  if (pg) {
    for (const auto& [name, uri] : {std::pair{"registry", registry_db}, {"events", events_db}}) {
      auto rows = postgres->Query(uri, "SELECT pg_size_pretty(pg_database_size(current_database()))");
      absl::StrAppend(&sizes, sizes.empty() ? "" : ", ", name, " ",
                      rows.ok() && !rows->empty() ? (*rows)[0][0] : "?");
    }
  } else {
    for (const auto& [name, path] : {std::pair{"registry", registry_db}, {"events", events_db}}) {
      int64_t bytes = 0;
      for (const char* suffix : {"", "-wal", "-shm"}) {
        std::ifstream f(path + suffix, std::ios::binary | std::ios::ate);
        if (f) bytes += static_cast<int64_t>(f.tellg());
      }
      absl::StrAppend(&sizes, sizes.empty() ? "" : ", ", name,
                      absl::StrFormat(" %.1f MiB", bytes / 1048576.0));
    }
  }

  const LoadResult& base = measured[0].result;
  Say("");
  Say(absl::StrFormat("== data scale, %s: %d organizations, %d activities (source data "
                      "included); concurrency %d over %d connections, %.1f s per scenario",
                      db, generated.organizations, generated.activities,
                      absl::GetFlag(FLAGS_concurrency), channels, absl::GetFlag(FLAGS_duration_s)));
  Say(absl::StrFormat("%-32s %9s %9s %9s %10s %11s %10s", "scenario", "calls/s", "p50 ms",
                      "p99 ms", "CPU us", "qps/Empty", "CPU Empty/"));
  for (const Measured& m : measured) {
    const LoadResult& r = m.result;
    Say(absl::StrFormat("%-32s %9.0f %9.3f %9.3f %10.0f %11.3f %10.3f", m.name, r.qps, r.p50_ms,
                        r.p99_ms, r.server_cpu_us_per_call, r.qps / std::max(1e-9, base.qps),
                        base.server_cpu_us_per_call /
                            std::max(1e-9, r.server_cpu_us_per_call)));
  }
  Say(absl::StrFormat("analytics rebuild from the services: %.1f s (start to SERVING, %d "
                      "activities counted); events start: %.1f s",
                      absl::ToDoubleSeconds(rebuild), generated.activities,
                      absl::ToDoubleSeconds(events_start)));
  const Memory analytics_now = MemoryOf(analytics.pid());
  for (const auto& [name, process] :
       {std::pair<const char*, testing::ServerProcess*>{"registry", &registry},
        {"events", &events},
        {"analytics", &analytics},
        {"empty", &empty}}) {
    const Memory m = MemoryOf(process->pid());
    Say(absl::StrFormat("memory %-9s resident %s, peak %s", name, Mib(m.rss_kb),
                        Mib(m.peak_kb)));
  }
  Say(absl::StrFormat("memory analytics right after the rebuild: resident %s (now %s)",
                      Mib(analytics_after_rebuild.rss_kb), Mib(analytics_now.rss_kb)));
  Say(absl::StrFormat("redis used_memory %s; databases: %s", redis_memory, sizes));
  int failed = 0;
  for (const Measured& m : measured) failed += m.result.errors > 0;
  return failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace sanhak::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_serve_empty)) return sanhak::bench::ServeEmpty();
  signal(SIGPIPE, SIG_IGN);
  return sanhak::bench::Run();
}
