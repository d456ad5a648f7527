// The watchers of one replica and the delivery of events to them.
//
// Watchers are spread round robin over delivery threads (shards), so a replica uses the
// cores it is given: each shard delivers to its own watchers, and a publisher only
// appends to each shard's queue (O(shards), whatever the number of watchers). An event is
// one shared, already serialized buffer; every watcher is handed the same bytes.
//
// Order: a shard applies its queue in order, and every registration, catch-up, event and
// close goes through that queue, so a watcher receives exactly the events published after
// it was added (after what it was given first), in publication order. The caller makes
// Add and Publish atomic with its own state (Analytics does both under its lock), so a
// snapshot and the live events after it never overlap or leave a gap.
//
// Slow watchers: the hub never waits on a watcher and holds nothing for it beyond the
// catch-up window. A Watcher implementation bounds its own queue and closes itself when
// it falls too far behind (WatchReactor: UNAVAILABLE, resume with the last token).
//
// Lingering (WatchHubOptions::linger): a shard holds a published event that long for the
// next ones, and hands each watcher what came meanwhile at once (DeliverAll), so a
// transport can send it as one message; a shard that is behind hands events over one by
// one instead (a watcher's own queue then coalesces them).
//
// Heartbeats: a shard sends a watcher that has been sent nothing for heartbeat_interval
// a heartbeat carrying the resume token of the last event that shard has processed, so
// a token never runs ahead of what the watcher was given.
#ifndef SANHAK_SERVICES_ANALYTICS_WATCH_HUB_H_
#define SANHAK_SERVICES_ANALYTICS_WATCH_HUB_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sanhak::analytics {

// What a transport makes of something shared by every watcher (the gRPC edge: a slice),
// made by `make` on first use and kept as long as its owner, so the thousandth watcher
// costs no allocation. One transport type per process.
class LentOnce {
 public:
  template <typename T, typename Make>
  const T& Get(Make make) const {
    absl::call_once(once_, [&] { lent_ = std::make_shared<const T>(make()); });
    return *static_cast<const T*>(lent_.get());
  }

 private:
  mutable absl::once_flag once_;
  mutable std::shared_ptr<const void> lent_;
};

// A serialized AggregatesEvent, made once and shared by every watcher it goes to.
class WatchEvent {
 public:
  explicit WatchEvent(std::string bytes)
      : bytes_(std::make_shared<const std::string>(std::move(bytes))) {}
  const std::string& bytes() const { return *bytes_; }
  // Owns the bytes: a transport that keeps them beyond the event's life holds this.
  const std::shared_ptr<const std::string>& owner() const { return bytes_; }
  // The transport's form of the bytes (LentOnce).
  template <typename T, typename Make>
  const T& Lent(Make make) const {
    return lent_.Get<T>(make);
  }

 private:
  std::shared_ptr<const std::string> bytes_;
  LentOnce lent_;
};
using SharedEvent = std::shared_ptr<const WatchEvent>;

inline SharedEvent MakeEvent(std::string bytes) {
  return std::make_shared<const WatchEvent>(std::move(bytes));
}

// Consecutive events a delivery thread hands each of its watchers at once (published
// together, or within WatchHubOptions::linger).
class EventRun {
 public:
  explicit EventRun(const std::vector<SharedEvent>& events) : events_(events) {}
  const std::vector<SharedEvent>& events() const { return events_; }
  // The transport's form of the whole run (the gRPC edge: one batch message), made once
  // per run and shared by every watcher that can take it.
  template <typename T, typename Make>
  const T& Lent(Make make) const {
    return lent_.Get<T>(make);
  }

 private:
  const std::vector<SharedEvent>& events_;
  LentOnce lent_;
};

// Receives a watch stream's events. Implementations must not block: they are called
// from a shard's thread, one after another for every watcher of the shard.
class Watcher {
 public:
  virtual ~Watcher() = default;
  virtual void Deliver(SharedEvent event) = 0;
  // Several events at once, in order: a transport may send them as one message (the
  // gRPC edge does, as AggregatesEvent.updates, to a watcher that accepts batches).
  virtual void DeliverAll(const EventRun& run) {
    for (const SharedEvent& event : run.events()) Deliver(event);
  }
  // Ends the stream with `status` (e.g. UNAVAILABLE when Redis went away).
  virtual void Close(const absl::Status& status) = 0;
};

