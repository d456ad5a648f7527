// The analytics service's picture of the world and the pure functions over it: the
// latest state of every resource the aggregates depend on (as the change feed and
// rebuilds deliver it), and the aggregates, scorecards and network computed from it.
// Nothing here touches Redis or gRPC, so it is tested on its own.
#ifndef SANHAK_SERVICES_ANALYTICS_MODEL_H_
#define SANHAK_SERVICES_ANALYTICS_MODEL_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/any.pb.h"
#include "sanhak/analytics/v1/analytics.pb.h"
#include "sanhak/changes/v1/changes.pb.h"
#include "sanhak/events/v1/events.pb.h"
#include "sanhak/registry/v1/registry.pb.h"

namespace sanhak::analytics {

class Mirror {
 public:
  struct Entry {
    int64_t revision = 0;
    // A deleted resource is kept as a tombstone, so an older record replayed later (after
    // a crash or a rebuild) cannot bring it back.
    bool deleted = false;
    // The resource's collection, e.g. "councils".
    std::string collection;
    google::protobuf::Any state;
  };

  // Applies a change record. Idempotent: a record whose revision is not newer than what
  // is held changes nothing. Returns whether the mirror changed.
  bool Apply(const changes::v1::ChangeRecord& record);

  // Sets a resource as a rebuild read it (revision from its etag).
  void Set(const std::string& name, const std::string& collection, int64_t revision,
           const google::protobuf::Message& state);

  // The live resources by collection, parsed once when they change (so computing the
  // aggregates does not parse the whole mirror again for every change).
  struct Live {
    std::map<std::string, registry::v1::Field> fields;
    std::map<std::string, registry::v1::Region> regions;
    std::map<std::string, registry::v1::IndustrialComplex> complexes;
    std::map<std::string, registry::v1::Council> councils;
    std::map<std::string, registry::v1::Organization> organizations;
    std::map<std::string, registry::v1::Membership> memberships;
    std::map<std::string, registry::v1::ReportedFigure> figures;
    std::map<std::string, events::v1::Activity> activities;
    std::map<std::string, events::v1::Registration> registrations;
    std::map<std::string, events::v1::Outcome> outcomes;
  };

  const std::map<std::string, Entry>& entries() const { return entries_; }
  const Live& live() const { return live_; }
  void Clear() {
    entries_.clear();
    live_ = Live();
  }

 private:
  // Brings live_ in line with the entry now held for `name`.
  void Index(const std::string& name, const Entry& entry);

  std::map<std::string, Entry> entries_;
  Live live_;
};

// The aggregates of everything in `mirror` (applied_sequences and computed_time are left
// to the caller).
v1::Aggregates ComputeAggregates(const Mirror& mirror);

// One council's figures. NOT_FOUND when the mirror holds no such council.
absl::StatusOr<v1::CouncilScorecard> ComputeScorecard(const Mirror& mirror,
                                                     const std::string& council);

v1::Network ComputeNetwork(const Mirror& mirror, int top_complexes);

// Paths of the values that differ, e.g. "activities", "activities_by_kind[SEMINAR]",
// "members_by_council[councils/x].registered.companies".
std::vector<std::string> ChangedPaths(const v1::Aggregates& before, const v1::Aggregates& after);

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_MODEL_H_
