// Where the aggregates' state lives between processes and replicas: the mirror they are
// computed from, each service's last sequence applied, the generation (epoch) and the
// kept updates that watchers resume from. Redis in production (RedisStateStore); an
// in-memory implementation for unit tests (tests/analytics/in_memory_storage.h).
//
// Every operation that replaces or writes state is atomic: a reader sees a generation
// whole, and a batch of the applier entirely or not at all.
#ifndef SANHAK_SERVICES_ANALYTICS_STATE_STORE_H_
#define SANHAK_SERVICES_ANALYTICS_STATE_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sanhak/analytics/v1/analytics.pb.h"
#include "sanhak/changes/v1/changes.pb.h"
#include "services/analytics/change_applier.h"
#include "services/analytics/model.h"

namespace sanhak::analytics {

// The state as of update `useq` of generation `epoch`.
struct StoredState {
  std::string epoch;
  int64_t useq = 0;
  // Service -> last change sequence applied.
  std::map<std::string, int64_t> applied;
  Mirror mirror;
};

// One kept update: its number in the generation, the change record applied and the
// update it caused (`update.changed` may be empty).
struct KeptUpdate {
  int64_t useq = 0;
  changes::v1::ChangeRecord record;
  v1::AggregatesUpdate update;
};

// One connection's view of the store; used from one thread at a time.
class StateStore {
 public:
  virtual ~StateStore() = default;

  // The id of the generation held; NOT_FOUND when the store holds none (new, or emptied).
  virtual absl::StatusOr<std::string> Epoch() = 0;
  // The whole state of the current generation. NOT_FOUND when there is none; UNAVAILABLE
  // when it was replaced while being read (call again). The mirror may hold entries newer
  // than `useq`: replaying the updates after `useq` in order ends where the writer did.
  virtual absl::StatusOr<StoredState> Load() = 0;

  // The lock one rebuild holds while it reads the services: whether `holder` took it (for
  // `term`); false while another holds it.
  virtual absl::StatusOr<bool> LockRebuild(const std::string& holder, absl::Duration term) = 0;
  virtual absl::Status UnlockRebuild() = 0;
  // Replaces the state by a new generation of `mirror` (no positions, no kept updates)
  // and drops the rebuild lock, in one step. Returns the new epoch.
  virtual absl::StatusOr<std::string> Replace(const Mirror& mirror) = 0;

  // Writes `batch` (mirror entries, positions, kept updates, acknowledgements of the
  // change feed) in one step, only while `holder` holds the applier's lease (LeaseStore
  // of the same storage): FAILED_PRECONDITION, and nothing written, otherwise.
  virtual absl::Status Commit(const std::string& holder, const AppliedBatch& batch) = 0;

  // The kept updates numbered after `after`, in order, at most `max`; waits up to `wait`
  // when there are none yet (zero: answers at once). Updates trimmed away are simply
  // absent: the caller checks the numbers.
  virtual absl::StatusOr<std::vector<KeptUpdate>> ReadUpdates(int64_t after, size_t max,
                                                              absl::Duration wait) = 0;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_STATE_STORE_H_
