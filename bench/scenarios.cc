#include "bench/scenarios.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sanhak::bench {
namespace {

namespace rv1 = ::sanhak::registry::v1;

grpc::Status Wrong(const std::string& what) {
  return grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat("bench check: ", what));
}

const std::string& RandomCouncil(const ScenarioContext& c, const CallEnv& env) {
  return c.council_names[env.Uniform(c.council_names.size())];
}

}  // namespace

Scenario BaselineScenario(const ScenarioContext& c) {
  return {
      "Empty",
      "sanhak.bench.v1.EmptyService/Empty (handler does nothing), request name = a random "
      "council name",
      [&c](const CallEnv& env, DoneFn done) {
        v1::EmptyRequest request;
        request.set_name(RandomCouncil(c, env));
        v1::EmptyService::Stub* stub = c.baseline_stubs[env.channel].get();
        StartUnary<v1::EmptyRequest, v1::EmptyResponse>(
            env, std::move(request),
            [stub](auto* ctx, auto* req, auto* resp, auto cb) {
              stub->async()->Empty(ctx, req, resp, std::move(cb));
            },
            [](const v1::EmptyRequest&, const v1::EmptyResponse&) { return grpc::Status::OK; },
            std::move(done));
      }};
}

std::vector<Scenario> RegistryScenarios(const ScenarioContext& c) {
  std::vector<Scenario> scenarios;

  scenarios.push_back(
      {"GetCouncil",
       absl::StrFormat("RegistryService/GetCouncil of a random council among the %d imported",
                       c.council_names.size()),
       [&c](const CallEnv& env, DoneFn done) {
         rv1::GetCouncilRequest request;
         request.set_name(RandomCouncil(c, env));
         rv1::RegistryService::Stub* stub = c.registry_stubs[env.channel].get();
         StartUnary<rv1::GetCouncilRequest, rv1::Council>(
             env, std::move(request),
             [stub](auto* ctx, auto* req, auto* resp, auto cb) {
               stub->async()->GetCouncil(ctx, req, resp, std::move(cb));
             },
             [](const rv1::GetCouncilRequest& req, const rv1::Council& council) {
               if (council.name() != req.name()) {
                 return Wrong(absl::StrCat("asked for ", req.name(), ", got ", council.name()));
               }
               return grpc::Status::OK;
             },
             std::move(done));
       }});

  const rv1::ListCouncilsRequest& list = c.list_councils;
  std::string filter;
  if (!list.field().empty()) absl::StrAppend(&filter, " field=", list.field());
  if (!list.region().empty()) absl::StrAppend(&filter, " region=", list.region());
  const int expected = std::min(c.list_councils_total, list.page_size());
  scenarios.push_back(
      {"ListCouncils",
       absl::StrFormat("RegistryService/ListCouncils%s page_size=%d (first page: %d of %d "
                       "matching councils)",
                       filter, list.page_size(), expected, c.list_councils_total),
       [&c, expected](const CallEnv& env, DoneFn done) {
         rv1::RegistryService::Stub* stub = c.registry_stubs[env.channel].get();
         StartUnary<rv1::ListCouncilsRequest, rv1::ListCouncilsResponse>(
             env, c.list_councils,
             [stub](auto* ctx, auto* req, auto* resp, auto cb) {
               stub->async()->ListCouncils(ctx, req, resp, std::move(cb));
             },
             [&c, expected](const rv1::ListCouncilsRequest&,
                            const rv1::ListCouncilsResponse& response) {
               if (response.councils_size() != expected ||
                   response.total_size() != c.list_councils_total) {
                 return Wrong(absl::StrFormat("expected %d of %d councils, got %d of %d",
                                              expected, c.list_councils_total,
                                              response.councils_size(), response.total_size()));
               }
               return grpc::Status::OK;
             },
             std::move(done));
       }});

  return scenarios;
}

}  // namespace sanhak::bench
