// sanhak_bench: starts an empty baseline server and the registry in this process, on the
// same server runtime and options, drives each with a closed-loop load generator and
// reports every scenario as ratios to a baseline run measured just before it.
// See bench/README.md.
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/load_generator.h"
#include "bench/scenarios.h"
#include "common/log.h"
#include "common/server.h"
#include "grpcpp/grpcpp.h"
#include "services/registry/registry_server.h"

#ifndef SANHAK_SOURCE_DIR
#define SANHAK_SOURCE_DIR "."
#endif

ABSL_FLAG(std::string, data, SANHAK_SOURCE_DIR "/data/registry.textproto",
          "RegistryData text file imported into the registry's fresh database");
ABSL_FLAG(int, concurrency, 64, "calls in flight at all times (closed loop)");
ABSL_FLAG(int, channels, 4, "client channels (separate connections) the calls are spread over");
ABSL_FLAG(double, warmup_s, 1, "seconds of load before measuring, in every run");
ABSL_FLAG(double, duration_s, 5, "measured seconds per run");
ABSL_FLAG(double, deadline_s, 10, "deadline of each call");
ABSL_FLAG(std::string, scenarios, "",
          "comma-separated scenarios to run (default: all), each after its own baseline run");
ABSL_FLAG(std::string, list_field, "fields/future-mobility",
          "ListCouncils filter: field (a parent field matches its sub-fields' councils); if it "
          "matches fewer than 2 councils, the top-level field matching most is used instead");
ABSL_FLAG(std::string, list_region, "", "ListCouncils filter: region (optional)");
ABSL_FLAG(int, list_page_size, 10, "ListCouncils page_size");
ABSL_FLAG(uint64_t, seed, 1, "seed of the random choices (which council a call asks for)");

