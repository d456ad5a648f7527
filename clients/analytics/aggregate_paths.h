// What a client needs to follow the live aggregates (sanhak.analytics.v1): the paths of
// AggregateValue, and applying an AggregatesUpdate to the last snapshot. Plain functions
// over the generated messages, no gRPC: the analytics service computes its updates with
// them, and sanhakctl and any C++ client keep their copy current with them, so both sides
// agree on the grammar by construction.
#ifndef SANHAK_CLIENTS_ANALYTICS_AGGREGATE_PATHS_H_
#define SANHAK_CLIENTS_ANALYTICS_AGGREGATE_PATHS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sanhak/analytics/v1/analytics.pb.h"

namespace sanhak::analytics {

// A path of AggregateValue taken apart: "members_by_council[councils/x].registered.total"
// is list "members_by_council", key "councils/x", rest {"registered", "total"}.
struct AggregatePath {
  std::string list;   // a field of Aggregates
  std::string key;    // between [ ], may be empty
  bool keyed = false;
  std::vector<std::string> rest;  // field names below
};
// INVALID_ARGUMENT for a path with an unclosed [ or text after ] that is not ".field".
absl::StatusOr<AggregatePath> ParseAggregatePath(const std::string& path);

// The keyed entry a path belongs to: "list[key].x" -> "list[key]"; "" for a path without
// a key.
std::string EntryOfPath(const std::string& path);

// Paths of the values that differ, appear or disappear, in order, e.g. "activities",
// "activities_by_kind[SEMINAR]", "members_by_council[councils/x].registered.companies".
std::vector<std::string> ChangedPaths(const v1::Aggregates& before, const v1::Aggregates& after);

// The aggregates as path -> value (the paths AggregateValue documents). When `labels` is
// given it receives each keyed entry's label, by entry ("activities_by_council[councils/x]").
std::map<std::string, int64_t> FlattenAggregates(
    const v1::Aggregates& aggregates, std::map<std::string, std::string>* labels = nullptr);

// Fills `update`'s changed, values and removed with what differs from `before` to `after`.
void DiffAggregates(const v1::Aggregates& before, const v1::Aggregates& after,
                    v1::AggregatesUpdate* update);

// What a watcher does with an update: sets its values on `aggregates` (adding keyed
// entries it has not seen, in key order), drops its removed entries, and takes its
// applied_sequences. INVALID_ARGUMENT for a path that names no value of Aggregates.
// (For AggregatesEvent.updates, apply each of its updates in order.)
absl::Status ApplyUpdate(const v1::AggregatesUpdate& update, v1::Aggregates& aggregates);

}  // namespace sanhak::analytics

#endif  // SANHAK_CLIENTS_ANALYTICS_AGGREGATE_PATHS_H_
