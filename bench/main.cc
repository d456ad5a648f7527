// sanhak_bench: starts an empty baseline server, the registry and the events service in
// this process, on the same server runtime and options, drives each with a closed-loop load
// generator and reports every scenario as ratios to the empty handler at the same
// concurrency: the median over several rounds of short interleaved runs, each scenario run
// compared with the baseline runs just before and just after it. See bench/README.md.
#include <sys/vfs.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/load_generator.h"
#include "bench/scenarios.h"
#include "common/log.h"
#include "common/server.h"
#include "grpcpp/grpcpp.h"
#include "bench/watch_latency.h"
#include "services/analytics/analytics_server.h"
#include "services/events/events_server.h"
#include "services/registry/registry_server.h"
#include "tests/support/redis_process.h"
#include "tests/support/temp_dir.h"

#ifndef SANHAK_SOURCE_DIR
#define SANHAK_SOURCE_DIR "."
#endif

ABSL_FLAG(std::string, data, SANHAK_SOURCE_DIR "/data/registry.textproto",
          "RegistryData text file imported into the registry's fresh database");
ABSL_FLAG(std::string, concurrency_list, "16,64",
          "comma-separated concurrency levels (calls in flight at all times, closed loop); "
          "every scenario and the baseline run at each");
ABSL_FLAG(int, concurrency, 0, "if > 0: a single concurrency level, instead of --concurrency_list");
ABSL_FLAG(int, channels, 4, "client channels (separate connections) per server the calls are "
          "spread over");
ABSL_FLAG(int, rounds, 5,
          "rounds; each round runs, at every level, Empty, S1, Empty, S2, ..., Empty");
ABSL_FLAG(double, initial_warmup_s, 1,
          "before round 1: seconds of unmeasured load of the baseline and of each scenario, "
          "at the highest level");
ABSL_FLAG(double, warmup_s, 0.25, "seconds of load before measuring, in every run");
ABSL_FLAG(double, duration_s, 1.5, "measured seconds per run");
ABSL_FLAG(double, deadline_s, 10, "deadline of each call");
ABSL_FLAG(std::string, scenarios, "",
          "comma-separated scenarios to run (default: all); the baseline always runs");
ABSL_FLAG(std::string, list_field, "fields/future-mobility",
          "ListCouncils filter: field (a parent field matches its sub-fields' councils); if it "
          "matches fewer than 2 councils, the top-level field matching most is used instead");
ABSL_FLAG(std::string, list_region, "", "ListCouncils filter: region (optional)");
ABSL_FLAG(int, list_page_size, 10, "page_size of ListCouncils and ListActivities");
ABSL_FLAG(int, list_activities, 50,
          "activities created, before measuring, for the council ListActivities filters by");
ABSL_FLAG(std::string, redis, "",
          "host:port of an existing Redis for the change feed (registry and events relay their "
          "outbox to it, analytics consumes it); empty: start a private redis-server");
ABSL_FLAG(std::string, redis_server, "/usr/bin/redis-server",
          "the redis-server binary started (a reserved loopback port, --save \"\" --appendonly no, "
          "killed at exit) when --redis is empty");
ABSL_FLAG(std::string, aggregates_metrics, "",
          "GetAggregates scenario: comma-separated metrics asked for (empty: all of Aggregates)");
ABSL_FLAG(bool, watch, true, "run the open-loop WatchLatency measurement after the rounds");
ABSL_FLAG(int, watchers, 1000, "WatchLatency: WatchAggregates streams on the one replica");
ABSL_FLAG(double, write_rate, 500,
          "WatchLatency: CreateActivity calls started per second (the 1-watcher phase)");
ABSL_FLAG(double, fanout_write_rate, 25,
          "WatchLatency: CreateActivity calls per second in the --watchers phase (every write "
          "goes to every watcher: 1,000 watchers x 25/s = 25,000 deliveries/s, the watchers' "
          "client side running in this same process)");
ABSL_FLAG(double, watch_duration_s, 5, "WatchLatency: seconds of writing, per phase");
ABSL_FLAG(double, watch_drain_s, 10,
          "WatchLatency: after the last acknowledgement, at most this long for the updates "
          "still on their way (a pair not received by then is a miss)");
ABSL_FLAG(double, watch_setup_s, 30,
          "WatchLatency: at most this long for every watcher's snapshot");
ABSL_FLAG(uint64_t, seed, 1, "seed of the random choices (councils asked for, created for)");

namespace sanhak::bench {
namespace {

namespace rv1 = ::sanhak::registry::v1;
namespace ev1 = ::sanhak::events::v1;

constexpr char kBaselineServiceName[] = "sanhak.bench.v1.EmptyService";

class EmptyServiceImpl final : public v1::EmptyService::Service {
  grpc::Status Empty(grpc::ServerContext*, const v1::EmptyRequest*,
                     v1::EmptyResponse*) override {
    return grpc::Status::OK;
  }
};

// The same empty handler on gRPC's callback API (as analytics serves), measured as a
// scenario: how much of a callback-API service's distance from the baseline is the API's.
class EmptyCallbackServiceImpl final : public v1::EmptyService::CallbackService {
  grpc::ServerUnaryReactor* Empty(grpc::CallbackServerContext* context, const v1::EmptyRequest*,
                                  v1::EmptyResponse*) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "sanhak_bench: %s\n", message.c_str());
  return 2;
}

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

absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> Connect(const std::string& address,
                                                                    int count, int server) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    // Distinct args and a private subchannel pool: each channel gets its own connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("sanhak.bench.channel_index", server * 1000 + i);
    auto channel =
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                   std::chrono::seconds(10))) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", address));
    }
    channels.push_back(std::move(channel));
  }
  return channels;
}

