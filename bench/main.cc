// sanhak_bench: starts an empty baseline server on the suite's runtime, a bare gRPC echo
// server, the registry, the events and the analytics service, in this process or in a
// child (--separate_process, the child being this program with --serve), drives each with
// a closed-loop load generator and reports every scenario as ratios to the empty handler
// and to the bare echo server at the same concurrency: the median over several rounds of
// short interleaved runs, each scenario run compared with the baseline runs just before and
// just after it. Then the overload scenario: writes beyond what the servers admit.
// See bench/README.md.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
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
#include "absl/strings/match.h"
#include "bench/bare_echo_server.h"
#include "bench/load_generator.h"
#include "bench/scenarios.h"
#include "bench/security.h"
#include "common/log.h"
#include "bench/servers.h"
#include "bench/watch_latency.h"
#include "common/server.h"
#include "grpcpp/grpcpp.h"
#include "tests/support/child_process.h"
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

// Where the servers run.
ABSL_FLAG(bool, separate_process, false,
          "start the servers in a child process (this program with --serve) and drive them "
          "from this one; CPU per call then sums both processes");
ABSL_FLAG(bool, serve, false,
          "start the servers, print their addresses (a line 'SERVING name=host:port,...') and "
          "serve until SIGTERM/SIGINT; no load");
ABSL_FLAG(bool, serve_bare, false,
          "start the bare echo server alone, print 'SERVING echo=host:port' and serve until "
          "SIGTERM/SIGINT (--separate_process runs it in a process of its own)");
ABSL_FLAG(std::string, load, "",
          "drive servers started elsewhere instead of starting any: "
          "'baseline=H:P,registry=H:P[,callback=H:P][,echo=H:P][,events=H:P][,analytics=H:P]' "
          "(what --serve prints); scenarios whose server is not named are left out");
// Transport security.
ABSL_FLAG(std::string, security, "plaintext",
          "plaintext: every server plaintext (the development mode); tls: the registry, events, "
          "analytics and a second empty baseline serve mutual TLS with authentication and an "
          "authorization policy (certificates, policy, key set and token made at start), the "
          "load generator calls them with a client certificate (and EmptyToken with a bearer "
          "token); scenarios EmptyTls and EmptyToken measure what that costs per call against "
          "the plaintext Empty, every TLS scenario is also reported against EmptyTls (tls r.), "
          "and the handshake (new connection + first call) is measured after the rounds");
ABSL_FLAG(std::string, security_dir, "",
          "--security=tls: the directory holding the certificates, policy, key set and token; "
          "empty: made in a temporary directory at start (--load needs the one its --serve "
          "printed)");
ABSL_FLAG(int, handshakes, 50,
          "--security=tls: per round and per kind (plaintext, tls+cert, tls+token), new "
          "connections each opened and given one Empty call, one after the other; 0 = none");
ABSL_FLAG(std::string, server_cpus, "",
          "CPU list (e.g. 0 or 0-1) the server process is bound to (--serve, "
          "--separate_process); empty: not bound");
ABSL_FLAG(std::string, client_cpus, "",
          "CPU list this (load generating) process is bound to; empty: not bound");
// The suite servers' options (the bare echo server takes gRPC's defaults).
ABSL_FLAG(int, max_writes_in_flight, 256,
          "ServerOptions::max_writes_in_flight of the suite servers: writes admitted at once, "
          "beyond it refused with RESOURCE_EXHAUSTED (the services' default is 1024; lower here "
          "so that the overload scenario's highest level meets the bound)");
ABSL_FLAG(int, max_concurrent_streams, 64,
          "ServerOptions::max_concurrent_streams of the suite servers (per connection; the "
          "services' default is 64)");
ABSL_FLAG(std::string, db, "sqlite",
          "registry's and events' engine: sqlite (a fresh file each) or postgresql (a private "
          "PostgreSQL 15 server started for the run, a fresh database each)");
ABSL_FLAG(int, replicas, 1,
          "registry and events servers each (> 1 only with --db=postgresql): replicas on one "
          "database per service sharing one page token key; calls spread over them by "
          "channel (--channels a multiple of --replicas)");
ABSL_FLAG(bool, server_log_calls, false,
          "the suite servers log one line per call (the binaries' default; off here)");
ABSL_FLAG(bool, server_metrics, false,
          "the suite servers record call metrics and serve them on 127.0.0.1:0 (the binaries "
          "serve them when --metrics_listen is set; off here)");
// The overload scenario.
ABSL_FLAG(bool, overload, true,
          "after the rounds: the overload scenario (CreateActivity and CreateOrganization at "
          "--overload_list calls in flight, refusals counted apart from errors)");
ABSL_FLAG(std::string, overload_list, "128,512", "overload scenario: calls in flight");
ABSL_FLAG(int, overload_channels, 8,
          "overload scenario: client connections per server the calls are spread over");
ABSL_FLAG(std::string, overload_clients, "at_once,retry_info",
          "overload scenario: how a refused caller goes on, each a run of its own: at_once (calls "
          "again at once, a hostile caller), retry_info (waits the RetryInfo delay the refusal "
          "carries, a well-behaved one)");
ABSL_FLAG(int, overload_rounds, 1,
          "overload scenario: runs of each (write, level); the report gives the median");

