// The analytics state in Redis. Keys (prefix sanhak:analytics:):
//   mirror     hash  resource name -> ChangeRecord (revision, state): what aggregates are
//                    computed from
//   applied    hash  service -> last change sequence applied
//   epoch      str   id of this generation of state; a rebuild starts a new one
//   useq       str   number of the last update
//   updates    stream entries "{useq}-0": the change record applied ("record") and the
//                    AggregatesUpdate it caused ("update"); watchers resume from it
//   leader     str   the replica applying the change feed (the lease, lease.h)
//   rebuild    str   the replica rebuilding (a lock)
//   mirror:next hash a rebuild's mirror while it is written, renamed to mirror when whole
// and the services' change streams sanhak:changes:{service}, read with the consumer group
// "analytics" (change_feed.h). The ACL user analytics signs in as may touch only these
// (deploy/base/redis-users.acl).
#ifndef SANHAK_SERVICES_ANALYTICS_REDIS_STORAGE_H_
#define SANHAK_SERVICES_ANALYTICS_REDIS_STORAGE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/redis.h"
#include "services/analytics/state_store.h"
#include "services/analytics/storage.h"

namespace sanhak::analytics {

class RedisStateStore final : public StateStore {
 public:
  explicit RedisStateStore(std::unique_ptr<redis::Connection> redis);

  absl::StatusOr<std::string> Epoch() override;
  // Epoch, update number and positions as of one moment (MULTI); then the mirror in
  // slices (HSCAN), each call within the connection's timeout however large the data.
  absl::StatusOr<StoredState> Load() override;
  absl::StatusOr<bool> LockRebuild(const std::string& holder, absl::Duration term) override;
  absl::Status UnlockRebuild() override;
  // The mirror is written aside in slices, then renamed over the live one in the same
  // MULTI that sets the new epoch.
  absl::StatusOr<std::string> Replace(const Mirror& mirror) override;
  // WATCH on the lease key, the holder checked, MULTI ... EXEC: a lease taken by another
  // replica before EXEC makes EXEC write nothing.
  absl::Status Commit(const std::string& holder, const AppliedBatch& batch) override;
  absl::StatusOr<std::vector<KeptUpdate>> ReadUpdates(int64_t after, size_t max,
                                                      absl::Duration wait) override;

  // Updates kept for resuming (XADD MAXLEN); older ones are trimmed.
  void set_updates_kept(int64_t n) { updates_kept_ = n; }
  redis::Connection* connection() { return redis_.get(); }

 private:
  const std::unique_ptr<redis::Connection> redis_;
  int64_t updates_kept_ = 10000;
};

struct RedisStorageOptions {
  std::string address;
  redis::Credentials credentials;
  absl::Duration timeout = absl::Seconds(2);
  // Services whose change streams are read.
  std::vector<std::string> services;
  // This replica's name in the consumer group.
  std::string consumer;
  int64_t updates_kept = 10000;
};

class RedisStorage final : public Storage {
 public:
  explicit RedisStorage(RedisStorageOptions options) : options_(std::move(options)) {}
  absl::StatusOr<StorageSession> Connect() override;

 private:
  const RedisStorageOptions options_;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_REDIS_STORAGE_H_