std::unique_ptr<grpc::ClientContext> SetupContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

absl::Status FromGrpc(const grpc::Status& s, const std::string& what) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

// Every council the registry holds, read through the API.
absl::StatusOr<std::vector<std::string>> CouncilNames(rv1::RegistryService::Stub& stub) {
  std::vector<std::string> names;
  rv1::ListCouncilsRequest request;
  request.set_page_size(1000);
  do {
    rv1::ListCouncilsResponse response;
    grpc::Status s = stub.ListCouncils(SetupContext().get(), request, &response);
    if (!s.ok()) return FromGrpc(s, "ListCouncils");
    for (const rv1::Council& c : response.councils()) names.push_back(c.name());
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return names;
}

absl::StatusOr<int> CountCouncils(rv1::RegistryService::Stub& stub,
                                  const rv1::ListCouncilsRequest& request) {
  rv1::ListCouncilsResponse response;
  grpc::Status s = stub.ListCouncils(SetupContext().get(), request, &response);
  if (!s.ok()) return FromGrpc(s, "ListCouncils");
  return response.total_size();
}

// The ListCouncils filter from the flags, or, when it matches fewer than 2 councils, the
// top-level field matching the most. Sets context.list_councils(_total).
absl::Status ResolveListFilter(ScenarioContext& context, std::string* note) {
  rv1::RegistryService::Stub& stub = *context.registry_stubs[0];
  rv1::ListCouncilsRequest request;
  request.set_page_size(absl::GetFlag(FLAGS_list_page_size));
  request.set_field(absl::GetFlag(FLAGS_list_field));
  request.set_region(absl::GetFlag(FLAGS_list_region));
  absl::StatusOr<int> total = CountCouncils(stub, request);
  if (!total.ok() && total.status().code() != absl::StatusCode::kInvalidArgument &&
      total.status().code() != absl::StatusCode::kNotFound) {
    return total.status();
  }
  if (total.ok() && *total >= 2) {
    context.list_councils = request;
    context.list_councils_total = *total;
    return absl::OkStatus();
  }
  rv1::ListFieldsResponse fields;
  rv1::ListFieldsRequest fields_request;
  fields_request.set_page_size(1000);
  grpc::Status s = stub.ListFields(SetupContext().get(), fields_request, &fields);
  if (!s.ok()) return FromGrpc(s, "ListFields");
  int best = -1;
  for (const rv1::Field& field : fields.fields()) {
    if (!field.parent().empty()) continue;
    rv1::ListCouncilsRequest candidate = request;
    candidate.set_field(field.name());
    candidate.clear_region();
    absl::StatusOr<int> n = CountCouncils(stub, candidate);
    if (!n.ok()) return n.status();
    if (*n > best) {
      best = *n;
      context.list_councils = candidate;
      context.list_councils_total = *n;
    }
  }
  if (best < 1) return absl::FailedPreconditionError("no field has any council");
  *note = absl::StrCat("the ListCouncils filter from the flags matches ",
                       total.ok() ? absl::StrCat(*total, " councils") : total.status().ToString(),
                       "; using ", context.list_councils.field(), " instead");
  return absl::OkStatus();
}

// Picks the council ListActivities filters by, creates --list_activities activities for it
// through the API, and fills context.list_activities / create_councils.
absl::Status SeedListActivities(ScenarioContext& context, uint64_t seed, int count,
                                int page_size) {
  const std::vector<std::string>& names = context.council_names;
  std::mt19937_64 rng(seed);
  const size_t chosen = std::uniform_int_distribution<size_t>(0, names.size() - 1)(rng);
  const std::string& council = names[chosen];
  for (size_t i = 0; i < names.size(); ++i) {
    if (i != chosen) context.create_councils.push_back(names[i]);
  }
  if (context.create_councils.empty()) {
    context.create_councils = names;
    context.list_activities_exact = false;
  }
  ev1::EventsService::Stub& stub = *context.events_stubs[0];
  for (int i = 1; i <= count; ++i) {
    ev1::CreateActivityRequest request;
    ev1::Activity* activity = request.mutable_activity();
    activity->set_kind(ev1::SEMINAR);
    activity->set_title(absl::StrCat("벤치마크 목록 세미나 ", i));
    activity->add_councils(council);
    ev1::Activity created;
    grpc::Status s = stub.CreateActivity(SetupContext().get(), request, &created);
    if (!s.ok()) return FromGrpc(s, absl::StrCat("CreateActivity for ", council));
  }
  context.list_activities.set_council(council);
  context.list_activities.set_page_size(page_size);
  ev1::ListActivitiesResponse response;
  grpc::Status s = stub.ListActivities(SetupContext().get(), context.list_activities, &response);
  if (!s.ok()) return FromGrpc(s, "ListActivities");
  if (response.total_size() != count) {
    return absl::InternalError(absl::StrFormat("created %d activities for %s, it lists %d",
                                               count, council, response.total_size()));
  }
  context.list_activities_total = count;
  return absl::OkStatus();
}

// Waits (at most 60 s) until the analytics replica answers GetAggregates with every council
// and at least the `activities` seeded, i.e. it has caught up with the change feed.
absl::Status WaitForAnalytics(const ScenarioContext& context, int activities,
                              std::string* ready) {
  const absl::Time start = absl::Now();
  const absl::Time until = start + absl::Seconds(60);
  std::string last;
  while (absl::Now() < until) {
    analytics::v1::Aggregates aggregates;
    grpc::Status s = context.analytics_stubs[0]->GetAggregates(
        SetupContext().get(), analytics::v1::GetAggregatesRequest(), &aggregates);
    if (s.ok() && aggregates.councils() == static_cast<int64_t>(context.council_names.size()) &&
        aggregates.activities() >= activities) {
      *ready = absl::StrFormat(
          "caught up after %.1fs (%d councils, %d activities; all of Aggregates is %d bytes)",
          absl::ToDoubleSeconds(absl::Now() - start), aggregates.councils(),
          aggregates.activities(), aggregates.ByteSizeLong());
      return absl::OkStatus();
    }
    last = s.ok() ? absl::StrFormat("%d councils, %d activities", aggregates.councils(),
                                    aggregates.activities())
                  : absl::StrCat(s.error_code(), ": ", s.error_message());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("analytics did not catch up within 60 s; last GetAggregates: ", last));
}

// How many activities the events store holds, through the API (outside measured windows).
int64_t ActivitiesInStore(ev1::EventsService::Stub& stub) {
  ev1::ListActivitiesRequest request;
  request.set_page_size(1);
  ev1::ListActivitiesResponse response;
  grpc::Status s = stub.ListActivities(SetupContext().get(), request, &response);
  return s.ok() ? response.total_size() : -1;
}

enum class Role { kWarmup, kBaseline, kMeasured };

const char* RoleName(Role role) {
  switch (role) {
    case Role::kWarmup: return "warmup";
    case Role::kBaseline: return "baseline";
    case Role::kMeasured: return "measured";
  }
  return "?";
}

struct Run {
  int number = 0;  // 1-based, in the order the runs happened
  int round = 0;   // 0 for the initial warm-up
  int concurrency = 0;
  const Scenario* scenario = nullptr;
  Role role = Role::kMeasured;
  // For a measured run: the baseline runs just before and just after it (run numbers).
  int before = 0;
  int after = 0;
  // Activities the events store held when the run started (-1: unknown). ListActivities'
  // cost depends on it (see README.md), and CreateActivity runs make it grow.
  int64_t activities_in_store = -1;
  LoadResult result;
};

struct Ratios {
  double qps = 0, p50 = 0, p99 = 0, cpu = 0;
};

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

// A measured run against the mean of the two baseline runs around it.
Ratios RatiosOf(const Run& run, const std::vector<Run>& runs) {
  const LoadResult& x = run.result;
  const LoadResult& b1 = runs[run.before - 1].result;
  const LoadResult& b2 = runs[run.after - 1].result;
  auto mean = [](double a, double b) { return (a + b) / 2; };
  return {Ratio(x.qps, mean(b1.qps, b2.qps)), Ratio(x.p50_ms, mean(b1.p50_ms, b2.p50_ms)),
          Ratio(x.p99_ms, mean(b1.p99_ms, b2.p99_ms)),
          Ratio(x.cpu_us_per_call, mean(b1.cpu_us_per_call, b2.cpu_us_per_call))};
}

// Median (mean of the middle two for an even count), min and max.
struct Spread {
  double median = 0, min = 0, max = 0;
};

Spread SpreadOf(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return {n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v.front(), v.back()};
}

// The issue's aims, as QPS ratios to the empty handler.
double AimFor(const std::string& scenario) {
  if (scenario == "GetCouncil") return 0.8;
  if (scenario == "CreateActivity") return 0.25;
  if (scenario == "GetAggregates") return 0.7;
  return 0;
}

void PrintRunLine(const Run& run) {
  const LoadResult& r = run.result;
  std::printf("%4d %5s %5d  %-15s %8lld %9.0f %8.3f %8.3f %8.3f %8.3f %9.1f %7lld\n",
              run.number, run.round == 0 ? "warm" : absl::StrCat(run.round).c_str(),
              run.concurrency, run.scenario->name.c_str(), static_cast<long long>(r.calls),
              r.qps, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms, r.cpu_us_per_call,
              static_cast<long long>(r.errors));
  std::fflush(stdout);
}

absl::StatusOr<std::vector<int>> ConcurrencyLevels() {
  std::vector<int> levels;
  if (int single = absl::GetFlag(FLAGS_concurrency); single > 0) {
    levels.push_back(single);
    return levels;
  }
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_concurrency_list), ',', absl::SkipWhitespace())) {
    int level = 0;
    if (!absl::SimpleAtoi(part, &level) || level < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--concurrency_list: ", part, " is not a positive number"));
    }
    levels.push_back(level);
  }
  if (levels.empty()) return absl::InvalidArgumentError("--concurrency_list is empty");
  return levels;
}

