// Applying the change feed to the aggregates, as plain logic: which records are taken
// (each service's sequence at most once, so a redelivery after a crash changes nothing),
// what each moves, and what must be made durable together (mirror entries, positions,
// the kept updates, the acknowledgements). No Redis: Analytics writes an AppliedBatch in
// one fenced transaction, and unit tests check the logic alone.
#ifndef SANHAK_SERVICES_ANALYTICS_CHANGE_APPLIER_H_
#define SANHAK_SERVICES_ANALYTICS_CHANGE_APPLIER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sanhak/analytics/v1/analytics.pb.h"
#include "services/analytics/model.h"

namespace sanhak::analytics {

// One entry of a service's change stream: where it came from and its ChangeRecord,
// serialized.
struct ChangeEntry {
  std::string stream;
  std::string entry_id;
  std::string record;
};

// What applying a batch changed, to be written in one transaction.
struct AppliedBatch {
  struct Update {
    // Its number in this generation (the kept updates' entry id, the resume position).
    int64_t useq = 0;
    // The change record as read, and the update it caused (changed may be empty: every
    // change taken is kept, so followers learn the new applied positions).
    std::string record;
    v1::AggregatesUpdate update;
  };
  std::vector<Update> updates;
  // Resource name -> record, for the changes that moved the mirror (the last wins).
  std::map<std::string, std::string> mirror;
  // Service -> last sequence applied, for the services this batch advanced.
  std::map<std::string, int64_t> applied;
  // Stream -> entry ids to acknowledge: every entry of the batch, taken or not.
  std::map<std::string, std::vector<std::string>> acks;
  // The last update number after the batch.
  int64_t useq = 0;
};

// The applier's working state: the aggregates, each service's last sequence applied,
// and the last update number.
struct ApplierState {
  Aggregator aggregator;
  std::map<std::string, int64_t> applied;
  int64_t useq = 0;
};

// Applies `batch` to `state` in order. An unreadable record, or one whose sequence its
// service has passed (a redelivery), is acknowledged and changes nothing else.
AppliedBatch ApplyChanges(const std::vector<ChangeEntry>& batch, ApplierState& state);

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_CHANGE_APPLIER_H_
