// Relays a service's outbox to its Redis Stream, in order, and drops what Redis has
// taken. Replicas sharing a database each run one; only the holder of the store's relay
// lease relays (the others look again every poll_interval, and the first to look after
// the holder is gone takes over). While Redis is down or slow, records wait in the outbox (writes go on); when it
// returns they follow in order. Each record goes in as stream entry `{sequence}-0`, so a
// record sent twice (the relay crashed between XADD and dropping it) is refused by Redis
// instead of duplicated.
#ifndef SANHAK_COMMON_OUTBOX_RELAY_H_
#define SANHAK_COMMON_OUTBOX_RELAY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/redis.h"
#include "common/resource_store.h"

namespace sanhak {

struct RelayOptions {
  // host:port of Redis.
  std::string redis_address;
  // The ACL user this service signs in as, on every (re)connect.
  redis::Credentials redis_credentials;
  // e.g. "sanhak:changes:registry".
  std::string stream;
  // Records per round trip.
  int batch = 256;
  // The stream is trimmed to about this many entries (XADD MAXLEN ~).
  int64_t max_stream_length = 1000000;
  // Bound on every Redis call.
  absl::Duration io_timeout = absl::Seconds(2);
  // How long to wait between tries while Redis is unreachable (doubling up to the max).
  absl::Duration min_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // Looks at the outbox at least this often even without a commit notification.
  absl::Duration poll_interval = absl::Seconds(1);
};

// The stream a service's change records go to.
std::string ChangeStreamKey(absl::string_view service);

class OutboxRelay {
 public:
  // `store` must outlive the relay. Starts its thread.
  OutboxRelay(store::ResourceStore* store, RelayOptions options);
  ~OutboxRelay();

  // Wakes the relay (called after a commit that appended records).
  void Notify();
  // Stops the thread; records not yet relayed stay in the outbox.
  void Stop();

  struct Stats {
    int64_t relayed = 0;
    int64_t last_sequence = 0;
    bool redis_reachable = false;
    // This process holds the store's relay lease (ResourceStore::HoldsRelayLease): of
    // replicas sharing a database, only the holder relays.
    bool holds_lease = false;
  };
  Stats stats();

 private:
  void Run();
  // Relays one batch; returns how many records were dropped from the outbox, or an error.
  absl::StatusOr<int> RelayBatch();
  void SleepFor(absl::Duration d);

  store::ResourceStore* const store_;
  const RelayOptions options_;
  std::unique_ptr<redis::Connection> redis_;  // used only by the relay thread

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace sanhak

#endif  // SANHAK_COMMON_OUTBOX_RELAY_H_
