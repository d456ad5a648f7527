// What the analytics engine keeps its state in, one connection at a time: the state store,
// the applier's lease and the change feed over the same connection (the state's writes
// are fenced by that lease). Redis in production (redis_storage.h); in memory in unit
// tests (tests/analytics/in_memory_storage.h), so the engine's loops run without Redis.
#ifndef SANHAK_SERVICES_ANALYTICS_STORAGE_H_
#define SANHAK_SERVICES_ANALYTICS_STORAGE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "services/analytics/change_feed.h"
#include "services/analytics/lease.h"
#include "services/analytics/state_store.h"

namespace sanhak::analytics {

// One connection's parts. Each is used from one thread at a time; `lease` and `feed` may
// borrow `state`'s connection, so they are declared after it (and destroyed before).
struct StorageSession {
  std::unique_ptr<StateStore> state;
  std::unique_ptr<LeaseStore> lease;
  std::unique_ptr<ChangeFeed> feed;
};

class Storage {
 public:
  virtual ~Storage() = default;
  // A new connection; UNAVAILABLE when the store cannot be reached. Called from any
  // thread: each of the engine's loops holds its own.
  virtual absl::StatusOr<StorageSession> Connect() = 0;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_STORAGE_H_
