#include "services/analytics/source_of_truth.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/trace_context.h"

namespace sanhak::analytics {
namespace {

namespace rv1 = ::sanhak::registry::v1;
namespace ev1 = ::sanhak::events::v1;

int64_t RevisionOf(const std::string& etag) {
  int64_t revision = 0;
  return absl::SimpleAtoi(etag, &revision) ? revision : 0;
}

template <typename T>
int64_t RevisionOfMessage(const T& m) {
  if constexpr (std::is_same_v<T, rv1::Field> || std::is_same_v<T, rv1::Region> ||
                std::is_same_v<T, rv1::ReportedFigure>) {
    return 0;  // reference data: loaded by import, never changed through the API
  } else {
    return RevisionOf(m.etag());
  }
}

// Walks every page of one List call into the mirror.
template <typename Request, typename Response, typename Item, typename Call>
absl::Status LoadAll(Mirror& mirror, const std::string& collection, Request request,
                     absl::Time deadline,
                     const google::protobuf::RepeatedPtrField<Item>& (Response::*items)() const,
                     Call call) {
  request.set_page_size(1000);
  do {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    AddTraceHeaders(&context);
    Response response;
    grpc::Status status = call(&context, request, &response);
    if (!status.ok()) {
      return WithReason(absl::UnavailableError(absl::StrCat(
                            "rebuild could not list ", collection, ": ", status.error_message())),
                        "SOURCE_UNAVAILABLE");
    }
    for (Item item : (response.*items)()) {
      int64_t revision = RevisionOfMessage(item);
      // Output-only fields are not part of the state the change feed carries.
      if constexpr (std::is_same_v<Item, rv1::Council>) {
        item.clear_membership_count();
      }
      if constexpr (std::is_same_v<Item, rv1::IndustrialComplex>) item.clear_council_count();
      if constexpr (std::is_same_v<Item, ev1::Activity>) item.clear_registration_count();
      mirror.Set(item.name(), collection, revision, item);
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Mirror> GrpcSourceOfTruth::Load(absl::Time deadline) {
  // A load is work of its own, not a caller's: all its List calls (each served and
  // logged under it by the registry and events) go under the thread's trace (the
  // rebuild's), or a new one.
  const TraceContext own = TraceContext::NewRoot();
  ScopedTrace in_trace(CurrentTrace() != nullptr ? CurrentTrace() : &own);
  Mirror mirror;
  auto* r = registry_.get();
  auto* e = events_.get();
  rv1::ListMembershipsRequest memberships;
  memberships.set_parent("councils/-");
  ev1::ListRegistrationsRequest registrations;
  registrations.set_parent("activities/-");
  // Soft-deleted complexes, councils and organizations too, with their delete_time, as
  // the change feed carries them: activities and outcomes may still name them (a deleted
  // council's scorecard resolves), and the counts leave them out themselves.
  rv1::ListComplexesRequest complexes;
  complexes.set_show_deleted(true);
  rv1::ListCouncilsRequest councils;
  councils.set_show_deleted(true);
  rv1::ListOrganizationsRequest organizations;
  organizations.set_show_deleted(true);
  for (absl::Status s : {
           LoadAll(mirror, "fields", rv1::ListFieldsRequest(), deadline,
                   &rv1::ListFieldsResponse::fields,
                   [r](auto* c, const auto& q, auto* p) { return r->ListFields(c, q, p); }),
           LoadAll(mirror, "regions", rv1::ListRegionsRequest(), deadline,
                   &rv1::ListRegionsResponse::regions,
                   [r](auto* c, const auto& q, auto* p) { return r->ListRegions(c, q, p); }),
           LoadAll(mirror, "complexes", complexes, deadline,
                   &rv1::ListComplexesResponse::complexes,
                   [r](auto* c, const auto& q, auto* p) { return r->ListComplexes(c, q, p); }),
           LoadAll(mirror, "councils", councils, deadline,
                   &rv1::ListCouncilsResponse::councils,
                   [r](auto* c, const auto& q, auto* p) { return r->ListCouncils(c, q, p); }),
           LoadAll(mirror, "organizations", organizations, deadline,
                   &rv1::ListOrganizationsResponse::organizations,
                   [r](auto* c, const auto& q, auto* p) {
                     return r->ListOrganizations(c, q, p);
                   }),
           LoadAll(mirror, "memberships", memberships, deadline,
                   &rv1::ListMembershipsResponse::memberships,
                   [r](auto* c, const auto& q, auto* p) { return r->ListMemberships(c, q, p); }),
           LoadAll(mirror, "reportedFigures", rv1::ListReportedFiguresRequest(), deadline,
                   &rv1::ListReportedFiguresResponse::reported_figures,
                   [r](auto* c, const auto& q, auto* p) {
                     return r->ListReportedFigures(c, q, p);
                   }),
           LoadAll(mirror, "activities", ev1::ListActivitiesRequest(), deadline,
                   &ev1::ListActivitiesResponse::activities,
                   [e](auto* c, const auto& q, auto* p) { return e->ListActivities(c, q, p); }),
           LoadAll(mirror, "registrations", registrations, deadline,
                   &ev1::ListRegistrationsResponse::registrations,
                   [e](auto* c, const auto& q, auto* p) {
                     return e->ListRegistrations(c, q, p);
                   }),
           LoadAll(mirror, "outcomes", ev1::ListOutcomesRequest(), deadline,
                   &ev1::ListOutcomesResponse::outcomes,
                   [e](auto* c, const auto& q, auto* p) { return e->ListOutcomes(c, q, p); }),
       }) {
    if (!s.ok()) return s;
  }
  return mirror;
}

}  // namespace sanhak::analytics
