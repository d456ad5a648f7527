// The benchmark's scenarios: a small table of (name, description, function that issues one
// asynchronous call). To add one (CreateActivity, ListActivities, GetAggregates, ...), put
// what it needs into ScenarioContext and append an entry in scenarios.cc.
#ifndef SANHAK_BENCH_SCENARIOS_H_
#define SANHAK_BENCH_SCENARIOS_H_

#include <memory>
#include <string>
#include <vector>

#include "bench/load_generator.h"
#include "sanhak/bench/v1/bench.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"

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
  std::vector<std::unique_ptr<registry::v1::RegistryService::Stub>> registry_stubs;
  // Councils of the imported data; GetCouncil picks one at random per call.
  std::vector<std::string> council_names;
  // The ListCouncils filter and how many councils it matches.
  registry::v1::ListCouncilsRequest list_councils;
  int list_councils_total = 0;
};

// The baseline: EmptyService.Empty, whose handler does nothing, with a request carrying a
// council name so it is the size of a GetCouncil request.
Scenario BaselineScenario(const ScenarioContext& context);

// The scenarios measured against the baseline, in the order they run by default.
std::vector<Scenario> RegistryScenarios(const ScenarioContext& context);

}  // namespace sanhak::bench

#endif  // SANHAK_BENCH_SCENARIOS_H_
