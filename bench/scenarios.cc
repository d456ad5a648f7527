#include "bench/scenarios.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace sanhak::bench {
namespace {

namespace rv1 = ::sanhak::registry::v1;
namespace ev1 = ::sanhak::events::v1;
namespace av1 = ::sanhak::analytics::v1;

grpc::Status Wrong(const std::string& what) {
  return grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat("bench check: ", what));
}

const std::string& RandomCouncil(const ScenarioContext& c, const CallEnv& env) {
  return c.council_names[env.Uniform(c.council_names.size())];
}

}  // namespace

namespace {

// EmptyService.Empty on `stubs`, the request carrying a random council name.
IssueFn EmptyCall(const ScenarioContext& c,
                  const std::vector<std::unique_ptr<v1::EmptyService::Stub>>& stubs) {
  return [&c, &stubs](const CallEnv& env, DoneFn done) {
    v1::EmptyRequest request;
    request.set_name(RandomCouncil(c, env));
    v1::EmptyService::Stub* stub = stubs[env.channel].get();
    StartUnary<v1::EmptyRequest, v1::EmptyResponse>(
        env, std::move(request),
        [stub](auto* ctx, auto* req, auto* resp, auto cb) {
          stub->async()->Empty(ctx, req, resp, std::move(cb));
        },
        [](const v1::EmptyRequest&, const v1::EmptyResponse&) { return grpc::Status::OK; },
        std::move(done));
  };
}

// CreateActivity of a SEMINAR with a unique title, for a random council (not the
// ListActivities one).
Scenario CreateActivityScenario(ScenarioContext& c) {
  return {"CreateActivity",
          absl::StrFormat("EventsService/CreateActivity of a SEMINAR with a unique title for a "
                          "random council among %d (durable: one SQLite transaction, fsync'd, "
                          "change record included; the server checks the council with one "
                          "GetCouncil to the registry)",
                          c.create_councils.size()),
          [&c](const CallEnv& env, DoneFn done) {
            ev1::CreateActivityRequest request;
            ev1::Activity* activity = request.mutable_activity();
            activity->set_kind(ev1::SEMINAR);
            activity->set_title(absl::StrCat(
                "벤치마크 세미나 ", c.next_activity.fetch_add(1, std::memory_order_relaxed)));
            activity->add_councils(c.create_councils[env.Uniform(c.create_councils.size())]);
            ev1::EventsService::Stub* stub = c.events_stubs[env.channel].get();
            StartUnary<ev1::CreateActivityRequest, ev1::Activity>(
                env, std::move(request),
                [stub](auto* ctx, auto* req, auto* resp, auto cb) {
                  stub->async()->CreateActivity(ctx, req, resp, std::move(cb));
                },
                [](const ev1::CreateActivityRequest& req, const ev1::Activity& created) {
                  if (created.name().empty()) return Wrong("the created activity has no name");
                  if (created.title() != req.activity().title() || created.councils_size() != 1 ||
                      created.councils(0) != req.activity().councils(0)) {
                    return Wrong(absl::StrCat(
                        created.name(), " is not what was created: ", created.title(), " of ",
                        created.councils_size() > 0 ? created.councils(0) : "no council"));
                  }
                  return grpc::Status::OK;
                },
                std::move(done));
          }};
}

// CreateOrganization with a fresh id: a registry write (one SQLite transaction, fsync'd,
// change record included).
Scenario CreateOrganizationScenario(ScenarioContext& c) {
  return {
      "CreateOrganization",
      "RegistryService/CreateOrganization of a COMPANY with a fresh id (durable: one "
      "SQLite transaction, fsync'd, change record included)",
      [&c](const CallEnv& env, DoneFn done) {
        rv1::CreateOrganizationRequest request;
        request.set_organization_id(absl::StrCat(
            "bench-", c.run_tag, "-", c.next_organization.fetch_add(1, std::memory_order_relaxed)));
        rv1::Organization* organization = request.mutable_organization();
        organization->set_display_name(absl::StrCat("벤치마크 기관 ", request.organization_id()));
        organization->set_kind(rv1::COMPANY);
        rv1::RegistryService::Stub* stub = c.registry_stubs[env.channel].get();
        StartUnary<rv1::CreateOrganizationRequest, rv1::Organization>(
            env, std::move(request),
            [stub](auto* ctx, auto* req, auto* resp, auto cb) {
              stub->async()->CreateOrganization(ctx, req, resp, std::move(cb));
            },
            [](const rv1::CreateOrganizationRequest& req, const rv1::Organization& created) {
              if (created.name() != absl::StrCat("organizations/", req.organization_id())) {
                return Wrong(
                    absl::StrCat("created ", created.name(), " for id ", req.organization_id()));
              }
              return grpc::Status::OK;
            },
            std::move(done));
      }};
}

}  // namespace

Scenario BaselineScenario(const ScenarioContext& c) {
  return {"Empty",
          "sanhak.bench.v1.EmptyService/Empty (handler does nothing), request name = a random "
          "council name",
          EmptyCall(c, c.baseline_stubs)};
}

std::vector<Scenario> OverloadScenarios(ScenarioContext& c) {
  std::vector<Scenario> scenarios;
  if (!c.events_stubs.empty() && !c.create_councils.empty()) {
    scenarios.push_back(CreateActivityScenario(c));
  }
  if (!c.registry_stubs.empty()) scenarios.push_back(CreateOrganizationScenario(c));
  return scenarios;
}

