// The analytics service's picture of the world and the pure functions over it: the
// latest state of every resource the aggregates depend on (as the change feed and
// rebuilds deliver it), and the aggregates, scorecards and network computed from it.
// Nothing here touches Redis or gRPC, so it is tested on its own.
#ifndef SANHAK_SERVICES_ANALYTICS_MODEL_H_
#define SANHAK_SERVICES_ANALYTICS_MODEL_H_

#include <cstdint>
#include <map>
#include <utility>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
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

// The aggregates of everything in `mirror`, counted afresh (applied_sequences and
// computed_time are left to the caller). The definition the incremental Aggregator must
// always agree with.
v1::Aggregates ComputeAggregates(const Mirror& mirror);

// One council's figures. NOT_FOUND when the mirror holds no such council.
absl::StatusOr<v1::CouncilScorecard> ComputeScorecard(const Mirror& mirror,
                                                     const std::string& council);

v1::Network ComputeNetwork(const Mirror& mirror, int top_complexes);

// A sum of amounts as reported: exact while it fits in int64, else the nearest int64
// bound. Sums are kept in 128 bits, which no number of int64 amounts the store can hold
// overflows, and cut only here, where they become int64 fields. The events service bounds
// each amount (10^13 KRW) and its outcomes (900,000), so a sum never passes 9 x 10^18;
// were those bounds raised, a larger one is reported as 9,223,372,036,854,775,807, never
// wrapped to a negative.
int64_t SaturatedSum(absl::int128 sum);

// Keeps the aggregates current one change at a time. The registry's part (councils,
// members, reported figures: a few hundred values) is recounted when a registry resource
// changes; the events' part (activities, outcomes, registrations, which grow without
// bound) moves by each resource's own contribution, so a change costs the same however
// many activities are held. Equal to ComputeAggregates(mirror()) at every step.
class Aggregator {
 public:
  Aggregator() = default;
  explicit Aggregator(Mirror mirror) { Reset(std::move(mirror)); }

  // Replaces what is held (a load or a rebuild) and counts it.
  void Reset(Mirror mirror);

  // Applies a change record to the mirror and the aggregates. Fills `update` (when not
  // null) with what moved: changed paths, their new values, removed entries. Returns
  // whether the mirror changed (a record not newer than what is held changes nothing).
  bool Apply(const changes::v1::ChangeRecord& record, v1::AggregatesUpdate* update);

  const Mirror& mirror() const { return mirror_; }
  // The aggregates now, built when first asked after a change.
  const v1::Aggregates& aggregates();

 private:
  // Net changes of the paths one change moves. 128 bits: an amount's change (old taken
  // away, new added) may exceed int64.
  using Moved = std::map<std::string, absl::int128>;
  struct Sums {
    int64_t outcomes = 0;
    absl::int128 total_budget_krw = 0;
    absl::int128 national_share_krw = 0;
    absl::int128 deal_amount_krw = 0;
  };
  // The events' part, by contribution. Entries that fall to zero stay (few: kinds,
  // councils, months, categories) and are left out when built.
  struct EventCounts {
    int64_t activities = 0;
    int64_t registrations = 0;
    std::map<std::string, int64_t> by_kind, by_council, by_month;
    std::map<std::string, Sums> by_category;
    Sums total;
  };
  // Adds (sign +1) or takes away (-1) what one live resource contributes, noting each
  // path it moves in `moved` (path -> net change).
  void Contribute(const events::v1::Activity& a, int sign, Moved& moved);
  void Contribute(const events::v1::Registration& r, int sign,
                  Moved& moved);
  void Contribute(const events::v1::Outcome& o, int sign, Moved& moved);
  // Applies an event-side record: takes away the resource's old contribution, adds its new.
  template <typename T>
  bool ApplyEvent(const std::map<std::string, T>& live, const changes::v1::ChangeRecord& record,
                  Moved& moved);
  void RecountRegistryPart();
  // The events' value at `path`, and whether its entry exists.
  absl::StatusOr<std::pair<int64_t, bool>> EventValue(const std::string& path) const;

  Mirror mirror_;
  // Fields of Aggregates that depend on the registry alone (reported_vs_counted's
  // counted activities is filled in when built).
  v1::Aggregates registry_part_;
  EventCounts events_;
  bool built_ = false;
  v1::Aggregates built_aggregates_;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_MODEL_H_
