// The analytics storage in memory (state store, lease, change feed over one shared state),
// so the engine's loops run in unit tests without Redis. It keeps Redis's contract as
// the engine relies on it: generations replaced whole, commits fenced by the lease and
// atomic, kept updates trimmed to a bound, a consumer group whose unacknowledged entries
// a later reader claims. The test drives what Redis would do to the engine: changes
// appended to the feed, the store unreachable, emptied, or its lease lost.
#ifndef SANHAK_TESTS_ANALYTICS_IN_MEMORY_STORAGE_H_
#define SANHAK_TESTS_ANALYTICS_IN_MEMORY_STORAGE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sanhak/changes/v1/changes.pb.h"
#include "services/analytics/storage.h"

namespace sanhak::analytics {

class InMemoryStorage final : public Storage {
 public:
  // `services`: the change streams the feed reads, in this order.
  explicit InMemoryStorage(std::vector<std::string> services, size_t updates_kept = 10000);

  absl::StatusOr<StorageSession> Connect() override;

  // Appends `record` to its service's stream (entry id "{sequence}-0").
  void AppendChange(const changes::v1::ChangeRecord& record);
  // While false, Connect and every call of every session answer UNAVAILABLE.
  void SetReachable(bool reachable);
  // Forgets everything, as a Redis restarted without its data: state, kept updates,
  // streams and their group, the lease.
  void Empty();
  // Calls `hook` with the holder's name as each LockRebuild begins, so a test can order
  // two replicas' rebuilds. Set before any engine starts.
  void BeforeLockRebuild(std::function<void(const std::string& holder)> hook);
  // Takes the lease from whoever holds it, for `holder`, as a replica that found it
  // expired would.
  void StealLease(const std::string& holder, absl::Duration term);
  // Reads up to `count` new entries as consumer `consumer` and never acknowledges them:
  // a leader that crashed after reading.
  void ReadAndCrash(const std::string& consumer, size_t count);

  struct Snapshot {
    std::optional<std::string> epoch;
    int64_t useq = 0;
    std::map<std::string, int64_t> applied;
    // Numbers of the kept updates, oldest first.
    std::vector<int64_t> kept;
    std::string leader;
    // Entries read and not yet acknowledged, over every stream.
    size_t pending = 0;
    int64_t commits = 0;
    int64_t rejected_commits = 0;
    int64_t connects = 0;
  };
  Snapshot snapshot();

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
  const std::vector<std::string> services_;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_TESTS_ANALYTICS_IN_MEMORY_STORAGE_H_