std::vector<Scenario> MeasuredScenarios(ScenarioContext& c) {
  std::vector<Scenario> scenarios;

  if (!c.echo_stubs.empty()) {
    scenarios.push_back(
        {"BareEcho",
         "sanhak.bench.echo.EchoService/Echo on a bare gRPC callback server (plain "
         "ServerBuilder, nothing of the suite's runtime), answering its request (a random "
         "council name); the second baseline: scenarios report their ratio to it too",
         [&c](const CallEnv& env, DoneFn done) {
           echo::EchoMessage request;
           request.set_name(RandomCouncil(c, env));
           echo::EchoService::Stub* stub = c.echo_stubs[env.channel].get();
           StartUnary<echo::EchoMessage, echo::EchoMessage>(
               env, std::move(request),
               [stub](auto* ctx, auto* req, auto* resp, auto cb) {
                 stub->async()->Echo(ctx, req, resp, std::move(cb));
               },
               [](const echo::EchoMessage& req, const echo::EchoMessage& resp) {
                 if (resp.name() != req.name()) return Wrong("the echo is not the request");
                 return grpc::Status::OK;
               },
               std::move(done));
         }});
  }

  if (!c.callback_stubs.empty()) {
    scenarios.push_back(
        {"EmptyCallback",
         "the same empty handler served on gRPC's callback API (as every service now is): what the "
         "API itself costs against the baseline's sync server",
         EmptyCall(c, c.callback_stubs)});
  }

  if (!c.tls_stubs.empty()) {
    scenarios.push_back(
        {kTlsScenario,
         "the baseline's empty handler (sync API) behind mutual TLS: the bench client's "
         "certificate (admin), every call authenticated and checked against the policy; "
         "what TLS and authorization cost per call (connections long-lived)",
         EmptyCall(c, c.tls_stubs)});
  }
  if (!c.token_stubs.empty()) {
    scenarios.push_back(
        {kTokenScenario,
         "the same TLS server and handler, called over TLS without a certificate with a "
         "bearer token (ES256, role admin) on every call, verified on every call",
         EmptyCall(c, c.token_stubs)});
  }

  if (!c.registry_stubs.empty()) {
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
  }

  if (!c.events_stubs.empty()) {
    scenarios.push_back(CreateActivityScenario(c));

    const ev1::ListActivitiesRequest& activities = c.list_activities;
    const int expected_activities = std::min(c.list_activities_total, activities.page_size());
    scenarios.push_back(
        {"ListActivities",
         absl::StrFormat("EventsService/ListActivities council=%s page_size=%d (first page: %d "
                         "of %d%s activities, created before measuring)",
                         activities.council(), activities.page_size(), expected_activities,
                         c.list_activities_total, c.list_activities_exact ? "" : "+"),
         [&c, expected_activities](const CallEnv& env, DoneFn done) {
           ev1::EventsService::Stub* stub = c.events_stubs[env.channel].get();
           StartUnary<ev1::ListActivitiesRequest, ev1::ListActivitiesResponse>(
               env, c.list_activities,
               [stub](auto* ctx, auto* req, auto* resp, auto cb) {
                 stub->async()->ListActivities(ctx, req, resp, std::move(cb));
               },
               [&c, expected_activities](const ev1::ListActivitiesRequest& req,
                                         const ev1::ListActivitiesResponse& response) {
                 const bool total_ok = c.list_activities_exact
                                           ? response.total_size() == c.list_activities_total
                                           : response.total_size() >= c.list_activities_total;
                 if (response.activities_size() != expected_activities || !total_ok ||
                     (c.list_activities_total > expected_activities &&
                      response.next_page_token().empty())) {
                   return Wrong(absl::StrFormat(
                       "expected %d of %d activities and a next page, got %d of %d%s",
                       expected_activities, c.list_activities_total, response.activities_size(),
                       response.total_size(),
                       response.next_page_token().empty() ? " and no next page" : ""));
                 }
                 for (const ev1::Activity& a : response.activities()) {
                   if (std::find(a.councils().begin(), a.councils().end(), req.council()) ==
                       a.councils().end()) {
                     return Wrong(absl::StrCat(a.name(), " is not of ", req.council()));
                   }
                 }
                 return grpc::Status::OK;
               },
               std::move(done));
         }});
  }

  if (!c.analytics_stubs.empty()) {
    const std::string metrics =
        c.get_aggregates.metrics().empty()
            ? std::string("all of Aggregates")
            : absl::StrCat("metrics=", absl::StrJoin(c.get_aggregates.metrics(), ","));
    scenarios.push_back(
        {"GetAggregates",
         absl::StrFormat("AnalyticsService/GetAggregates (%s) on the one analytics replica, "
                         "kept in Redis from the change feed and answered from memory",
                         metrics),
         [&c](const CallEnv& env, DoneFn done) {
           av1::AnalyticsService::Stub* stub = c.analytics_stubs[env.channel].get();
           StartUnary<av1::GetAggregatesRequest, av1::Aggregates>(
               env, c.get_aggregates,
               [stub](auto* ctx, auto* req, auto* resp, auto cb) {
                 stub->async()->GetAggregates(ctx, req, resp, std::move(cb));
               },
               [&c](const av1::GetAggregatesRequest& req, const av1::Aggregates& aggregates) {
                 const bool all =
                     req.metrics().empty() || std::find(req.metrics().begin(), req.metrics().end(),
                                                        "councils") != req.metrics().end();
                 if (all && aggregates.councils() != static_cast<int64_t>(c.council_names.size())) {
                   return Wrong(
                       absl::StrFormat("aggregates count %d councils, the registry "
                                       "holds %d",
                                       aggregates.councils(), c.council_names.size()));
                 }
                 return grpc::Status::OK;
               },
               std::move(done));
         }});
  }

  return scenarios;
}

}  // namespace sanhak::bench
