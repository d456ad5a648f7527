// The benchmark's scenarios: a small table of (name, description, function that issues one
// asynchronous call). To add one (GetAggregates, ...), put what it needs into
// ScenarioContext, fill it in main.cc and append an entry in scenarios.cc.
#ifndef SANHAK_BENCH_SCENARIOS_H_
#define SANHAK_BENCH_SCENARIOS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/load_generator.h"
#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "sanhak/bench/v1/bench.grpc.pb.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "sanhak_bench_echo.grpc.pb.h"

namespace sanhak::bench {

struct Scenario {
  std::string name;
  // What one call does, printed in the report.
  std::string description;
  IssueFn issue;
};

// Everything scenarios may use. Must outlive the scenarios built from it.
struct ScenarioContext {
  // One stub per client channel; CallEnv::channel indexes these.
  std::vector<std::unique_ptr<v1::EmptyService::Stub>> baseline_stubs;
  // The same empty handler served on the callback API (scenario EmptyCallback).
  std::vector<std::unique_ptr<v1::EmptyService::Stub>> callback_stubs;
  // --security=tls: the same empty handler (sync API, as the baseline) behind mutual TLS,
  // authentication and the policy, called with the bench client's certificate (scenario
  // EmptyTls) and with a bearer token over TLS (EmptyToken). Empty in plaintext mode.
  std::vector<std::unique_ptr<v1::EmptyService::Stub>> tls_stubs;
  std::vector<std::unique_ptr<v1::EmptyService::Stub>> token_stubs;
  // The bare echo server (scenario BareEcho), nothing of the suite's runtime in it.
  std::vector<std::unique_ptr<echo::EchoService::Stub>> echo_stubs;
  std::vector<std::unique_ptr<registry::v1::RegistryService::Stub>> registry_stubs;
  std::vector<std::unique_ptr<events::v1::EventsService::Stub>> events_stubs;
  // Empty when no analytics replica runs (GetAggregates then cannot be selected).
  std::vector<std::unique_ptr<analytics::v1::AnalyticsService::Stub>> analytics_stubs;
  // The GetAggregates request (metrics; empty = all of Aggregates).
  analytics::v1::GetAggregatesRequest get_aggregates;
  // Councils of the imported data; GetCouncil picks one at random per call.
  std::vector<std::string> council_names;
  // The ListCouncils filter and how many councils it matches.
  registry::v1::ListCouncilsRequest list_councils;
  int list_councils_total = 0;
  // The councils CreateActivity picks from: every council except the ListActivities one
  // (so that ListActivities keeps a constant workload), or all when there is only one.
  std::vector<std::string> create_councils;
  // The ListActivities request (council filter, page size) and how many activities that
  // council holds. When `list_activities_exact`, the total must stay exactly that;
  // otherwise (CreateActivity adds to the same council) it may grow.
  events::v1::ListActivitiesRequest list_activities;
  int list_activities_total = 0;
  bool list_activities_exact = true;
  // Makes every CreateActivity title unique within the process.
  std::atomic<int64_t> next_activity{1};
  // Makes every CreateOrganization id unique: "bench-{run_tag}-{n}" (run_tag differs
  // between runs, so a registry kept across runs (--load) never sees an id twice).
  std::string run_tag;
  std::atomic<int64_t> next_organization{1};
};

// The scenario names the --security=tls report and ratios refer to.
inline constexpr char kTlsScenario[] = "EmptyTls";
inline constexpr char kTokenScenario[] = "EmptyToken";

// The baseline: EmptyService.Empty, whose handler does nothing, with a request carrying a
// council name so it is the size of a GetCouncil request.
Scenario BaselineScenario(const ScenarioContext& context);

// The scenarios measured against the baseline, in their default order; those whose server
// the context has no stubs for are left out.
std::vector<Scenario> MeasuredScenarios(ScenarioContext& context);

// The overload scenario's writes: CreateActivity (events) and CreateOrganization
// (registry), as far as the context has stubs for them. Run with
// LoadOptions::refusals_expected.
std::vector<Scenario> OverloadScenarios(ScenarioContext& context);

}  // namespace sanhak::bench

#endif  // SANHAK_BENCH_SCENARIOS_H_