struct WatchHubOptions {
  // Delivery threads; 0 = one per core this process may run on.
  int threads = 0;
  // A watcher sent nothing this long gets a heartbeat (the contract promises <= 30 s).
  absl::Duration heartbeat_interval = absl::Seconds(25);
  // How long a published event may wait for the next ones, so that what is published
  // within it reaches each watcher together (DeliverAll): fewer messages, less CPU per
  // delivery, at most this much more latency. Zero: each event at once.
  absl::Duration linger = absl::ZeroDuration();
};

class WatchHub {
 public:
  // Starts the delivery threads.
  explicit WatchHub(WatchHubOptions options);
  // Stop(UNAVAILABLE).
  ~WatchHub();

  // Closes every watcher with `status` and ends the threads; later calls to Add and
  // AddCatchingUp close the watcher at once with the same status. Idempotent.
  void Stop(const absl::Status& status);

  // Registers `watcher`: `first` (a snapshot, or nothing when the watcher is current) is
  // delivered now, in the caller's thread, and every event published after this call
  // follows it.
  void Add(Watcher* watcher, std::vector<SharedEvent> first);
  // Registers `watcher` while the caller reads what it missed: events published from now
  // on are held for it until CatchUp.
  void AddCatchingUp(Watcher* watcher);
  // Delivers `missed` now, in the caller's thread, then (from its shard) what was held
  // since AddCatchingUp, then live events. Nothing happens when the watcher was closed or
  // removed meanwhile.
  void CatchUp(Watcher* watcher, std::vector<SharedEvent> missed);
  // Forgets `watcher`: once this returns it is never called again.
  void Remove(Watcher* watcher);

  // Delivers `event` (when not null) to every watcher registered before this call, in
  // the order of Publish calls. `token` resumes after it: heartbeats carry it from then on.
  void Publish(SharedEvent event, std::string token);
  // Closes every watcher registered before this call with `status` and forgets it.
  void CloseAll(const absl::Status& status);

  // Items queued and not yet taken by the busiest delivery thread.
  size_t backlog();
  // Until backlog() <= `items` (true) or `limit` passes (false). The publisher calls it
  // between batches, holding no lock, so the queues stay bounded when delivery is slower
  // than the change feed: what is not yet published waits in Redis instead.
  bool WaitForRoom(size_t items, absl::Duration limit);

  // Watchers registered (closed ones leave as their shard processes the close).
  int64_t size();
  int threads() const { return static_cast<int>(shards_.size()); }

 private:
  struct Item {
    enum class Kind { kAdd, kCatchUp, kPublish, kCloseAll, kStop };
    explicit Item(Kind k) : kind(k) {}
    Kind kind;
    uint64_t id = 0;
    Watcher* watcher = nullptr;
    bool catching_up = false;
    SharedEvent event;
    std::string token;
    absl::Status status;
    // When it was queued (the linger counts from the oldest queued item).
    absl::Time queued;
  };
  struct Entry {
    Watcher* watcher;
    absl::Time last_sent;
    bool catching_up = false;
    std::vector<SharedEvent> held;
  };
  struct Shard {
    absl::Mutex queue_mu;
    absl::CondVar queue_cv;
    // Signalled when the thread takes what is queued (WaitForRoom).
    absl::CondVar room_cv;
    std::deque<Item> queue ABSL_GUARDED_BY(queue_mu);
    // Held while delivering: Remove waits for the round it may be part of.
    absl::Mutex mu;
    absl::flat_hash_map<uint64_t, Entry> watchers ABSL_GUARDED_BY(mu);
    // The resume token of the last event this shard processed.
    std::string position ABSL_GUARDED_BY(mu);
    std::thread thread;
  };
  struct Registration {
    uint64_t id;
    Shard* shard;
  };

  void Run(Shard* shard);
  // Applies one queued item; returns false for kStop.
  bool Process(Shard& shard, Item& item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  void SendHeartbeats(Shard& shard, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Whether `watcher` is still registered under `id` (not removed meanwhile).
  bool Registered(Watcher* watcher, uint64_t id);
  // Forgets the registration of `watcher` under `id`, if it is still that one.
  void Unregister(Watcher* watcher, uint64_t id);
  // Registers `watcher` on the next shard; nullptr after Stop.
  Shard* Register(Watcher* watcher, uint64_t* id);
  void Enqueue(Shard& shard, Item item);
  absl::Status StopStatus();

  const WatchHubOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;

  absl::Mutex registry_mu_;
  absl::flat_hash_map<Watcher*, Registration> registry_ ABSL_GUARDED_BY(registry_mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(registry_mu_) = 1;
  size_t next_shard_ ABSL_GUARDED_BY(registry_mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(registry_mu_) = false;
  absl::Status stop_status_ ABSL_GUARDED_BY(registry_mu_);
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_WATCH_HUB_H_