int Main() {
  SetMinLogLevel(LogLevel::kWarning);
  const std::string data = absl::GetFlag(FLAGS_data);
  absl::StatusOr<std::vector<int>> levels_or = ConcurrencyLevels();
  if (!levels_or.ok()) return Fail(levels_or.status().ToString());
  const std::vector<int> levels = *levels_or;
  LoadOptions load;
  load.channels = absl::GetFlag(FLAGS_channels);
  load.warmup = absl::Seconds(absl::GetFlag(FLAGS_warmup_s));
  load.duration = absl::Seconds(absl::GetFlag(FLAGS_duration_s));
  load.call_deadline = absl::Seconds(absl::GetFlag(FLAGS_deadline_s));
  load.seed = absl::GetFlag(FLAGS_seed);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  const absl::Duration initial_warmup = absl::Seconds(absl::GetFlag(FLAGS_initial_warmup_s));
  const int list_activities = absl::GetFlag(FLAGS_list_activities);
  const int page_size = absl::GetFlag(FLAGS_list_page_size);
  if (load.channels < 1 || rounds < 1 || load.duration <= absl::ZeroDuration() ||
      load.warmup < absl::ZeroDuration() || initial_warmup < absl::ZeroDuration() ||
      load.call_deadline <= absl::ZeroDuration() || list_activities < 1 || page_size < 1) {
    return Fail("--channels, --rounds, --list_activities and --list_page_size must be >= 1, "
                "--duration_s and --deadline_s > 0, --warmup_s and --initial_warmup_s >= 0");
  }
  if (!std::filesystem::exists(data)) {
    return Fail(absl::StrCat("no registry data at ", data, " (pass --data=FILE)"));
  }

  // The registry's database and the private Redis's log, removed at exit.
  sanhak::testing::TempDir dir("sanhak-bench");
  if (dir.path().empty()) return Fail("cannot create a temporary directory");

  // Redis for the change feed: registry and events relay their outbox to it, analytics
  // consumes it. Declared before the servers, so it outlives them.
  sanhak::testing::RedisOptions redis_options;
  redis_options.binary = absl::GetFlag(FLAGS_redis_server);
  redis_options.dir = dir.path();
  sanhak::testing::RedisProcess redis_process(redis_options);
  std::string redis_address = absl::GetFlag(FLAGS_redis);
  std::string redis_note;
  if (redis_address.empty()) {
    if (absl::Status s = redis_process.Start(); !s.ok()) {
      return Fail(absl::StrCat("redis-server: ", s.ToString()));
    }
    redis_address = redis_process.address();
    redis_note = absl::StrCat("private ", absl::GetFlag(FLAGS_redis_server), " at ",
                              redis_address, " (--save \"\" --appendonly no, killed at exit)");
  } else {
    redis_note = absl::StrCat("existing Redis at ", redis_address, " (--redis)");
  }

  // The same runtime and options for every server; only the hosted service differs.
  ServerOptions server_options;
  server_options.listen_address = "127.0.0.1:0";
  server_options.log_calls = false;
  server_options.drain_deadline = absl::Seconds(2);

  EmptyServiceImpl empty_service;
  auto baseline_server = GrpcServer::Start(
      server_options, {{&empty_service, kBaselineServiceName, [] { return absl::OkStatus(); }}});
  if (!baseline_server.ok()) {
    return Fail(absl::StrCat("baseline server: ", baseline_server.status().ToString()));
  }
  EmptyCallbackServiceImpl empty_callback_service;
  auto callback_server = GrpcServer::Start(
      server_options,
      {{&empty_callback_service, kBaselineServiceName, [] { return absl::OkStatus(); }}});
  if (!callback_server.ok()) {
    return Fail(absl::StrCat("callback baseline server: ", callback_server.status().ToString()));
  }
  registry::RegistryConfig registry_config;
  registry_config.server = server_options;
  registry_config.database_path = dir.path() + "/registry.db";
  registry_config.import_path = data;
  registry_config.redis_address = redis_address;
  auto registry_server = registry::RegistryServer::Start(registry_config);
  if (!registry_server.ok()) {
    return Fail(absl::StrCat("registry: ", registry_server.status().ToString()));
  }
  absl::StatusOr<std::string> holds = (*registry_server)->Describe();
  events::EventsConfig events_config;
  events_config.server = server_options;
  events_config.database_path = dir.path() + "/events.db";
  events_config.registry_address = (*registry_server)->address();
  events_config.redis_address = redis_address;
  auto events_server = events::EventsServer::Start(events_config);
  if (!events_server.ok()) {
    return Fail(absl::StrCat("events: ", events_server.status().ToString()));
  }
  analytics::AnalyticsConfig analytics_config;
  analytics_config.server = server_options;
  analytics_config.registry_address = (*registry_server)->address();
  analytics_config.events_address = (*events_server)->address();
  analytics_config.engine.redis_address = redis_address;
  auto analytics_server = analytics::AnalyticsServer::Start(analytics_config);
  if (!analytics_server.ok()) {
    return Fail(absl::StrCat("analytics: ", analytics_server.status().ToString()));
  }
  const bool watch = absl::GetFlag(FLAGS_watch);
  WatchOptions watch_options;
  watch_options.watchers = absl::GetFlag(FLAGS_watchers);
  watch_options.write_rate = absl::GetFlag(FLAGS_write_rate);
  watch_options.duration = absl::Seconds(absl::GetFlag(FLAGS_watch_duration_s));
  watch_options.drain_limit = absl::Seconds(absl::GetFlag(FLAGS_watch_drain_s));
  watch_options.setup_limit = absl::Seconds(absl::GetFlag(FLAGS_watch_setup_s));
  watch_options.call_deadline = load.call_deadline;
  if (watch && (watch_options.watchers < 1 || watch_options.write_rate <= 0 ||
                watch_options.duration <= absl::ZeroDuration() ||
                watch_options.drain_limit < absl::ZeroDuration())) {
    return Fail("--watchers must be >= 1, --write_rate and --watch_duration_s > 0");
  }

  int exit_code = 0;
  {
    ScenarioContext context;
    auto baseline_channels = Connect((*baseline_server)->address(), load.channels, 0);
    auto registry_channels = Connect((*registry_server)->address(), load.channels, 1);
    auto events_channels = Connect((*events_server)->address(), load.channels, 2);
    auto analytics_channels = Connect((*analytics_server)->address(), load.channels, 3);
    auto callback_channels = Connect((*callback_server)->address(), load.channels, 4);
    if (!callback_channels.ok()) return Fail(callback_channels.status().ToString());
    if (!analytics_channels.ok()) return Fail(analytics_channels.status().ToString());
    if (!baseline_channels.ok()) return Fail(baseline_channels.status().ToString());
    if (!registry_channels.ok()) return Fail(registry_channels.status().ToString());
    if (!events_channels.ok()) return Fail(events_channels.status().ToString());
    for (int i = 0; i < load.channels; ++i) {
      context.baseline_stubs.push_back(v1::EmptyService::NewStub((*baseline_channels)[i]));
      context.callback_stubs.push_back(v1::EmptyService::NewStub((*callback_channels)[i]));
      context.registry_stubs.push_back(rv1::RegistryService::NewStub((*registry_channels)[i]));
      context.events_stubs.push_back(ev1::EventsService::NewStub((*events_channels)[i]));
      context.analytics_stubs.push_back(
          analytics::v1::AnalyticsService::NewStub((*analytics_channels)[i]));
    }
    absl::StatusOr<std::vector<std::string>> names = CouncilNames(*context.registry_stubs[0]);
    if (!names.ok()) return Fail(names.status().ToString());
    if (names->empty()) return Fail(absl::StrCat(data, " holds no councils"));
    context.council_names = *std::move(names);
    std::string filter_note;
    if (absl::Status s = ResolveListFilter(context, &filter_note); !s.ok()) {
      return Fail(s.ToString());
    }
    if (absl::Status s = SeedListActivities(context, load.seed, list_activities, page_size);
        !s.ok()) {
      return Fail(s.ToString());
    }
    absl::StatusOr<std::string> events_holds = (*events_server)->Describe();
    for (absl::string_view m : absl::StrSplit(absl::GetFlag(FLAGS_aggregates_metrics), ',',
                                              absl::SkipWhitespace())) {
      context.get_aggregates.add_metrics(std::string(m));
    }
    std::string analytics_ready;
    if (absl::Status s = WaitForAnalytics(context, list_activities, &analytics_ready); !s.ok()) {
      return Fail(s.ToString());
    }

    Scenario baseline = BaselineScenario(context);
    std::vector<Scenario> all = MeasuredScenarios(context);
    std::vector<const Scenario*> selected;
    std::string wanted = absl::GetFlag(FLAGS_scenarios);
    if (wanted.empty()) {
      for (const Scenario& s : all) selected.push_back(&s);
    } else {
      for (absl::string_view name : absl::StrSplit(wanted, ',', absl::SkipWhitespace())) {
        auto it = std::find_if(all.begin(), all.end(),
                               [&](const Scenario& s) { return s.name == name; });
        if (it == all.end()) {
          std::vector<std::string> known;
          for (const Scenario& s : all) known.push_back(s.name);
          return Fail(absl::StrCat("unknown scenario ", name, "; known: ",
                                   absl::StrJoin(known, ",")));
        }
        selected.push_back(&*it);
      }
    }
    if (selected.empty()) return Fail("--scenarios selects nothing");
    const double watch_estimate_s =
        watch ? 2 * (absl::ToDoubleSeconds(watch_options.duration) + 3) : 0;

    const int n = static_cast<int>(selected.size());
    const int measured_runs = rounds * static_cast<int>(levels.size()) * (2 * n + 1);
    const int warmup_runs = initial_warmup > absl::ZeroDuration() ? n + 1 : 0;
    const double estimate_s =
        measured_runs * absl::ToDoubleSeconds(load.warmup + load.duration) +
        warmup_runs * absl::ToDoubleSeconds(initial_warmup) + watch_estimate_s;

    const auto& imported = (*registry_server)->import_summary();
    std::printf("sanhak_bench  gRPC %s, %u CPUs\n", grpc::Version().c_str(),
                std::thread::hardware_concurrency());
    std::printf("servers: in this process, all started by sanhak::GrpcServer::Start with the "
                "same ServerOptions (listen 127.0.0.1:0, log_calls=false)\n");
    std::printf("  baseline  %s at %s\n", kBaselineServiceName,
                (*baseline_server)->address().c_str());
    std::printf("  registry  %s at %s, fresh SQLite %s\n", registry::kRegistryServiceName,
                (*registry_server)->address().c_str(), registry_config.database_path.c_str());
    std::printf("            imported %s (created %d, updated %d, unchanged %d); holds %s\n",
                data.c_str(), imported.created, imported.updated, imported.unchanged,
                holds.ok() ? holds->c_str() : holds.status().ToString().c_str());
    std::printf("  events    %s at %s, fresh SQLite %s (%s), registry at %s, %s\n",
                events::kEventsServiceName, (*events_server)->address().c_str(),
                events_config.database_path.c_str(), FileSystemType(dir.path()).c_str(),
                events_config.registry_address.c_str(),
                events_config.redis_address.empty()
                    ? "no Redis (change records stay in the outbox)"
                    : absl::StrCat("change feed relayed to Redis at ",
                                   events_config.redis_address)
                          .c_str());
    std::printf("            after setup holds %s\n",
                events_holds.ok() ? events_holds->c_str()
                                  : events_holds.status().ToString().c_str());
    std::printf("  analytics %s at %s, one replica, consuming the change feed; %s\n",
                analytics::kAnalyticsServiceName, (*analytics_server)->address().c_str(),
                analytics_ready.c_str());
    std::printf("  redis     %s; registry and events relay their outbox to it\n",
                redis_note.c_str());
    std::printf("load: closed loop over %d channels per server (callback API), concurrency %s; "
                "%d rounds; per run warm-up %.2fs + measured %.2fs; call deadline %.0fs\n",
                load.channels, absl::StrJoin(levels, ", ").c_str(), rounds,
                absl::ToDoubleSeconds(load.warmup), absl::ToDoubleSeconds(load.duration),
                absl::ToDoubleSeconds(load.call_deadline));
    std::printf("scenarios:\n  %-15s %s\n", baseline.name.c_str(), baseline.description.c_str());
    for (const Scenario* s : selected) {
      std::printf("  %-15s %s\n", s->name.c_str(), s->description.c_str());
    }
    if (!filter_note.empty()) std::printf("note: %s\n", filter_note.c_str());
    std::printf("order: %s; then in each round, at each concurrency level: Empty, S, Empty, S, "
                "..., Empty (the scenario order rotates by one each round); each scenario run "
                "is compared with the mean of the Empty runs right before and after it\n",
                warmup_runs > 0
                    ? absl::StrFormat("%.1fs unmeasured warm-up of each at concurrency %d",
                                      absl::ToDoubleSeconds(initial_warmup),
                                      *std::max_element(levels.begin(), levels.end()))
                          .c_str()
                    : "no initial warm-up");
    std::printf("expected run time: about %.0fs (%d runs)\n\n", estimate_s,
                measured_runs + warmup_runs);

    std::printf(" run round  conc  scenario           calls       QPS   p50 ms   p90 ms   p99 ms "
                "  max ms  cpu us/c  errors\n");
    std::vector<Run> runs;
    auto execute = [&](Run run, const LoadOptions& options) -> const Run& {
      run.number = static_cast<int>(runs.size()) + 1;
      run.concurrency = options.concurrency;
      run.activities_in_store = ActivitiesInStore(*context.events_stubs[0]);
      run.result = RunClosedLoop(run.scenario->issue, options);
      PrintRunLine(run);
      runs.push_back(std::move(run));
      return runs.back();
    };

    if (warmup_runs > 0) {
      LoadOptions options = load;
      options.concurrency = *std::max_element(levels.begin(), levels.end());
      options.warmup = absl::ZeroDuration();
      options.duration = initial_warmup;
      Run run;
      run.role = Role::kWarmup;
      run.scenario = &baseline;
      execute(run, options);
      for (const Scenario* s : selected) {
        run.scenario = s;
        execute(run, options);
      }
    }
    for (int round = 1; round <= rounds; ++round) {
      for (int level : levels) {
        LoadOptions options = load;
        options.concurrency = level;
        // A different seed each run, so that runs do not repeat the same choices.
        Run base;
        base.round = round;
        base.role = Role::kBaseline;
        base.scenario = &baseline;
        options.seed = load.seed + runs.size();
        int previous = execute(base, options).number;
        for (int i = 0; i < n; ++i) {
          Run run;
          run.round = round;
          run.role = Role::kMeasured;
          run.scenario = selected[(i + round - 1) % n];
          run.before = previous;
          options.seed = load.seed + runs.size();
          const int index = execute(run, options).number - 1;
          options.seed = load.seed + runs.size();
          previous = execute(base, options).number;
          runs[index].after = previous;
        }
      }
    }

    // ------------------------------------------------------------------ summary
    std::printf("\nratios to the empty handler at the same concurrency: median of %d rounds "
                "[min-max]\n",
                rounds);
    std::printf("  QPS ratio     = scenario QPS / baseline QPS       (1.0 = as fast as an empty "
                "handler; lower = slower)\n");
    std::printf("  latency ratio = scenario latency / baseline latency (1.0 = same; higher = "
                "slower)\n");
    std::printf("  cpu ratio     = scenario CPU per call / baseline CPU per call\n");
    std::printf("  baseline      = mean of the Empty runs right before and right after the "
                "scenario run, same round and concurrency\n");
    std::printf("  absolute      = medians of the scenario's own runs\n");
    std::printf("scenario         conc  QPS ratio [min-max]    p50 ratio [min-max]  p99 ratio "
                "[min-max]  cpu r.       QPS   p50 ms   p99 ms  aim (QPS ratio)\n");
    std::vector<std::string> summary_lines;
    std::vector<std::string> notes;
    for (int level : levels) {
      std::vector<double> base_qps, base_p50, base_p99, neighbours;
      const Run* last = nullptr;
      for (const Run& r : runs) {
        if (r.role != Role::kBaseline || r.concurrency != level) continue;
        base_qps.push_back(r.result.qps);
        base_p50.push_back(r.result.p50_ms);
        base_p99.push_back(r.result.p99_ms);
        if (last != nullptr && last->round == r.round) {
          neighbours.push_back(Ratio(r.result.qps, last->result.qps));
        }
        last = &r;
      }
      const Spread bq = SpreadOf(base_qps), bp50 = SpreadOf(base_p50),
                   bp99 = SpreadOf(base_p99), nb = SpreadOf(neighbours);
      std::printf("%-15s %5d  baseline: QPS %.0f [%.0f-%.0f] over %zu runs, p50 %.3f ms, p99 "
                  "%.3f ms; one Empty run to the next: QPS ratio %.3f-%.3f\n",
                  baseline.name.c_str(), level, bq.median, bq.min, bq.max, base_qps.size(),
                  bp50.median, bp99.median, nb.min, nb.max);
      summary_lines.push_back(absl::StrFormat(
          "RESULT scenario=%s concurrency=%d role=summary runs=%d qps=%.1f qps_min=%.1f "
          "qps_max=%.1f p50_ms=%.4f p99_ms=%.4f neighbour_qps_ratio_min=%.4f "
          "neighbour_qps_ratio_max=%.4f",
          baseline.name, level, base_qps.size(), bq.median, bq.min, bq.max, bp50.median,
          bp99.median, nb.min, nb.max));
      for (const Scenario* s : selected) {
        std::vector<double> qps_r, p50_r, p99_r, cpu_r, qps, p50, p99;
        int64_t store_min = -1, store_max = -1;
        int64_t errors = 0;
        for (const Run& r : runs) {
          if (r.scenario != s || r.concurrency != level) continue;
          errors += r.result.errors;
          if (r.role != Role::kMeasured) continue;
          Ratios x = RatiosOf(r, runs);
          qps_r.push_back(x.qps);
          p50_r.push_back(x.p50);
          p99_r.push_back(x.p99);
          cpu_r.push_back(x.cpu);
          qps.push_back(r.result.qps);
          if (r.activities_in_store >= 0) {
            store_min = store_min < 0 ? r.activities_in_store
                                      : std::min(store_min, r.activities_in_store);
            store_max = std::max(store_max, r.activities_in_store);
          }
          p50.push_back(r.result.p50_ms);
          p99.push_back(r.result.p99_ms);
        }
        const Spread q = SpreadOf(qps_r), l50 = SpreadOf(p50_r), l99 = SpreadOf(p99_r),
                     c = SpreadOf(cpu_r), aq = SpreadOf(qps), a50 = SpreadOf(p50),
                     a99 = SpreadOf(p99);
        std::string aim;
        if (double target = AimFor(s->name); target > 0) {
          aim = absl::StrFormat(">= %.2f %s", target, q.median >= target ? "met" : "MISSED");
        }
        if (errors > 0) absl::StrAppend(&aim, aim.empty() ? "" : "; ", errors, " ERRORS");
        std::printf("%-15s %5d  %5.3f [%5.3f-%5.3f]  %5.2f [%5.2f-%5.2f]  %5.2f [%5.2f-%5.2f]  "
                    "%5.2f %9.0f %8.3f %8.3f  %s\n",
                    s->name.c_str(), level, q.median, q.min, q.max, l50.median, l50.min,
                    l50.max, l99.median, l99.min, l99.max, c.median, aq.median, a50.median,
                    a99.median, aim.c_str());
        summary_lines.push_back(absl::StrFormat(
            "RESULT scenario=%s concurrency=%d role=summary rounds=%d qps_ratio=%.4f "
            "qps_ratio_min=%.4f qps_ratio_max=%.4f p50_ratio=%.4f p50_ratio_min=%.4f "
            "p50_ratio_max=%.4f p99_ratio=%.4f p99_ratio_min=%.4f p99_ratio_max=%.4f "
            "cpu_ratio=%.4f qps=%.1f p50_ms=%.4f p99_ms=%.4f baseline_qps=%.1f errors=%d",
            s->name, level, qps_r.size(), q.median, q.min, q.max, l50.median, l50.min,
            l50.max, l99.median, l99.min, l99.max, c.median, aq.median, a50.median, a99.median,
            bq.median, errors));
        absl::StrAppendFormat(&summary_lines.back(),
                              " activities_in_store_min=%d activities_in_store_max=%d",
                              store_min, store_max);
        if (s->name == "ListActivities") {
          notes.push_back(absl::StrFormat(
              "ListActivities at %d ran while the events store held %d..%d activities in all "
              "(CreateActivity runs add to it); its cost grows with that number, see "
              "bench/README.md",
              level, store_min, store_max));
        }
      }
    }

    for (const std::string& note : notes) std::printf("note: %s\n", note.c_str());

    // ------------------------------------------------------------------ WatchLatency
    bool watch_failed = false;
    if (watch) {
      // Watchers spread over enough connections that none carries more than 100 streams.
      const int watch_channels =
          std::max(load.channels, (watch_options.watchers + 99) / 100);
      auto channels = Connect((*analytics_server)->address(), watch_channels, 4);
      if (!channels.ok()) return Fail(channels.status().ToString());
      std::vector<std::unique_ptr<analytics::v1::AnalyticsService::Stub>> watch_stubs;
      for (auto& channel : *channels) {
        watch_stubs.push_back(analytics::v1::AnalyticsService::NewStub(channel));
      }
      std::printf("\nWatchLatency: open loop, CreateActivity at %.0f/s (1 watcher) and %.0f/s "
                  "(%d watchers) for %.1fs (spread over "
                  "%d events connections), watchers on the one analytics replica over %d "
                  "connections (callback API, one reactor per stream); latency = watcher "
                  "receive time - CreateActivity acknowledgement time, over every (write, "
                  "watcher) pair, matched by AggregatesUpdate.resource_name; updates not "
                  "received %.0fs after the last acknowledgement are misses\n",
                  watch_options.write_rate, absl::GetFlag(FLAGS_fanout_write_rate),
                  watch_options.watchers, absl::ToDoubleSeconds(watch_options.duration),
                  load.channels, watch_channels, absl::ToDoubleSeconds(watch_options.drain_limit));
      std::printf("watchers  ready  setup s  writes  rate/s  ack p50  ack p99      p50 ms   "
                  "p90 ms   p99 ms   max ms  pairs recv/expected  writes seen by all  drain s  "
                  "cpu s  aim (1 watcher: p99 < 50 ms; N: all received)\n");
      std::vector<std::pair<int, double>> phases = {{1, watch_options.write_rate}};
      if (watch_options.watchers != 1) {
        phases.push_back({watch_options.watchers, absl::GetFlag(FLAGS_fanout_write_rate)});
      }
      std::vector<std::string> watch_lines;
      for (auto [watchers, rate] : phases) {
        WatchOptions options = watch_options;
        options.watchers = watchers;
        options.write_rate = rate;
        WatchResult r = RunWatchLatency(watch_stubs, context.events_stubs,
                                        context.create_councils, &context.next_activity,
                                        options);
        const bool complete = r.complete();
        watch_failed = watch_failed || !complete;
        // The latency aim is the 1-watcher phase's; the fan-out phase's aim is that every
        // watcher receives every update (its p99 is reported beside it).
        std::string aim = r.pairs_received == 0 ? "n/a"
                          : watchers == 1       ? (r.p99_ms < 50 ? "met" : "MISSED")
                          : complete            ? "all received: met"
                                                : "MISSED";
        if (!complete) {
          absl::StrAppendFormat(&aim, "; INCOMPLETE: %d pairs missed",
                                r.pairs_expected - r.pairs_received);
        }
        std::printf("%8d %6d %8.2f %7lld %7.1f %8.2f %8.2f  %10.2f %8.2f %8.2f %8.2f  "
                    "%9lld/%-9lld  %8lld/%-8lld  %7.2f %6.2f  %s\n",
                    r.watchers, r.watchers_ready, r.setup_seconds,
                    static_cast<long long>(r.writes), r.achieved_rate, r.ack_p50_ms,
                    r.ack_p99_ms, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms,
                    static_cast<long long>(r.pairs_received),
                    static_cast<long long>(r.pairs_expected),
                    static_cast<long long>(r.writes_seen_by_all),
                    static_cast<long long>(r.writes - r.write_errors), r.drain_seconds,
                    r.cpu_seconds, aim.c_str());
        if (r.watchers_ready < r.watchers) {
          std::printf("  %d of %d watchers had no snapshot within %.0fs; nothing was written\n",
                      r.watchers - r.watchers_ready, r.watchers,
                      absl::ToDoubleSeconds(options.setup_limit));
        }
        if (r.watchers_failed > 0) {
          std::printf("  %d watchers were ended by the server; first: %s\n", r.watchers_failed,
                      r.first_watcher_error.c_str());
        }
        if (r.write_errors > 0) {
          std::printf("  %lld CreateActivity calls failed; first: %s\n",
                      static_cast<long long>(r.write_errors), r.first_write_error.c_str());
        }
        watch_lines.push_back(absl::StrFormat(
            "RESULT scenario=WatchLatency watchers=%d role=watch target_write_rate=%.1f "
            "write_rate=%.1f writes=%d write_errors=%d ack_p50_ms=%.4f ack_p99_ms=%.4f "
            "p50_ms=%.4f p90_ms=%.4f p99_ms=%.4f max_ms=%.4f min_ms=%.4f pairs_expected=%d "
            "pairs_received=%d pairs_missed=%d writes_seen_by_all=%d "
            "fraction_seen_by_all=%.6f watchers_ready=%d watchers_failed=%d setup_s=%.3f "
            "drain_s=%.3f cpu_s=%.3f complete=%d",
            r.watchers, options.write_rate, r.achieved_rate, r.writes, r.write_errors,
            r.ack_p50_ms, r.ack_p99_ms, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms, r.min_ms,
            r.pairs_expected, r.pairs_received, r.pairs_expected - r.pairs_received,
            r.writes_seen_by_all,
            r.writes > r.write_errors
                ? static_cast<double>(r.writes_seen_by_all) / (r.writes - r.write_errors)
                : 0.0,
            r.watchers_ready, r.watchers_failed, r.setup_seconds, r.drain_seconds,
            r.cpu_seconds, complete ? 1 : 0));
      }
      for (const std::string& line : watch_lines) summary_lines.push_back(line);
    }
    std::printf("\n");
    int64_t total_errors = 0;
    for (const Run& r : runs) {
      const LoadResult& x = r.result;
      std::string line = absl::StrFormat(
          "RESULT scenario=%s run=%d round=%d concurrency=%d role=%s qps=%.1f p50_ms=%.4f "
          "p90_ms=%.4f p99_ms=%.4f max_ms=%.4f cpu_us_per_call=%.2f calls=%d errors=%d "
          "activities_in_store=%d",
          r.scenario->name, r.number, r.round, r.concurrency, RoleName(r.role), x.qps, x.p50_ms,
          x.p90_ms, x.p99_ms, x.max_ms, x.cpu_us_per_call, x.calls, x.errors,
          r.activities_in_store);
      if (r.role == Role::kMeasured) {
        Ratios ratios = RatiosOf(r, runs);
        absl::StrAppendFormat(&line,
                              " baseline_runs=%d,%d qps_ratio=%.4f p50_ratio=%.4f "
                              "p99_ratio=%.4f cpu_ratio=%.4f",
                              r.before, r.after, ratios.qps, ratios.p50, ratios.p99, ratios.cpu);
      }
      std::printf("%s\n", line.c_str());
      total_errors += x.errors;
    }
    for (const std::string& line : summary_lines) std::printf("%s\n", line.c_str());
    for (const Run& r : runs) {
      if (r.result.errors == 0) continue;
      std::vector<std::string> codes;
      for (const auto& [code, count] : r.result.errors_by_code) {
        codes.push_back(absl::StrCat(code, "=", count));
      }
      std::printf("ERRORS run=%d scenario=%s concurrency=%d %s first: %s\n", r.number,
                  r.scenario->name.c_str(), r.concurrency, absl::StrJoin(codes, ",").c_str(),
                  r.result.first_error.c_str());
    }
    if (watch_failed) {
      std::printf("FAILED: WatchLatency: not every watcher received every acknowledged write "
                  "(or writes/watchers failed), see above\n");
      exit_code = 1;
    }
    if (total_errors > 0) {
      std::printf("FAILED: %lld calls ended in error; the figures above are not valid\n",
                  static_cast<long long>(total_errors));
      exit_code = 1;
    } else if (!watch_failed) {
      std::printf("OK: no call ended in error\n");
    }
    std::fflush(stdout);
  }
  (*analytics_server)->Shutdown();
  (*events_server)->Shutdown();
  (*registry_server)->Shutdown();
  (*baseline_server)->Shutdown();
  return exit_code;
}

}  // namespace
}  // namespace sanhak::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "sanhak_bench: closed-loop gRPC benchmark of the registry and the events service "
      "against an empty baseline server, all in this process. See bench/README.md.");
  absl::ParseCommandLine(argc, argv);
  return sanhak::bench::Main();
}
