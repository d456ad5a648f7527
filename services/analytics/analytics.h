// The analytics engine: keeps the aggregates from the change feed and serves them, to
// unary readers from memory and to watchers as a resumable stream. It wires parts that
// each stand alone: the state store, lease and change feed of a Storage (storage.h; Redis
// in production), the change applier (change_applier.h) and the watch hub (watch_hub.h).
//
// One replica at a time (the lease holder) applies the change feed: for each batch read,
// mirror, positions, kept updates and acknowledgements are committed in one step fenced
// by the lease (a leader that stalled past its lease and was replaced writes nothing), so
// each change is applied once in effect; a change delivered again after a crash is
// recognised by its sequence (and, in the mirror, by its revision) and changes nothing.
// Every replica follows the kept updates and moves its own aggregates incrementally, so
// every watcher on every replica sees every update. Each update is serialized once and
// the same bytes are written to every watcher, from the WatchHub's delivery threads.
#ifndef SANHAK_SERVICES_ANALYTICS_ANALYTICS_H_
#define SANHAK_SERVICES_ANALYTICS_ANALYTICS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/redis.h"
#include "sanhak/analytics/v1/analytics.pb.h"
#include "services/analytics/applier.h"
#include "services/analytics/model.h"
#include "services/analytics/source_of_truth.h"
#include "services/analytics/storage.h"
#include "services/analytics/watch_hub.h"

namespace sanhak::analytics {

struct AnalyticsOptions {
  // The Redis storage: AnalyticsServer builds a RedisStorage from these; the engine
  // itself sees only the Storage it is given.
  // host:port of Redis.
  std::string redis_address;
  // The ACL user analytics signs in as, on every (re)connect.
  redis::Credentials redis_credentials;
  absl::Duration redis_timeout = absl::Seconds(2);
  // Updates kept for resuming; an older token is RESUME_TOKEN_EXPIRED.
  int64_t updates_kept = 10000;

  // Names this replica in the consumer group and the leader lease; random when empty.
  std::string replica_id;
  // Services whose change streams (sanhak:changes:{service}) are applied.
  std::vector<std::string> services = {"registry", "events"};
  // A quiet watch stream gets a heartbeat this often (the contract promises <= 30 s).
  absl::Duration heartbeat_interval = absl::Seconds(25);
  // Threads delivering to watchers (WatchHub shards); 0 = one per core this process may
  // run on.
  int watch_threads = 0;
  // How long an update may wait for the next ones so that they reach each watcher
  // together (WatchHubOptions::linger); zero sends each at once.
  absl::Duration watch_linger = absl::Milliseconds(30);
  // Bound on one rebuild from the services (every resource read, so it grows with the
  // data); another replica waits up to twice this for it.
  absl::Duration rebuild_deadline = absl::Seconds(300);
  absl::Duration lease = absl::Seconds(5);
  // A watcher that falls this many events behind is closed (UNAVAILABLE) and resumes.
  size_t max_watcher_backlog = 10000;
  // Watch streams open at once in this process; one more is refused RESOURCE_EXHAUSTED
  // with RetryInfo. With max_watcher_backlog this bounds what watchers can hold.
  int64_t max_watchers = 20000;
  // Watch streams one caller (principal) may hold open at once; one more is refused
  // RESOURCE_EXHAUSTED (reason CALLER_LIMIT) with RetryInfo while other callers are
  // served. 0 = no per-caller cap.
  int max_watches_per_caller = 1000;
};

// Where a watch resume token points: the generation of the aggregates (epoch) that issued
// it and the last update it saw. INVALID_ARGUMENT (field "resume_token") for anything this
// service did not issue. Subscribe's parser, on its own so fuzz/ can reach it.
struct ResumePosition {
  std::string epoch;
  int64_t useq = 0;
};
absl::StatusOr<ResumePosition> ParseResumeToken(const std::string& token);

class Analytics {
 public:
  // Kept under these names for the gRPC edge (watch_hub.h defines them).
  using SharedEvent = analytics::SharedEvent;
  using Watcher = analytics::Watcher;

  // `source` and `storage` must outlive the engine. Starts its threads.
  Analytics(AnalyticsOptions options, SourceOfTruth* source, Storage* storage);
  ~Analytics();
  void Stop();

  absl::StatusOr<v1::Aggregates> GetAggregates(const v1::GetAggregatesRequest& request);
  // The same, serialized: all of the aggregates is serialized once per change and the
  // bytes shared by every call until the next.
  absl::StatusOr<std::shared_ptr<const std::string>> GetAggregatesSerialized(
      const v1::GetAggregatesRequest& request);
  absl::StatusOr<v1::CouncilScorecard> GetCouncilScorecard(
      const v1::GetCouncilScorecardRequest& request);
  absl::StatusOr<v1::Network> GetNetwork(const v1::GetNetworkRequest& request);