namespace sanhak::bench {
namespace {

namespace rv1 = ::sanhak::registry::v1;

constexpr char kBaselineServiceName[] = "sanhak.bench.v1.EmptyService";

class EmptyServiceImpl final : public v1::EmptyService::Service {
  grpc::Status Empty(grpc::ServerContext*, const v1::EmptyRequest*,
                     v1::EmptyResponse*) override {
    return grpc::Status::OK;
  }
};

// A fresh directory for the registry's database, removed at exit.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base ? base : "/tmp") +
                          "/sanhak-bench-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "sanhak_bench: %s\n", message.c_str());
  return 2;
}

absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> Connect(const std::string& address,
                                                                    int count) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    // Distinct args and a private subchannel pool: each channel gets its own connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("sanhak.bench.channel_index", i);
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

struct Run {
  int number;
  const Scenario* scenario;
  bool baseline;
  int baseline_run;  // for a scenario: the baseline run it is compared with
  LoadResult result;
};

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

void PrintRunLine(const Run& run) {
  const LoadResult& r = run.result;
  std::printf("%3d  %-14s %9lld %10.0f %8.3f %8.3f %8.3f %8.3f %11.1f %7lld\n", run.number,
              run.scenario->name.c_str(), static_cast<long long>(r.calls), r.qps, r.p50_ms,
              r.p90_ms, r.p99_ms, r.max_ms, r.cpu_us_per_call,
              static_cast<long long>(r.errors));
  std::fflush(stdout);
}

int Main() {
  SetMinLogLevel(LogLevel::kWarning);
  const std::string data = absl::GetFlag(FLAGS_data);
  LoadOptions load;
  load.concurrency = absl::GetFlag(FLAGS_concurrency);
  load.channels = absl::GetFlag(FLAGS_channels);
  load.warmup = absl::Seconds(absl::GetFlag(FLAGS_warmup_s));
  load.duration = absl::Seconds(absl::GetFlag(FLAGS_duration_s));
  load.call_deadline = absl::Seconds(absl::GetFlag(FLAGS_deadline_s));
  load.seed = absl::GetFlag(FLAGS_seed);
  if (load.concurrency < 1 || load.channels < 1 || load.duration <= absl::ZeroDuration() ||
      load.warmup < absl::ZeroDuration() || load.call_deadline <= absl::ZeroDuration()) {
    return Fail("--concurrency and --channels must be >= 1, --duration_s and --deadline_s > 0, "
                "--warmup_s >= 0");
  }
  if (!std::filesystem::exists(data)) {
    return Fail(absl::StrCat("no registry data at ", data, " (pass --data=FILE)"));
  }

  TempDir dir;
  if (dir.path().empty()) return Fail("cannot create a temporary directory");

  // The same runtime and options for both servers; only the hosted service differs.
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
  registry::RegistryConfig registry_config;
  registry_config.server = server_options;
  registry_config.database_path = dir.path() + "/registry.db";
  registry_config.import_path = data;
  auto registry_server = registry::RegistryServer::Start(registry_config);
  if (!registry_server.ok()) {
    return Fail(absl::StrCat("registry: ", registry_server.status().ToString()));
  }
  absl::StatusOr<std::string> holds = (*registry_server)->Describe();

  int exit_code = 0;
  {
    ScenarioContext context;
    auto baseline_channels = Connect((*baseline_server)->address(), load.channels);
    auto registry_channels = Connect((*registry_server)->address(), load.channels);
    if (!baseline_channels.ok()) return Fail(baseline_channels.status().ToString());
    if (!registry_channels.ok()) return Fail(registry_channels.status().ToString());
    for (int i = 0; i < load.channels; ++i) {
      context.baseline_stubs.push_back(v1::EmptyService::NewStub((*baseline_channels)[i]));
      context.registry_stubs.push_back(rv1::RegistryService::NewStub((*registry_channels)[i]));
    }
    absl::StatusOr<std::vector<std::string>> names = CouncilNames(*context.registry_stubs[0]);
    if (!names.ok()) return Fail(names.status().ToString());
    if (names->empty()) return Fail(absl::StrCat(data, " holds no councils"));
    context.council_names = *std::move(names);
    std::string filter_note;
    if (absl::Status s = ResolveListFilter(context, &filter_note); !s.ok()) {
      return Fail(s.ToString());
    }

    Scenario baseline = BaselineScenario(context);
    std::vector<Scenario> all = RegistryScenarios(context);
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

    const auto& imported = (*registry_server)->import_summary();
    std::printf("sanhak_bench  gRPC %s, %u CPUs\n", grpc::Version().c_str(),
                std::thread::hardware_concurrency());
    std::printf("servers: in this process, both started by sanhak::GrpcServer::Start with the "
                "same ServerOptions (listen 127.0.0.1:0, log_calls=false)\n");
    std::printf("  baseline  %s at %s\n", kBaselineServiceName,
                (*baseline_server)->address().c_str());
    std::printf("  registry  %s at %s, fresh SQLite %s\n", registry::kRegistryServiceName,
                (*registry_server)->address().c_str(), registry_config.database_path.c_str());
    std::printf("            imported %s (created %d, updated %d, unchanged %d); holds %s\n",
                data.c_str(), imported.created, imported.updated, imported.unchanged,
                holds.ok() ? holds->c_str() : holds.status().ToString().c_str());
    std::printf("load: closed loop, %d calls in flight over %d channels (callback API), "
                "warm-up %.1fs + measured %.1fs per run, call deadline %.0fs\n",
                load.concurrency, load.channels, absl::ToDoubleSeconds(load.warmup),
                absl::ToDoubleSeconds(load.duration), absl::ToDoubleSeconds(load.call_deadline));
    std::printf("scenarios:\n  %-13s %s\n", baseline.name.c_str(), baseline.description.c_str());
    for (const Scenario* s : selected) {
      std::printf("  %-13s %s\n", s->name.c_str(), s->description.c_str());
    }
    if (!filter_note.empty()) std::printf("note: %s\n", filter_note.c_str());
    std::printf("order: each scenario runs right after its own baseline run (%s)\n\n",
                [&] {
                  std::vector<std::string> order;
                  for (const Scenario* s : selected) {
                    order.push_back(baseline.name);
                    order.push_back(s->name);
                  }
                  return absl::StrJoin(order, ", ");
                }()
                    .c_str());

    std::printf("run  scenario           calls        QPS   p50 ms   p90 ms   p99 ms   max ms "
                "cpu us/call  errors\n");
    std::vector<Run> runs;
    int number = 0;
    for (const Scenario* s : selected) {
      Run base{++number, &baseline, true, 0, {}};
      base.result = RunClosedLoop(baseline.issue, load);
      PrintRunLine(base);
      runs.push_back(base);
      Run run{++number, s, false, base.number, {}};
      run.result = RunClosedLoop(s->issue, load);
      PrintRunLine(run);
      runs.push_back(run);
    }

    double min_qps = 0, max_qps = 0, sum_qps = 0;
    int baselines = 0;
    for (const Run& r : runs) {
      if (!r.baseline) continue;
      min_qps = baselines == 0 ? r.result.qps : std::min(min_qps, r.result.qps);
      max_qps = std::max(max_qps, r.result.qps);
      sum_qps += r.result.qps;
      ++baselines;
    }
    std::printf("\nratios to the baseline run just before each scenario\n");
    std::printf("  QPS ratio     = scenario QPS / baseline QPS      (1.0 = as fast as an empty "
                "handler; lower = slower)\n");
    std::printf("  latency ratio = scenario latency / baseline latency (1.0 = same; higher = "
                "slower)\n");
    std::printf("  cpu ratio     = scenario CPU per call / baseline CPU per call\n");
    std::printf("scenario       vs run  QPS ratio  p50 ratio  p99 ratio  cpu ratio\n");
    for (const Run& r : runs) {
      if (r.baseline) continue;
      const LoadResult& b = runs[r.baseline_run - 1].result;
      std::printf("%-14s %6d %10.3f %10.2f %10.2f %10.2f\n", r.scenario->name.c_str(),
                  r.baseline_run, Ratio(r.result.qps, b.qps), Ratio(r.result.p50_ms, b.p50_ms),
                  Ratio(r.result.p99_ms, b.p99_ms),
                  Ratio(r.result.cpu_us_per_call, b.cpu_us_per_call));
    }
    if (baselines > 1) {
      std::printf("baseline noise: %d baseline runs, QPS %.0f..%.0f (spread %.1f%% of their "
                  "mean)\n",
                  baselines, min_qps, max_qps, 100 * (max_qps - min_qps) / (sum_qps / baselines));
    }

    std::printf("\n");
    int64_t total_errors = 0;
    for (const Run& r : runs) {
      const LoadResult& x = r.result;
      std::string line = absl::StrFormat(
          "RESULT scenario=%s run=%d qps=%.1f p50_ms=%.4f p90_ms=%.4f p99_ms=%.4f "
          "max_ms=%.4f cpu_us_per_call=%.2f calls=%d errors=%d",
          r.scenario->name, r.number, x.qps, x.p50_ms, x.p90_ms, x.p99_ms, x.max_ms,
          x.cpu_us_per_call, x.calls, x.errors);
      if (r.baseline) {
        absl::StrAppend(&line, " role=baseline");
      } else {
        const LoadResult& b = runs[r.baseline_run - 1].result;
        absl::StrAppendFormat(&line,
                              " baseline_run=%d qps_ratio=%.4f p50_ratio=%.4f p99_ratio=%.4f "
                              "cpu_ratio=%.4f",
                              r.baseline_run, Ratio(x.qps, b.qps), Ratio(x.p50_ms, b.p50_ms),
                              Ratio(x.p99_ms, b.p99_ms),
                              Ratio(x.cpu_us_per_call, b.cpu_us_per_call));
      }
      std::printf("%s\n", line.c_str());
      total_errors += x.errors;
    }
    for (const Run& r : runs) {
      if (r.result.errors == 0) continue;
      std::vector<std::string> codes;
      for (const auto& [code, n] : r.result.errors_by_code) codes.push_back(absl::StrCat(code, "=", n));
      std::printf("ERRORS run=%d scenario=%s %s first: %s\n", r.number,
                  r.scenario->name.c_str(), absl::StrJoin(codes, ",").c_str(),
                  r.result.first_error.c_str());
    }
    if (total_errors > 0) {
      std::printf("FAILED: %lld calls ended in error; the figures above are not valid\n",
                  static_cast<long long>(total_errors));
      exit_code = 1;
    } else {
      std::printf("OK: no call ended in error\n");
    }
    std::fflush(stdout);
  }
  (*registry_server)->Shutdown();
  (*baseline_server)->Shutdown();
  return exit_code;
}

}  // namespace
}  // namespace sanhak::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "sanhak_bench: closed-loop gRPC benchmark of the registry against an empty baseline "
      "server, both in this process. See bench/README.md.");
  absl::ParseCommandLine(argc, argv);
  return sanhak::bench::Main();
}
