// A local view of which councils and organizations the registry holds, kept current from
// the registry's change feed, so the events service confirms the names a write refers to
// without a registry call per write, and keeps confirming them through a short registry
// outage.
//
// The view follows the Redis Stream `sanhak:changes:registry` (the registry's outbox,
// relayed in sequence order, entry id `{sequence}-0`) from its first entry, on a thread of
// its own, and keeps name -> {exists, deleted} for every council and organization the
// feed has named. Check() answers from that map when it knows every name asked; names it
// has not seen go, in one call, to the wrapped directory (the registry over gRPC), and
// what that call says exists is remembered (what it says is missing is not: the name may
// be created a moment later, and the feed would then tell).
//
// What can be stale, and why that is acceptable: the view answers as of the last record
// it applied, so a council deleted, undeleted or created in the registry is seen so by
// events once the feed delivers the record, normally a few milliseconds after the
// registry's commit (the relay is woken by the commit; the view's XREAD is already
// waiting). A write that names a council deleted within that window is accepted, which
// is the same outcome as before this view when the write's registry call ran just before
// the delete: a synchronous call never made the check and the events commit one atomic
// step either. While Redis is away the window grows with the outage (the last state
// known stays in use), and the view keeps answering; `stats().redis_reachable` and the
// sanhak_registry_view_* metrics say so. Records lost to the view (the stream trimmed
// past it, or Redis restarted empty before the view read what it held) are seen as a gap
// in sequence numbers: the view then forgets everything it knew and learns again (from
// the feed and from the registry), so a delete it never saw cannot stay unseen.
#ifndef SANHAK_SERVICES_EVENTS_REGISTRY_VIEW_H_
#define SANHAK_SERVICES_EVENTS_REGISTRY_VIEW_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/redis.h"
#include "services/events/registry_directory.h"

namespace sanhak::events {

struct RegistryViewOptions {
  // host:port of Redis.
  std::string redis_address;
  // The events service's Redis ACL user: it may read (only read) the registry's stream.
  redis::Credentials redis_credentials;
  // The registry's change stream (ChangeStreamKey("registry")).
  std::string stream = "sanhak:changes:registry";
  // Names held at most. The registry holds thousands to ~100k councils and
  // organizations; an entry costs about 100 bytes (the name, usually on the heap, and a
  // hash table slot), so the default bounds the map near 25 MiB. Past it the feed's
  // records for names not yet held are skipped and such names are asked of the registry
  // on every check, as without the view; held names keep being updated.
  size_t max_entries = 250000;
  // Records per XREAD.
  int batch = 1000;
  // How long one XREAD waits for new records (also bounds how long Stop() waits).
  absl::Duration block = absl::Milliseconds(500);
  // Bound on connecting and on every Redis reply beyond `block`.
  absl::Duration io_timeout = absl::Seconds(2);
  // Between tries while Redis cannot be reached or refuses (doubling up to the max).
  absl::Duration min_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
};

class RegistryView : public RegistryDirectory {
 public:
  // What the view knows of one name.
  struct Entry {
    // False after a DELETED record (the resource was removed for good).
    bool exists = true;
    // Soft-deleted (AIP-164): delete_time set.
    bool deleted = false;
  };

  struct Stats {
    // Names held.
    int64_t entries = 0;
    // The sequence of the last registry record applied (0: none yet).
    int64_t last_sequence = 0;
    // Records applied since start (every collection, not only councils/organizations).
    int64_t records_applied = 0;
    // Check() calls answered from the map alone, and those that asked `fallback`.
    int64_t local_checks = 0;
    int64_t remote_checks = 0;
    // Gaps in the feed seen (each made the view forget what it knew).
    int64_t gaps = 0;
    // Whether the last Redis call succeeded.
    bool redis_reachable = false;
    // Whether the view has read the stream to its end at least once. Until then it is
    // replaying history, where a name can look deleted that is live again later in the
    // stream, so every check asks `fallback` (as without the view).
    bool caught_up = false;
  };

  // `fallback` answers the names the view has not seen; it must outlive the view and
  // every Check() in flight. Starts the reader thread.
  RegistryView(RegistryDirectory* fallback, RegistryViewOptions options);
  ~RegistryView() override;
  RegistryView(const RegistryView&) = delete;
  RegistryView& operator=(const RegistryView&) = delete;

  // Answers at once (on the calling thread) when every name is held; otherwise asks
  // `fallback` about the names not held, and `done` runs where its answer arrives. Never
  // waits for the reader thread: that one holds the map's lock only to apply records
  // already read and parsed, never across a Redis call.
  void Check(const std::vector<std::string>& names, absl::Time deadline,
             CheckDone done) override;

  // Stops the reader thread (within about `block`); Check() keeps answering from what
  // the view holds.
  void Stop();

  Stats stats() const;
  // What the view holds for `name`, if anything (for tests and diagnostics).
  std::optional<Entry> Lookup(const std::string& name) const;

  // sanhak_registry_view_{entries, last_sequence, local_checks_total,
  // remote_checks_total, gaps_total, redis_reachable}, read at scrape time: the view must
  // outlive every scrape of `registry`.
  void RegisterMetrics(metrics::MetricsRegistry* registry);

 private:
  // The map and its counters, shared with the callbacks of Check() calls in flight, so
  // an answer arriving late remembers into live memory.
  struct State;
  // A record of the feed, parsed outside the lock.
  struct Parsed;

  void Run();
  // One XREAD and the apply of what it returned. OK with nothing new after `block`.
  absl::Status FollowOnce();
  // Asks the stream's last entry (on connecting and when idle): a stream that restarted
  // below what the view applied was rebuilt from another history (a restored registry
  // database), so the view starts over from its first entry.
  absl::Status CheckStreamTop();
  void Apply(const std::vector<Parsed>& records);
  // Sleeps `d` or until Stop(); false when stopping.
  bool SleepFor(absl::Duration d);

  RegistryDirectory* const fallback_;
  const RegistryViewOptions options_;
  const std::shared_ptr<State> state_;
  std::unique_ptr<redis::Connection> redis_;  // the reader thread's only

  mutable absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread thread_;
};

}  // namespace sanhak::events

#endif  // SANHAK_SERVICES_EVENTS_REGISTRY_VIEW_H_
