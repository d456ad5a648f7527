// The replica's applier: while it holds the lease, it reads the change feed and commits
// each batch (change_applier.h) to the state store, fenced by the lease. On taking the
// lease, after a store error or when the generation changed, it loads the state through
// the engine (which also moves its watchers) and first re-applies whatever an earlier
// leader read and left unacknowledged. One thread; it waits on nothing but the store.
#ifndef SANHAK_SERVICES_ANALYTICS_APPLIER_H_
#define SANHAK_SERVICES_ANALYTICS_APPLIER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/analytics/change_applier.h"
#include "services/analytics/storage.h"

namespace sanhak::analytics {

// The applier's working state: the aggregates as of update `useq` of generation `epoch`.
struct GenerationState : ApplierState {
  std::string epoch;
};

class Applier {
 public:
  struct Options {
    // Holds the lease and signs its commits.
    std::string replica_id;
    absl::Duration lease = absl::Seconds(5);
  };
  // Loads the current generation from `store` (rebuilding it when the store lost it).
  using Loader = std::function<absl::StatusOr<GenerationState>(StateStore& store)>;

  // `storage` must outlive this. Starts the thread.
  Applier(Options options, Storage* storage, Loader load);
  // Stop().
  ~Applier();
  // Ends the thread and hands the lease over at once (another replica need not wait out
  // its term). Idempotent.
  void Stop();

  // Whether this replica held the lease at its last check.
  bool leader() const { return leader_.load(std::memory_order_relaxed); }

 private:
  void Loop();
  // Applies `batch` to `working` and commits it. FAILED_PRECONDITION when the lease was
  // lost; on any error the caller loads `working` again.
  absl::Status ApplyBatch(StateStore& store, GenerationState& working,
                          const std::vector<ChangeEntry>& batch);

  const Options options_;
  Storage* const storage_;
  const Loader load_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> leader_{false};
  std::thread thread_;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_APPLIER_H_