namespace sanhak::bench {
namespace {

namespace rv1 = ::sanhak::registry::v1;
namespace ev1 = ::sanhak::events::v1;

int Fail(const std::string& message) {
  std::fprintf(stderr, "sanhak_bench: %s\n", message.c_str());
  return 2;
}

// The credentials the load generator dials with.
struct Dialing {
  // The plaintext servers' (baseline, callback, echo; all of them in plaintext mode).
  std::shared_ptr<grpc::ChannelCredentials> plaintext = grpc::InsecureChannelCredentials();
  // The suite servers' (registry, events, analytics, tls): the bench client's certificate
  // with --security=tls; plaintext otherwise.
  std::shared_ptr<grpc::ChannelCredentials> suite = grpc::InsecureChannelCredentials();
  // EmptyToken's: TLS without a certificate, the bearer token on every call; null in
  // plaintext mode.
  std::shared_ptr<grpc::ChannelCredentials> token;
};

absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> Connect(
    const std::string& address, int count, int server,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    // Distinct args and a private subchannel pool: each channel gets its own connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("sanhak.bench.channel_index", server * 1000 + i);
    auto channel =
        grpc::CreateCustomChannel(address, credentials, args);
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
  // More than created when the events service already held some for that council (servers
  // kept across runs, --load); nothing else adds to it while measuring.
  if (response.total_size() < count) {
    return absl::InternalError(absl::StrFormat("created %d activities for %s, it lists %d",
                                               count, council, response.total_size()));
  }
  context.list_activities_total = response.total_size();
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

// The second baseline's scenario name (see scenarios.cc).
constexpr char kBareScenario[] = "BareEcho";

ServerSetup SetupFromFlags() {
  ServerSetup setup;
  setup.data = absl::GetFlag(FLAGS_data);
  setup.redis = absl::GetFlag(FLAGS_redis);
  setup.redis_server = absl::GetFlag(FLAGS_redis_server);
  setup.max_writes_in_flight = absl::GetFlag(FLAGS_max_writes_in_flight);
  setup.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  setup.log_calls = absl::GetFlag(FLAGS_server_log_calls);
  setup.metrics = absl::GetFlag(FLAGS_server_metrics);
  setup.security_dir = absl::GetFlag(FLAGS_security_dir);
  setup.db = absl::GetFlag(FLAGS_db);
  setup.replicas = absl::GetFlag(FLAGS_replicas);
  return setup;
}

// The 1-minute load average, for the header: on a shared machine it says how much else ran.
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return in ? absl::StrCat(one, " ", five, " ", fifteen) : "unknown";
}

// Starts this program with --serve (and the server flags), or with --serve_bare when
// `bare`, as a child whose output goes to files in `dir`, and waits (at most 120 s: the
// import and every server's start) for its "SERVING ..." line. The lines before it
// describe the servers.
absl::Status StartServeChild(const ServerSetup& setup, const std::string& server_cpus,
                             bool bare, const sanhak::testing::TempDir& dir,
                             sanhak::testing::ChildProcess* child, ServerAddresses* addresses,
                             std::vector<std::string>* lines) {
  if (dir.path().empty()) return absl::InternalError("cannot create a temporary directory");
  std::error_code error;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe", error).string();
  if (error) return absl::InternalError(absl::StrCat("/proc/self/exe: ", error.message()));
  const std::string out = dir.File(bare ? "serve_bare.out" : "serve.out");
  const std::string err = dir.File(bare ? "serve_bare.err" : "serve.err");
  std::vector<std::string> argv = {
      self,
      bare ? "--serve_bare" : "--serve",
      absl::StrCat("--data=", setup.data),
      absl::StrCat("--redis=", setup.redis),
      absl::StrCat("--redis_server=", setup.redis_server),
      absl::StrCat("--max_writes_in_flight=", setup.max_writes_in_flight),
      absl::StrCat("--max_concurrent_streams=", setup.max_concurrent_streams),
      absl::StrCat("--server_log_calls=", setup.log_calls ? "true" : "false"),
      absl::StrCat("--server_metrics=", setup.metrics ? "true" : "false"),
      absl::StrCat("--server_cpus=", server_cpus),
      absl::StrCat("--db=", setup.db),
      absl::StrCat("--replicas=", setup.replicas),
  };
  if (!bare && !setup.security_dir.empty()) {
    argv.push_back("--security=tls");
    argv.push_back(absl::StrCat("--security_dir=", setup.security_dir));
  }
  sanhak::testing::ChildStreams streams;
  streams.stdout_path = out;
  streams.stderr_path = err;
  streams.truncate = true;
  if (absl::Status s = child->Start(argv, streams); !s.ok()) return s;
  const absl::Time until = absl::Now() + absl::Seconds(120);
  while (absl::Now() < until) {
    std::ifstream in(out);
    std::vector<std::string> seen;
    for (std::string line; std::getline(in, line);) {
      if (absl::StartsWith(line, "SERVING ")) {
        absl::StatusOr<ServerAddresses> parsed = ParseAddresses(line.substr(8));
        if (!parsed.ok()) return parsed.status();
        *addresses = *parsed;
        *lines = std::move(seen);
        return absl::OkStatus();
      }
      seen.push_back(line);
    }
    if (child->Poll().has_value()) {
      std::ifstream e(err);
      std::string text((std::istreambuf_iterator<char>(e)), std::istreambuf_iterator<char>());
      return absl::InternalError(absl::StrCat("the --serve child exited with status ",
                                              child->exit_status(), " before serving: ",
                                              text.substr(text.size() > 2000 ? text.size() - 2000
                                                                             : 0)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError("the --serve child printed no SERVING line within 120 s");
}

template <typename Service>
absl::Status AddStubs(const std::string& address, int channels, int server,
                      const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                      std::vector<std::unique_ptr<typename Service::Stub>>* stubs) {
  if (address.empty() || credentials == nullptr) return absl::OkStatus();
  // Replicas ("H:P+H:P+..."): the channels go round-robin over them, so calls (each on
  // the channel its slot was given) spread evenly when channels is a multiple of them.
  const std::vector<std::string> replicas = ReplicaAddresses(address);
  std::vector<std::unique_ptr<typename Service::Stub>> by_replica[16];
  if (replicas.size() > 16 || static_cast<int>(replicas.size()) > channels) {
    return absl::InvalidArgumentError(absl::StrCat(
        address, ": more replicas than --channels (", channels, ") or 16"));
  }
  for (size_t r = 0; r < replicas.size(); ++r) {
    const int mine = (channels - static_cast<int>(r) + static_cast<int>(replicas.size()) - 1) /
                     static_cast<int>(replicas.size());
    auto connected = Connect(replicas[r], mine, server, credentials);
    if (!connected.ok()) return connected.status();
    for (auto& channel : *connected) by_replica[r].push_back(Service::NewStub(channel));
  }
  for (int i = 0; i < channels; ++i) {
    auto& from = by_replica[i % replicas.size()];
    stubs->push_back(std::move(from[i / replicas.size()]));
  }
  return absl::OkStatus();
}

// Stubs on `channels` connections to each server that runs. `first_server` keeps the
// connections of different calls of this apart (distinct channel args).
absl::Status ConnectAll(const ServerAddresses& a, int channels, int first_server,
                        const Dialing& dialing, ScenarioContext& c) {
  int server = first_server;
  const auto& plain = dialing.plaintext;
  const auto& suite = dialing.suite;
  for (absl::Status s : {
           AddStubs<v1::EmptyService>(a.baseline, channels, server++, plain, &c.baseline_stubs),
           AddStubs<v1::EmptyService>(a.callback, channels, server++, plain, &c.callback_stubs),
           AddStubs<echo::EchoService>(a.echo, channels, server++, plain, &c.echo_stubs),
           AddStubs<v1::EmptyService>(a.tls, channels, server++, suite, &c.tls_stubs),
           AddStubs<v1::EmptyService>(a.tls, channels, server++, dialing.token,
                                      &c.token_stubs),
           AddStubs<rv1::RegistryService>(a.registry, channels, server++, suite,
                                          &c.registry_stubs),
           AddStubs<ev1::EventsService>(a.events, channels, server++, suite, &c.events_stubs),
           AddStubs<analytics::v1::AnalyticsService>(a.analytics, channels, server++, suite,
                                                     &c.analytics_stubs)}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
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

// The aims as QPS ratios to the bare echo server (measured in separate-process mode).
double BareAimFor(const std::string& scenario) {
  if (scenario == "GetCouncil") return 0.8;
  return 0;
}

// A measured run's ratios to the run of scenario `reference` in the same round and level,
// each taken against its own Empty neighbours (so a drift of the machine between the two
// cancels); all 0 when that round has no such run.
Ratios RatiosTo(const Run& run, const std::vector<Run>& runs, absl::string_view reference) {
  for (const Run& b : runs) {
    if (b.role == Role::kMeasured && b.round == run.round && b.concurrency == run.concurrency &&
        b.scenario->name == reference) {
      const Ratios x = RatiosOf(run, runs), y = RatiosOf(b, runs);
      return {Ratio(x.qps, y.qps), Ratio(x.p50, y.p50), Ratio(x.p99, y.p99), Ratio(x.cpu, y.cpu)};
    }
  }
  return {};
}

// The QPS ratio to the BareEcho run of the same round and level (see RatiosTo).
double BareRatioOf(const Run& run, const std::vector<Run>& runs) {
  return RatiosTo(run, runs, kBareScenario).qps;
}

// --security=tls: the QPS ratio to the EmptyTls run of the same round and level: a TLS
// scenario against the empty handler behind the same TLS.
double TlsRatioOf(const Run& run, const std::vector<Run>& runs) {
  return RatiosTo(run, runs, kTlsScenario).qps;
}

// What a measured run adds per call to the mean of its two Empty neighbours: p50 latency
// (ms) and CPU (us).
struct Added {
  double p50_ms = 0, cpu_us = 0;
};
Added AddedOf(const Run& run, const std::vector<Run>& runs) {
  const LoadResult& x = run.result;
  const LoadResult& b1 = runs[run.before - 1].result;
  const LoadResult& b2 = runs[run.after - 1].result;
  return {x.p50_ms - (b1.p50_ms + b2.p50_ms) / 2,
          x.cpu_us_per_call - (b1.cpu_us_per_call + b2.cpu_us_per_call) / 2};
}

// Nearest-rank percentile of `v` (sorted here); 0 when empty.
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100 * v.size()));
  return v[std::min(v.size(), std::max<size_t>(rank, 1)) - 1];
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

// A comma-separated list of positive numbers (flag `name`).
absl::StatusOr<std::vector<int>> ParseLevels(absl::string_view name, absl::string_view text) {
  std::vector<int> levels;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int level = 0;
    if (!absl::SimpleAtoi(part, &level) || level < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", part, " is not a positive number"));
    }
    levels.push_back(level);
  }
  if (levels.empty()) return absl::InvalidArgumentError(absl::StrCat(name, " is empty"));
  return levels;
}

absl::StatusOr<std::vector<int>> ConcurrencyLevels() {
  if (int single = absl::GetFlag(FLAGS_concurrency); single > 0) return std::vector<int>{single};
  return ParseLevels("--concurrency_list", absl::GetFlag(FLAGS_concurrency_list));
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
  if (absl::GetFlag(FLAGS_load).empty() && !std::filesystem::exists(data)) {
    return Fail(absl::StrCat("no registry data at ", data, " (pass --data=FILE)"));
  }

  // --security=tls: the certificates, policy, key set and token, made here before any
  // server starts (in-process, and passed to the --serve child by directory), or those a
  // --serve made (--load, --security_dir).
  const std::string security_mode = absl::GetFlag(FLAGS_security);
  if (security_mode != "plaintext" && security_mode != "tls") {
    return Fail(absl::StrCat("--security=", security_mode, ": plaintext or tls"));
  }
  const bool secure = security_mode == "tls";
  ServerSetup setup = SetupFromFlags();
  sanhak::testing::TempDir security_temp("sanhak-bench-security");
  Dialing dialing;
  std::optional<SecurityFiles> security;
  if (secure) {
    absl::StatusOr<SecurityFiles> files;
    if (setup.security_dir.empty()) {
      if (!absl::GetFlag(FLAGS_load).empty()) {
        return Fail("--load with --security=tls needs --security_dir (the directory its "
                    "--serve printed)");
      }
      if (security_temp.path().empty()) return Fail("cannot create a temporary directory");
      files = CreateSecurityFiles(security_temp.path());
      setup.security_dir = security_temp.path();
    } else {
      files = ReadSecurityFiles(setup.security_dir);
    }
    if (!files.ok()) return Fail(files.status().ToString());
    security = *std::move(files);
    auto cert = CertificateCredentials(*security);
    if (!cert.ok()) return Fail(cert.status().ToString());
    auto token = TokenCredentials(*security);
    if (!token.ok()) return Fail(token.status().ToString());
    dialing.suite = *std::move(cert);
    dialing.token = *std::move(token);
  } else if (!setup.security_dir.empty()) {
    return Fail("--security_dir needs --security=tls");
  }
  const int handshakes = secure ? absl::GetFlag(FLAGS_handshakes) : 0;
  if (handshakes < 0) return Fail("--handshakes must be >= 0");

  // The servers: in this process, in a child started with --serve (separate-process
  // mode), or started elsewhere (--load).
  const std::string load_flag = absl::GetFlag(FLAGS_load);
  const bool separate = absl::GetFlag(FLAGS_separate_process);
  const std::string server_cpus = absl::GetFlag(FLAGS_server_cpus);
  const std::string client_cpus = absl::GetFlag(FLAGS_client_cpus);
  if (!load_flag.empty() && separate) {
    return Fail("--load and --separate_process exclude each other");
  }
  if (!server_cpus.empty() && !separate) {
    return Fail("--server_cpus needs --separate_process (or --serve)");
  }
  if (absl::Status s = PinToCpus(client_cpus); !s.ok()) return Fail(s.ToString());
  std::unique_ptr<BenchServers> local;
  // The --serve child's output files; removed at exit.
  sanhak::testing::TempDir serve_dir("sanhak-bench-serve");
  sanhak::testing::ChildProcess child;
  sanhak::testing::ChildProcess bare_child;
  ServerAddresses addresses;
  std::vector<std::string> server_lines;
  std::string mode;
  if (!load_flag.empty()) {
    absl::StatusOr<ServerAddresses> parsed = ParseAddresses(load_flag);
    if (!parsed.ok()) return Fail(parsed.status().ToString());
    addresses = *parsed;
    if (addresses.baseline.empty() || addresses.registry.empty()) {
      return Fail("--load needs at least baseline=HOST:PORT and registry=HOST:PORT");
    }
    mode = "servers started elsewhere (--load); CPU per call is this process's only";
    server_lines.push_back(absl::StrCat("  ", FormatAddresses(addresses)));
  } else if (separate) {
    absl::Status s = StartServeChild(setup, server_cpus, /*bare=*/false, serve_dir, &child,
                                     &addresses, &server_lines);
    if (!s.ok()) return Fail(s.ToString());
    // The bare echo server in a process of its own: gRPC's pollers are process-wide, so in
    // the suite's process the suite servers' threads would poll its connections too.
    ServerAddresses bare_addresses;
    std::vector<std::string> bare_lines;
    s = StartServeChild(setup, server_cpus, /*bare=*/true, serve_dir, &bare_child,
                        &bare_addresses, &bare_lines);
    if (!s.ok()) return Fail(s.ToString());
    addresses.echo = bare_addresses.echo;
    // The suite process's own echo server is not driven in this mode.
    server_lines.erase(std::remove_if(server_lines.begin(), server_lines.end(),
                                      [](const std::string& line) {
                                        return absl::StartsWith(line, "  echo ");
                                      }),
                       server_lines.end());
    for (std::string& line : bare_lines) server_lines.push_back(std::move(line));
    const int pid = child.pid();
    const int bare_pid = bare_child.pid();
    load.server_cpu_seconds = [pid, bare_pid] {
      return ProcessCpuSeconds(pid) + ProcessCpuSeconds(bare_pid) + PostgresCpuSeconds(pid);
    };
    mode = absl::StrFormat(
        "separate processes: suite servers in pid %d (this program with --serve), the bare "
        "echo server alone in pid %d (--serve_bare), both on CPUs %s; load generator in pid "
        "%d (CPUs %s); CPU per call sums the three%s",
        pid, bare_pid, server_cpus.empty() ? "not bound" : server_cpus, getpid(),
        client_cpus.empty() ? "not bound" : client_cpus,
        setup.db == "postgresql"
            ? " and the PostgreSQL processes below the first (on its CPUs too)"
            : "");
  } else {
    absl::StatusOr<std::unique_ptr<BenchServers>> started = BenchServers::Start(setup);
    if (!started.ok()) return Fail(started.status().ToString());
    local = *std::move(started);
    addresses = local->addresses();
    server_lines = local->description();
    mode = absl::StrFormat("in-process: load generator and servers share this process (CPUs "
                           "%s)",
                           client_cpus.empty() ? "not bound" : client_cpus);
    if (setup.db == "postgresql") {
      // The database's work is in its own processes: counted as the "server" share.
      load.server_cpu_seconds = [] { return PostgresCpuSeconds(getpid()); };
      absl::StrAppend(&mode, "; CPU per call adds the PostgreSQL processes' "
                             "(server_cpu_us_per_call is theirs)");
    }
  }
  const bool watch = absl::GetFlag(FLAGS_watch) && !addresses.analytics.empty() &&
                     !addresses.events.empty();
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
    context.run_tag = absl::StrFormat(
        "%06x", static_cast<uint32_t>(absl::ToUnixMicros(absl::Now()) ^ getpid()) & 0xffffff);
    // A TLS server named to a plaintext run (--load) is not driven: nothing dials it.
    if (!secure) addresses.tls.clear();
    if (secure && addresses.tls.empty()) {
      return Fail("--security=tls: no tls=HOST:PORT server (the TLS empty handler) runs");
    }
    if (absl::Status s = ConnectAll(addresses, load.channels, 0, dialing, context); !s.ok()) {
      return Fail(s.ToString());
    }
    absl::StatusOr<std::vector<std::string>> names = CouncilNames(*context.registry_stubs[0]);
    if (!names.ok()) return Fail(names.status().ToString());
    if (names->empty()) return Fail("the registry holds no councils");
    context.council_names = *std::move(names);
    std::string filter_note;
    if (absl::Status s = ResolveListFilter(context, &filter_note); !s.ok()) {
      return Fail(s.ToString());
    }
    if (!context.events_stubs.empty()) {
      if (absl::Status s = SeedListActivities(context, load.seed, list_activities, page_size);
          !s.ok()) {
        return Fail(s.ToString());
      }
    }
    for (absl::string_view m : absl::StrSplit(absl::GetFlag(FLAGS_aggregates_metrics), ',',
                                              absl::SkipWhitespace())) {
      context.get_aggregates.add_metrics(std::string(m));
    }
    std::string analytics_ready;
    if (!context.analytics_stubs.empty()) {
      if (absl::Status s = WaitForAnalytics(context, list_activities, &analytics_ready);
          !s.ok()) {
        return Fail(s.ToString());
      }
    }

    Scenario baseline = BaselineScenario(context);
    std::vector<Scenario> all = MeasuredScenarios(context);
    std::vector<const Scenario*> selected;
    std::string wanted = absl::GetFlag(FLAGS_scenarios);
    const Scenario* bare = nullptr;
    for (const Scenario& s : all) {
      if (s.name == kBareScenario) bare = &s;
    }
    if (wanted.empty()) {
      for (const Scenario& s : all) selected.push_back(&s);
    } else {
      for (absl::string_view name : absl::StrSplit(wanted, ',', absl::SkipWhitespace())) {
        auto it = std::find_if(all.begin(), all.end(),
                               [&](const Scenario& s) { return s.name == name; });
        if (it == all.end()) {
          std::vector<std::string> known;
          for (const Scenario& s : all) known.push_back(s.name);
          return Fail(absl::StrCat("unknown scenario ", name, " (or its server does not run); "
                                   "known: ", absl::StrJoin(known, ",")));
        }
        selected.push_back(&*it);
      }
      // The bare baseline runs whenever its server does, like Empty: every ratio to it
      // needs a BareEcho run in the same round.
      if (bare != nullptr && std::find(selected.begin(), selected.end(), bare) == selected.end()) {
        selected.insert(selected.begin(), bare);
      }
      // So do, with --security=tls, the empty handler behind TLS (every TLS scenario's
      // `tls r.` needs it) and its token-caller twin.
      for (const char* name : {kTokenScenario, kTlsScenario}) {
        auto it = std::find_if(all.begin(), all.end(),
                               [&](const Scenario& s) { return s.name == name; });
        if (it != all.end() &&
            std::find(selected.begin(), selected.end(), &*it) == selected.end()) {
          selected.insert(selected.begin(), &*it);
        }
      }
    }
    if (selected.empty()) return Fail("--scenarios selects nothing");
    std::vector<int> overload_levels;
    if (absl::GetFlag(FLAGS_overload)) {
      absl::StatusOr<std::vector<int>> parsed =
          ParseLevels("--overload_list", absl::GetFlag(FLAGS_overload_list));
      if (!parsed.ok()) return Fail(parsed.status().ToString());
      overload_levels = *parsed;
    }
    std::vector<bool> overload_honor;  // per client kind: honor RetryInfo?
    for (absl::string_view kind :
         absl::StrSplit(absl::GetFlag(FLAGS_overload_clients), ',', absl::SkipWhitespace())) {
      if (kind != "at_once" && kind != "retry_info") {
        return Fail(absl::StrCat("--overload_clients: ", kind, " is not at_once or retry_info"));
      }
      overload_honor.push_back(kind == "retry_info");
    }
    if (overload_honor.empty()) overload_levels.clear();
    const int overload_channels = absl::GetFlag(FLAGS_overload_channels);
    const int overload_rounds = absl::GetFlag(FLAGS_overload_rounds);
    if (overload_channels < 1 || overload_rounds < 1) {
      return Fail("--overload_channels and --overload_rounds must be >= 1");
    }
    const double watch_estimate_s =
        watch ? 2 * (absl::ToDoubleSeconds(watch_options.duration) + 3) : 0;

    const int n = static_cast<int>(selected.size());
    const int measured_runs = rounds * static_cast<int>(levels.size()) * (2 * n + 1);
    const int warmup_runs = initial_warmup > absl::ZeroDuration() ? n + 1 : 0;
    const int overload_runs = overload_rounds * static_cast<int>(overload_levels.size()) *
                              static_cast<int>(overload_honor.size()) *
                              (addresses.events.empty() ? 1 : 2);
    // A handshake and two calls take a few milliseconds here; 10 ms is generous.
    const double handshake_estimate_s = 0.01 * 3 * (rounds * handshakes + 2);
    const double estimate_s =
        (measured_runs + overload_runs) * absl::ToDoubleSeconds(load.warmup + load.duration) +
        warmup_runs * absl::ToDoubleSeconds(initial_warmup) + watch_estimate_s +
        (handshakes > 0 ? handshake_estimate_s : 0);

    std::printf("sanhak_bench  gRPC %s, %u CPUs, load average %s\n", grpc::Version().c_str(),
                std::thread::hardware_concurrency(), LoadAverage().c_str());
    std::printf("mode: %s\n", mode.c_str());
    std::printf("servers:\n");
    for (const std::string& line : server_lines) std::printf("%s\n", line.c_str());
    if (!analytics_ready.empty()) {
      std::printf("  analytics %s\n", analytics_ready.c_str());
    }
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
                measured_runs + warmup_runs + overload_runs);

    std::printf(" run round  conc  scenario           calls       QPS   p50 ms   p90 ms   p99 ms "
                "  max ms  cpu us/c  errors\n");
    std::vector<Run> runs;
    auto execute = [&](Run run, const LoadOptions& options) -> const Run& {
      run.number = static_cast<int>(runs.size()) + 1;
      run.concurrency = options.concurrency;
      run.activities_in_store =
          context.events_stubs.empty() ? -1 : ActivitiesInStore(*context.events_stubs[0]);
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
    std::printf("  bare r.       = QPS ratio / BareEcho's QPS ratio in the same round and "
                "level: QPS relative to the bare gRPC echo server (nothing of the suite's "
                "runtime)\n");
    if (secure) {
      std::printf("  tls r.        = QPS ratio / EmptyTls's QPS ratio in the same round and "
                  "level: QPS relative to the empty handler behind the same TLS, "
                  "authentication and policy\n");
    }
    std::printf("scenario         conc  QPS ratio [min-max]    p50 ratio [min-max]  p99 ratio "
                "[min-max]  cpu r.       QPS   p50 ms   p99 ms  bare r. [min-max]  %saim (QPS "
                "ratio)\n",
                secure ? "tls r. [min-max]     " : "");
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
        std::vector<double> qps_r, p50_r, p99_r, cpu_r, qps, p50, p99, bare_r, tls_r;
        int64_t store_min = -1, store_max = -1;
        int64_t errors = 0;
        for (const Run& r : runs) {
          if (r.scenario != s || r.concurrency != level) continue;
          errors += r.result.errors;
          if (r.role != Role::kMeasured) continue;
          Ratios x = RatiosOf(r, runs);
          qps_r.push_back(x.qps);
          if (double b = BareRatioOf(r, runs); b > 0) bare_r.push_back(b);
          if (double t = secure ? TlsRatioOf(r, runs) : 0; t > 0) tls_r.push_back(t);
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
                     a99 = SpreadOf(p99), br = SpreadOf(bare_r), tr = SpreadOf(tls_r);
        std::string aim;
        if (double target = AimFor(s->name); target > 0) {
          aim = absl::StrFormat(">= %.2f of Empty %s", target,
                                q.median >= target ? "met" : "MISSED");
        }
        if (double target = BareAimFor(s->name); target > 0 && !bare_r.empty()) {
          absl::StrAppendFormat(&aim, "%s>= %.2f of bare %s", aim.empty() ? "" : "; ", target,
                                br.median >= target ? "met" : "MISSED");
        }
        const std::string bare_column =
            bare_r.empty() ? std::string(19, ' ')
                           : absl::StrFormat("%5.3f [%5.3f-%5.3f]", br.median, br.min, br.max);
        std::string tls_column;
        if (secure) {
          tls_column = tls_r.empty() ? std::string(21, ' ')
                                     : absl::StrFormat("%5.3f [%5.3f-%5.3f]  ", tr.median,
                                                       tr.min, tr.max);
        }
        if (errors > 0) absl::StrAppend(&aim, aim.empty() ? "" : "; ", errors, " ERRORS");
        std::printf("%-15s %5d  %5.3f [%5.3f-%5.3f]  %5.2f [%5.2f-%5.2f]  %5.2f [%5.2f-%5.2f]  "
                    "%5.2f %9.0f %8.3f %8.3f  %s  %s%s\n",
                    s->name.c_str(), level, q.median, q.min, q.max, l50.median, l50.min,
                    l50.max, l99.median, l99.min, l99.max, c.median, aq.median, a50.median,
                    a99.median, bare_column.c_str(), tls_column.c_str(), aim.c_str());
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
        if (!bare_r.empty()) {
          absl::StrAppendFormat(&summary_lines.back(),
                                " bare_qps_ratio=%.4f bare_qps_ratio_min=%.4f "
                                "bare_qps_ratio_max=%.4f",
                                br.median, br.min, br.max);
        }
        if (!tls_r.empty()) {
          absl::StrAppendFormat(&summary_lines.back(),
                                " tls_qps_ratio=%.4f tls_qps_ratio_min=%.4f "
                                "tls_qps_ratio_max=%.4f",
                                tr.median, tr.min, tr.max);
        }
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

    // ------------------------------------------------------------------ security
    // What TLS and authorization cost per call: EmptyTls and EmptyToken against the
    // plaintext Empty around them (the same handler, sync API, same runtime, same level).
    int64_t handshake_errors = 0;
    std::vector<std::string> handshake_error_lines;
    if (secure) {
      std::printf("\nsecurity: per call, the empty handler behind mutual TLS + authentication "
                  "+ policy against the same handler plaintext (Empty), same runtime, same "
                  "concurrency, connections long-lived (handshakes amortized); ratios = TLS / "
                  "plaintext, median of %d rounds [min-max]; +p50, +cpu = TLS minus the mean of "
                  "the plaintext runs around it\n",
                  rounds);
      std::printf("scenario         conc  QPS ratio [min-max]    p50 ratio [min-max]  p99 r.  "
                  "cpu r.       QPS   p50 ms   p99 ms  cpu us/c  +p50 ms [min-max]        +cpu "
                  "us/call [min-max]  vs EmptyTls (QPS, cpu)\n");
      for (int level : levels) {
        for (const char* name : {kTlsScenario, kTokenScenario}) {
          std::vector<double> qps_r, p50_r, p99_r, cpu_r, qps, p50, p99, cpu, added_p50,
              added_cpu, tls_qps, tls_cpu;
          for (const Run& r : runs) {
            if (r.role != Role::kMeasured || r.concurrency != level || r.scenario->name != name) {
              continue;
            }
            const Ratios x = RatiosOf(r, runs);
            qps_r.push_back(x.qps);
            p50_r.push_back(x.p50);
            p99_r.push_back(x.p99);
            cpu_r.push_back(x.cpu);
            qps.push_back(r.result.qps);
            p50.push_back(r.result.p50_ms);
            p99.push_back(r.result.p99_ms);
            cpu.push_back(r.result.cpu_us_per_call);
            const Added a = AddedOf(r, runs);
            added_p50.push_back(a.p50_ms);
            added_cpu.push_back(a.cpu_us);
            if (std::string(name) != kTlsScenario) {
              const Ratios t = RatiosTo(r, runs, kTlsScenario);
              if (t.qps > 0) {
                tls_qps.push_back(t.qps);
                tls_cpu.push_back(t.cpu);
              }
            }
          }
          if (qps_r.empty()) continue;
          const Spread q = SpreadOf(qps_r), l50 = SpreadOf(p50_r), l99 = SpreadOf(p99_r),
                       c = SpreadOf(cpu_r), aq = SpreadOf(qps), a50 = SpreadOf(p50),
                       a99 = SpreadOf(p99), ac = SpreadOf(cpu), d50 = SpreadOf(added_p50),
                       dc = SpreadOf(added_cpu), tq = SpreadOf(tls_qps), tc = SpreadOf(tls_cpu);
          const std::string versus =
              tls_qps.empty() ? "" : absl::StrFormat("%5.3f, %5.2f", tq.median, tc.median);
          std::printf("%-15s %5d  %5.3f [%5.3f-%5.3f]  %5.2f [%5.2f-%5.2f]  %5.2f  %5.2f %9.0f "
                      "%8.3f %8.3f %9.1f  %+7.3f [%+7.3f-%+7.3f]  %+7.1f [%+7.1f-%+7.1f]    %s\n",
                      name, level, q.median, q.min, q.max, l50.median, l50.min, l50.max,
                      l99.median, c.median, aq.median, a50.median, a99.median, ac.median,
                      d50.median, d50.min, d50.max, dc.median, dc.min, dc.max, versus.c_str());
          std::string line = absl::StrFormat(
              "RESULT scenario=%s concurrency=%d role=security rounds=%d qps_ratio=%.4f "
              "qps_ratio_min=%.4f qps_ratio_max=%.4f p50_ratio=%.4f p99_ratio=%.4f "
              "cpu_ratio=%.4f qps=%.1f p50_ms=%.4f p99_ms=%.4f cpu_us_per_call=%.2f "
              "added_p50_ms=%.4f added_cpu_us_per_call=%.2f",
              name, level, qps_r.size(), q.median, q.min, q.max, l50.median, l99.median,
              c.median, aq.median, a50.median, a99.median, ac.median, d50.median, dc.median);
          if (!tls_qps.empty()) {
            absl::StrAppendFormat(&line, " tls_qps_ratio=%.4f tls_cpu_ratio=%.4f", tq.median,
                                  tc.median);
          }
          summary_lines.push_back(std::move(line));
        }
      }

      // The handshake: what a new connection costs before its first call, measured apart
      // (the rounds' connections are long-lived). Rounds interleave the kinds, whose order
      // rotates, as the rounds above do.
      if (handshakes > 0) {
        const std::vector<HandshakeKind> kinds = {
            {"plaintext", addresses.baseline, dialing.plaintext},
            {"tls+cert", addresses.tls, dialing.suite},
            {"tls+token", addresses.tls, dialing.token}};
        std::printf("\nhandshake: %d new connections per kind and round (%d rounds, kinds "
                    "interleaved), one after the other, each: a new channel on a connection of "
                    "its own, connect, handshake (TLS: certificate chain verified; tls+cert: "
                    "client certificate verified too), one Empty call (the first call on a TLS "
                    "connection also authenticates it and records its identity), waited for; "
                    "then a second call on it; plaintext: the Empty server, TLS: the EmptyTls "
                    "server; cpu per connection includes the second call%s\n",
                    handshakes, rounds,
                    load.server_cpu_seconds ? " and sums the processes" : "");
        int salt = 1;
        // One unmeasured connection of each kind first (lazy initialisation).
        for (const HandshakeKind& kind : kinds) {
          MeasureHandshakes(kind, 2, salt++, load.server_cpu_seconds);
        }
        std::vector<HandshakeResult> totals(kinds.size());
        std::vector<std::vector<double>> cpu_per_round(kinds.size());
        for (int round = 1; round <= rounds; ++round) {
          for (size_t i = 0; i < kinds.size(); ++i) {
            const size_t k = (i + round - 1) % kinds.size();
            HandshakeResult r =
                MeasureHandshakes(kinds[k], handshakes, salt++, load.server_cpu_seconds);
            HandshakeResult& t = totals[k];
            t.connections += r.connections;
            if (r.errors > 0 && t.errors == 0) t.first_error = r.first_error;
            t.errors += r.errors;
            t.latencies_ms.insert(t.latencies_ms.end(), r.latencies_ms.begin(),
                                  r.latencies_ms.end());
            t.second_call_ms.insert(t.second_call_ms.end(), r.second_call_ms.begin(),
                                    r.second_call_ms.end());
            cpu_per_round[k].push_back(r.cpu_us_per_connection);
          }
        }
        std::printf("kind        conns  errors   p50 ms   p90 ms   p99 ms  mean ms  2nd call "
                    "p50 ms  connect p50 ms  cpu us/conn [min-max]       p50 r.  +p50 ms  "
                    "cpu r.  +cpu us/conn\n");
        const double plain_p50 = Percentile(totals[0].latencies_ms, 50);
        const double plain_cpu = SpreadOf(cpu_per_round[0]).median;
        for (size_t k = 0; k < kinds.size(); ++k) {
          const HandshakeResult& t = totals[k];
          double mean = 0;
          for (double v : t.latencies_ms) mean += v;
          if (!t.latencies_ms.empty()) mean /= t.latencies_ms.size();
          const double p50 = Percentile(t.latencies_ms, 50);
          const double p90 = Percentile(t.latencies_ms, 90);
          const double p99 = Percentile(t.latencies_ms, 99);
          const double second = Percentile(t.second_call_ms, 50);
          const Spread cpu = SpreadOf(cpu_per_round[k]);
          std::printf("%-10s %6d %7d %8.3f %8.3f %8.3f %8.3f  %15.3f  %14.3f  %9.0f [%6.0f-%6.0f]"
                      "  %6.2f  %+7.3f  %6.2f  %+12.0f\n",
                      kinds[k].name.c_str(), t.connections, t.errors, p50, p90, p99, mean,
                      second, p50 - second, cpu.median, cpu.min, cpu.max, Ratio(p50, plain_p50),
                      p50 - plain_p50, Ratio(cpu.median, plain_cpu), cpu.median - plain_cpu);
          summary_lines.push_back(absl::StrFormat(
              "RESULT scenario=Handshake/%s role=handshake rounds=%d connections=%d errors=%d "
              "p50_ms=%.4f p90_ms=%.4f p99_ms=%.4f mean_ms=%.4f second_call_p50_ms=%.4f "
              "cpu_us_per_connection=%.1f p50_ratio=%.4f added_p50_ms=%.4f cpu_ratio=%.4f "
              "added_cpu_us_per_connection=%.1f",
              kinds[k].name, rounds, t.connections, t.errors, p50, p90, p99, mean, second,
              cpu.median, Ratio(p50, plain_p50), p50 - plain_p50, Ratio(cpu.median, plain_cpu),
              cpu.median - plain_cpu));
          handshake_errors += t.errors;
          if (t.errors > 0) {
            handshake_error_lines.push_back(absl::StrFormat(
                "ERRORS handshake kind=%s %d of %d first: %s", kinds[k].name, t.errors,
                t.connections, t.first_error));
          }
        }
        std::printf("  p50 r., +p50 ms, cpu r., +cpu: against plaintext; connect p50 = p50 - "
                    "2nd call p50: what the new connection added to its first call\n");
      }
    }

    // ------------------------------------------------------------------ WatchLatency
    bool watch_failed = false;
    if (watch) {
      // Watchers spread over enough connections that none carries more streams than the
      // servers' max_concurrent_streams: beyond it a stream waits client-side for another
      // to end, and a watch never ends (at 100 per connection and the servers' 64, 360 of
      // 1,000 watchers never got their snapshot).
      const int per_connection = std::max(1, setup.max_concurrent_streams);
      const int watch_channels = std::max(
          load.channels, (watch_options.watchers + per_connection - 1) / per_connection);
      auto channels = Connect(addresses.analytics, watch_channels, 20, dialing.suite);
      if (!channels.ok()) return Fail(channels.status().ToString());
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
        WatchResult r = RunWatchLatency(*channels, context.events_stubs,
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
    // ------------------------------------------------------------------ overload
    // Writes beyond what the servers admit: each admitted write is acknowledged after its
    // commit, the rest are refused at once (RESOURCE_EXHAUSTED with RetryInfo, or
    // UNAVAILABLE). Own connections, so the levels are spread as the issue's test spreads
    // them (8 connections), apart from the rounds' channels.
    int64_t overload_errors = 0;
    std::vector<std::string> overload_error_lines;
    if (!overload_levels.empty()) {
      ScenarioContext oc;
      oc.run_tag = absl::StrCat(context.run_tag, "o");
      oc.next_activity.store(1000000000);
      oc.council_names = context.council_names;
      oc.create_councils = context.create_councils;
      ServerAddresses writers;
      writers.registry = addresses.registry;
      writers.events = addresses.events;
      if (absl::Status s = ConnectAll(writers, overload_channels, 40, dialing, oc); !s.ok()) {
        return Fail(s.ToString());
      }
      std::vector<Scenario> overload = OverloadScenarios(oc);
      std::printf(
          "\noverload: closed loop at %s calls in flight over %d connections per "
          "server, %d run(s) each of warm-up %.2fs + measured %.2fs; a refusal "
          "(RESOURCE_EXHAUSTED or UNAVAILABLE) is counted apart from errors; client "
          "at_once: a refused slot calls again at once; retry_info: it waits the "
          "RetryInfo delay first; the servers admit %s at once; latencies are of "
          "admitted calls\n",
          absl::StrJoin(overload_levels, ", ").c_str(), overload_channels, overload_rounds,
          absl::ToDoubleSeconds(load.warmup), absl::ToDoubleSeconds(load.duration),
          load_flag.empty()
              ? absl::StrCat("max_writes_in_flight=", setup.max_writes_in_flight, " writes").c_str()
              : "as many writes as they were started with");
      for (const Scenario& s : overload) {
        std::printf("  %-18s %s\n", s.name.c_str(), s.description.c_str());
      }
      std::printf(
          "scenario            conc  client      admitted/s  refused/s  refused  p50 ms  "
          " p99 ms   max ms  cpu us/c  errors  refusals (whole run, by code; with "
          "RetryInfo)\n");
      for (const Scenario& s : overload) {
        for (int level : overload_levels) {
          for (bool honor : overload_honor) {
            const char* client = honor ? "retry_info" : "at_once";
            std::vector<double> admitted, refused, fraction, p50, p99;
            for (int round = 1; round <= overload_rounds; ++round) {
              LoadOptions options = load;
              options.concurrency = level;
              options.channels = overload_channels;
              options.refusals_expected = true;
              options.honor_retry_info = honor;
              options.seed = load.seed + 7919 * round + level;
              const LoadResult r = RunClosedLoop(s.issue, options);
              std::vector<std::string> codes;
              for (const auto& [code, count] : r.refused_by_code) {
                codes.push_back(absl::StrCat(code, "=", count));
              }
              const double refused_fraction =
                  r.calls > 0 ? static_cast<double>(r.refused) / r.calls : 0;
              std::printf(
                  "%-18s %5d  %-10s %10.0f %10.0f  %6.1f%% %7.3f %8.3f %8.3f %9.1f %7lld  "
                  "%s; %lld\n",
                  s.name.c_str(), level, client, r.admitted_qps, r.refused_qps,
                  100 * refused_fraction, r.p50_ms, r.p99_ms, r.max_ms, r.cpu_us_per_call,
                  static_cast<long long>(r.errors),
                  codes.empty() ? "none" : absl::StrJoin(codes, ",").c_str(),
                  static_cast<long long>(r.refused_with_retry_info));
              std::fflush(stdout);
              admitted.push_back(r.admitted_qps);
              refused.push_back(r.refused_qps);
              fraction.push_back(refused_fraction);
              p50.push_back(r.p50_ms);
              p99.push_back(r.p99_ms);
              overload_errors += r.errors;
              summary_lines.push_back(absl::StrFormat(
                  "RESULT scenario=Overload/%s round=%d concurrency=%d channels=%d client=%s "
                  "role=overload "
                  "admitted_qps=%.1f refused_qps=%.1f refused_fraction=%.4f p50_ms=%.4f "
                  "p99_ms=%.4f max_ms=%.4f cpu_us_per_call=%.2f server_cpu_us_per_call=%.2f "
                  "calls=%d admitted=%d refused=%d refused_total=%d refused_with_retry_info=%d "
                  "errors=%d refusals=%s",
                  s.name, round, level, overload_channels, client, r.admitted_qps, r.refused_qps,
                  refused_fraction, r.p50_ms, r.p99_ms, r.max_ms, r.cpu_us_per_call,
                  r.server_cpu_us_per_call, r.calls, r.admitted, r.refused, r.refused_total,
                  r.refused_with_retry_info, r.errors,
                  codes.empty() ? "none" : absl::StrJoin(codes, ",")));
              if (r.errors > 0) {
                std::vector<std::string> errors;
                for (const auto& [code, count] : r.errors_by_code) {
                  errors.push_back(absl::StrCat(code, "=", count));
                }
                overload_error_lines.push_back(absl::StrFormat(
                    "ERRORS overload scenario=%s concurrency=%d client=%s %s first: %s", s.name,
                    level, client, absl::StrJoin(errors, ","), r.first_error));
              }
            }
            if (overload_rounds > 1) {
              summary_lines.push_back(absl::StrFormat(
                  "RESULT scenario=Overload/%s concurrency=%d channels=%d client=%s role=summary "
                  "runs=%d admitted_qps=%.1f refused_qps=%.1f refused_fraction=%.4f p50_ms=%.4f "
                  "p99_ms=%.4f",
                  s.name, level, overload_channels, client, overload_rounds,
                  SpreadOf(admitted).median, SpreadOf(refused).median, SpreadOf(fraction).median,
                  SpreadOf(p50).median, SpreadOf(p99).median));
            }
          }
        }
      }
    }

    std::printf("\n");
    int64_t total_errors = 0;
    for (const Run& r : runs) {
      const LoadResult& x = r.result;
      std::string line = absl::StrFormat(
          "RESULT scenario=%s run=%d round=%d concurrency=%d role=%s qps=%.1f p50_ms=%.4f "
          "p90_ms=%.4f p99_ms=%.4f max_ms=%.4f cpu_us_per_call=%.2f server_cpu_us_per_call=%.2f "
          "calls=%d errors=%d activities_in_store=%d",
          r.scenario->name, r.number, r.round, r.concurrency, RoleName(r.role), x.qps, x.p50_ms,
          x.p90_ms, x.p99_ms, x.max_ms, x.cpu_us_per_call, x.server_cpu_us_per_call, x.calls,
          x.errors, r.activities_in_store);
      if (r.role == Role::kMeasured) {
        Ratios ratios = RatiosOf(r, runs);
        absl::StrAppendFormat(&line,
                              " baseline_runs=%d,%d qps_ratio=%.4f p50_ratio=%.4f "
                              "p99_ratio=%.4f cpu_ratio=%.4f",
                              r.before, r.after, ratios.qps, ratios.p50, ratios.p99, ratios.cpu);
        if (double b = BareRatioOf(r, runs); b > 0) {
          absl::StrAppendFormat(&line, " bare_qps_ratio=%.4f", b);
        }
        if (double t = secure ? TlsRatioOf(r, runs) : 0; t > 0) {
          absl::StrAppendFormat(&line, " tls_qps_ratio=%.4f", t);
        }
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
    for (const std::string& line : overload_error_lines) std::printf("%s\n", line.c_str());
    for (const std::string& line : handshake_error_lines) std::printf("%s\n", line.c_str());
    total_errors += overload_errors + handshake_errors;
    if (total_errors > 0) {
      std::printf("FAILED: %lld calls ended in error; the figures above are not valid\n",
                  static_cast<long long>(total_errors));
      exit_code = 1;
    } else if (!watch_failed) {
      std::printf("OK: no call ended in error\n");
    }
    std::fflush(stdout);
  }
  if (local != nullptr) local->Shutdown();
  for (sanhak::testing::ChildProcess* c : {&child, &bare_child}) {
    if (!c->running()) continue;
    c->Signal(SIGTERM);
    if (c->WaitExit(absl::Seconds(20)) < 0) c->Kill();
  }
  return exit_code;
}

// --serve: the servers alone, until SIGTERM or SIGINT; the parent (--separate_process) or
// a person (--load) reads their addresses from the SERVING line.
int Serve() {
  // First, before any thread starts: the signal wait must be the only receiver.
  BlockTerminationSignals();
  SetMinLogLevel(LogLevel::kWarning);
  if (absl::Status s = PinToCpus(absl::GetFlag(FLAGS_server_cpus)); !s.ok()) {
    return Fail(s.ToString());
  }
  ServerSetup setup = SetupFromFlags();
  // --security=tls without --security_dir (by hand): the files made here, for as long as
  // this serves; --load takes the directory printed.
  sanhak::testing::TempDir security_temp("sanhak-bench-security");
  const std::string security_mode = absl::GetFlag(FLAGS_security);
  if (security_mode != "plaintext" && security_mode != "tls") {
    return Fail(absl::StrCat("--security=", security_mode, ": plaintext or tls"));
  }
  if (security_mode == "plaintext" && !setup.security_dir.empty()) {
    return Fail("--security_dir needs --security=tls");
  }
  if (security_mode == "tls" && setup.security_dir.empty()) {
    if (security_temp.path().empty()) return Fail("cannot create a temporary directory");
    absl::StatusOr<SecurityFiles> files = CreateSecurityFiles(security_temp.path());
    if (!files.ok()) return Fail(files.status().ToString());
    setup.security_dir = security_temp.path();
    std::printf("security files in %s (--load ... --security=tls --security_dir=%s)\n",
                setup.security_dir.c_str(), setup.security_dir.c_str());
  }
  absl::StatusOr<std::unique_ptr<BenchServers>> servers = BenchServers::Start(setup);
  if (!servers.ok()) return Fail(servers.status().ToString());
  for (const std::string& line : (*servers)->description()) std::printf("%s\n", line.c_str());
  std::printf("SERVING %s\n", FormatAddresses((*servers)->addresses()).c_str());
  std::fflush(stdout);
  return ServeUntilTerminated([&] { (*servers)->Shutdown(); });
}

// --serve_bare: the bare echo server alone, until SIGTERM or SIGINT.
int ServeBare() {
  BlockTerminationSignals();
  if (absl::Status s = PinToCpus(absl::GetFlag(FLAGS_server_cpus)); !s.ok()) {
    return Fail(s.ToString());
  }
  absl::StatusOr<std::unique_ptr<BareEchoServer>> server = BareEchoServer::Start();
  if (!server.ok()) return Fail(server.status().ToString());
  ServerAddresses addresses;
  addresses.echo = (*server)->address();
  std::printf("  echo      sanhak.bench.echo.EchoService at %s in a process of its own (pid %d): "
              "bare grpc::ServerBuilder, callback API, gRPC's defaults\n",
              addresses.echo.c_str(), getpid());
  std::printf("SERVING %s\n", FormatAddresses(addresses).c_str());
  std::fflush(stdout);
  return ServeUntilTerminated([&] { (*server)->Shutdown(); });
}

}  // namespace
}  // namespace sanhak::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "sanhak_bench: closed-loop gRPC benchmark of the registry, events and analytics "
      "services against an empty handler on the same runtime and a bare gRPC echo server, "
      "in one process or (--separate_process) two. See bench/README.md.");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_serve)) return sanhak::bench::Serve();
  if (absl::GetFlag(FLAGS_serve_bare)) return sanhak::bench::ServeBare();
  return sanhak::bench::Main();
}