  // Registers `watcher` and delivers, through Deliver and before any live update, what
  // it must be sent first: a snapshot (no token) or every update after the token (read
  // from Redis without holding up the other watchers). Live updates follow with nothing
  // lost or repeated in between.
  absl::Status Subscribe(Watcher* watcher, const std::string& resume_token);
  // After this returns, `watcher` is never called again.
  void Unsubscribe(Watcher* watcher);

  // OK while the main calls can be answered: the state is loaded and followed in Redis,
  // or (Redis away or emptied) the last rebuild from the services succeeded. Otherwise
  // UNAVAILABLE saying why; health reports NOT_SERVING and the ready metric 0 meanwhile.
  absl::Status Serving();

  struct Stats {
    int64_t rebuilds = 0;
    int64_t applied = 0;
    int64_t watchers = 0;
    bool redis_reachable = false;
    bool leader = false;
    // Serving().ok(): loaded from Redis at least once since start, and able to answer.
    bool ready = false;
    // Change records in the services' streams not yet in this replica's aggregates (as
    // of the last check, once a second).
    int64_t stream_lag = 0;
    // Updates applied in this generation (the resume position of a watcher now).
    int64_t useq = 0;
    // Following the leader's updates in Redis: watches are admitted. False while Redis is
    // unreachable and while this replica reloads (it fell further behind than the kept
    // updates, or the aggregates were rebuilt).
    bool following = false;
  };
  Stats stats();
  const AnalyticsOptions& options() const { return options_; }

 private:
  // What every replica holds: the mirror and aggregates (ApplierState) as of update
  // `useq` of generation `epoch`.
  struct State : GenerationState {
    bool loaded = false;
    // When this replica last moved the aggregates (their computed_time).
    absl::Time applied_time = absl::InfinitePast();
  };

  void FollowLoop();
  // Loads the state from the store, rebuilding it from the services first if the store
  // lost it.
  absl::Status LoadState(StateStore& store);
  absl::Status Rebuild(StateStore& store);
  // Reads new kept updates and delivers them; returns false when none came.
  absl::StatusOr<bool> FollowOnce(StateStore& store);
  // How far this replica's aggregates trail the services' change streams.
  absl::Status CheckEpochAndLag(StorageSession& session, bool& needs_load);
  // Every update after `from` up to `upto`, read from the store; OUT_OF_RANGE when
  // trimmed.
  absl::StatusOr<std::vector<SharedEvent>> ReadMissed(const std::string& epoch, int64_t from,
                                                     int64_t upto);
  // The aggregates (serialized) and a snapshot event of them, built at most once per
  // change.
  std::shared_ptr<const std::string> AggregatesBytesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  SharedEvent SnapshotEventLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StateChangedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ServingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Loads the mirror from the services and remembers whether that worked (Serving).
  absl::StatusOr<Mirror> LoadFromServices();
  // Closes every watcher with `status` and forgets them.
  void CloseWatchersLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells the hub where the state now stands (what heartbeats carry).
  void PublishPositionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Answers unary reads while Redis is unreachable: a rebuild from the services, at most
  // one at a time and at most once per few seconds however many calls arrive.
  absl::Status EnsureFreshWithoutRedis();
  std::string TokenFor(const std::string& epoch, int64_t useq) const;

  const AnalyticsOptions options_;
  SourceOfTruth* const source_;
  Storage* const storage_;

  absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_);
  bool redis_reachable_ ABSL_GUARDED_BY(mu_) = false;
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  // The outcome of the last load from the services (a rebuild into Redis or a local
  // one): when Redis cannot serve the state, it decides whether this replica can answer.
  absl::Status source_status_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t applied_count_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t stream_lag_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const std::string> aggregates_bytes_ ABSL_GUARDED_BY(mu_);
  SharedEvent snapshot_event_ ABSL_GUARDED_BY(mu_);
  // Publishes and subscriptions are made under mu_, so each watcher's first events and
  // the live ones after them meet exactly.
  WatchHub hub_;

  // Serializes rebuilds without Redis (single flight).
  absl::Mutex rebuild_mu_;
  absl::Time last_local_rebuild_ ABSL_GUARDED_BY(rebuild_mu_) = absl::InfinitePast();
  std::atomic<int64_t> rebuilds_{0};

  // For Subscribe's catch-up reads.
  absl::Mutex catchup_mu_;
  std::optional<StorageSession> catchup_ ABSL_GUARDED_BY(catchup_mu_);

  std::thread follower_;
  std::unique_ptr<Applier> applier_;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_ANALYTICS_H_
