#include "services/analytics/watch_hub.h"

#include <sched.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "common/time_proto.h"
#include "sanhak/analytics/v1/analytics.pb.h"

namespace sanhak::analytics {
namespace {

int ThreadsFor(const WatchHubOptions& options) {
  if (options.threads > 0) return options.threads;
  // The cores this process may run on (a container's CPU set, taskset), not the host's.
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

WatchHub::WatchHub(WatchHubOptions options) : options_(std::move(options)) {
  const int threads = ThreadsFor(options_);
  for (int i = 0; i < threads; ++i) shards_.push_back(std::make_unique<Shard>());
  for (auto& shard : shards_) {
    Shard* s = shard.get();
    s->thread = std::thread([this, s] { Run(s); });
  }
}

WatchHub::~WatchHub() {
  Stop(absl::UnavailableError("the watch stream is shutting down; resume elsewhere"));
}

void WatchHub::Stop(const absl::Status& status) {
  {
    absl::MutexLock lock(&registry_mu_);
    if (stopped_) return;
    stopped_ = true;
    stop_status_ = status;
  }
  for (auto& shard : shards_) {
    Item item(Item::Kind::kStop);
    item.status = status;
    Enqueue(*shard, std::move(item));
  }
  for (auto& shard : shards_) {
    if (shard->thread.joinable()) shard->thread.join();
  }
}

WatchHub::Shard* WatchHub::Register(Watcher* watcher, uint64_t* id) {
  absl::MutexLock lock(&registry_mu_);
  if (stopped_) return nullptr;
  Shard* shard = shards_[next_shard_++ % shards_.size()].get();
  *id = next_id_++;
  registry_[watcher] = {*id, shard};
  return shard;
}

bool WatchHub::Registered(Watcher* watcher, uint64_t id) {
  absl::MutexLock lock(&registry_mu_);
  auto it = registry_.find(watcher);
  return it != registry_.end() && it->second.id == id;
}

void WatchHub::Unregister(Watcher* watcher, uint64_t id) {
  absl::MutexLock lock(&registry_mu_);
  auto it = registry_.find(watcher);
  if (it != registry_.end() && it->second.id == id) registry_.erase(it);
}

void WatchHub::Enqueue(Shard& shard, Item item) {
  absl::MutexLock lock(&shard.queue_mu);
  item.queued = absl::Now();
  shard.queue.push_back(std::move(item));
  shard.queue_cv.Signal();
}

void WatchHub::Add(Watcher* watcher, std::vector<SharedEvent> first) {
  uint64_t id = 0;
  Shard* shard = Register(watcher, &id);
  if (shard == nullptr) {
    watcher->Close(StopStatus());
    return;
  }
  for (SharedEvent& event : first) watcher->Deliver(std::move(event));
  Item item(Item::Kind::kAdd);
  item.id = id;
  item.watcher = watcher;
  Enqueue(*shard, std::move(item));
}

void WatchHub::AddCatchingUp(Watcher* watcher) {
  uint64_t id = 0;
  Shard* shard = Register(watcher, &id);
  if (shard == nullptr) {
    watcher->Close(StopStatus());
    return;
  }
  Item item(Item::Kind::kAdd);
  item.id = id;
  item.watcher = watcher;
  item.catching_up = true;
  Enqueue(*shard, std::move(item));
}

void WatchHub::CatchUp(Watcher* watcher, std::vector<SharedEvent> missed) {
  Shard* shard;
  uint64_t id;
  {
    absl::MutexLock lock(&registry_mu_);
    auto it = registry_.find(watcher);
    if (it == registry_.end()) return;  // closed or removed meanwhile
    shard = it->second.shard;
    id = it->second.id;
  }
  // Delivered here, before the shard releases what it held: the watcher is caught up
  // in the caller's call (what it is owed does not count against its backlog), and the
  // shard delivers nothing to it before the kCatchUp below.
  for (SharedEvent& event : missed) watcher->Deliver(std::move(event));
  Item item(Item::Kind::kCatchUp);
  item.id = id;
  Enqueue(*shard, std::move(item));
}

void WatchHub::Remove(Watcher* watcher) {
  Shard* shard;
  uint64_t id;
  {
    absl::MutexLock lock(&registry_mu_);
    auto it = registry_.find(watcher);
    if (it == registry_.end()) return;
    shard = it->second.shard;
    id = it->second.id;
    registry_.erase(it);
  }
  // Waits for a delivery round in progress: after this, the shard cannot reach it (a
  // queued kAdd or kCatchUp of it finds it unregistered).
  absl::MutexLock lock(&shard->mu);
  shard->watchers.erase(id);
}

void WatchHub::Publish(SharedEvent event, std::string token) {
  for (size_t i = 0; i < shards_.size(); ++i) {
    Item item(Item::Kind::kPublish);
    item.event = event;
    item.token = i + 1 == shards_.size() ? std::move(token) : token;
    Enqueue(*shards_[i], std::move(item));
  }
}

void WatchHub::CloseAll(const absl::Status& status) {
  for (auto& shard : shards_) {
    Item item(Item::Kind::kCloseAll);
    item.status = status;
    Enqueue(*shard, std::move(item));
  }
}

size_t WatchHub::backlog() {
  size_t most = 0;
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->queue_mu);
    most = std::max(most, shard->queue.size());
  }
  return most;
}

bool WatchHub::WaitForRoom(size_t items, absl::Duration limit) {
  const absl::Time until = absl::Now() + limit;
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->queue_mu);
    auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard->queue_mu) {
      return shard->queue.size() <= items;
    };
    while (!room()) {
      if (shard->room_cv.WaitWithDeadline(&shard->queue_mu, until)) return room();
    }
  }
  return true;
}

absl::Status WatchHub::StopStatus() {
  absl::MutexLock lock(&registry_mu_);
  return stop_status_;
}

int64_t WatchHub::size() {
  absl::MutexLock lock(&registry_mu_);
  return static_cast<int64_t>(registry_.size());
}

void WatchHub::Run(Shard* shard) {
  // Heartbeats are due at most a quarter interval late.
  const absl::Duration tick =
      std::clamp(options_.heartbeat_interval / 4, absl::Milliseconds(5), absl::Seconds(1));
  absl::Time next_check = absl::Now() + tick;
  std::deque<Item> batch;
  while (true) {
    {
      absl::MutexLock lock(&shard->queue_mu);
      bool timed_out = false;
      while (shard->queue.empty() && !timed_out) {
        timed_out = shard->queue_cv.WaitWithDeadline(&shard->queue_mu, next_check);
      }
      // Lingers for what is published next, so it goes to each watcher together.
      if (options_.linger > absl::ZeroDuration() && !shard->queue.empty() &&
          shard->queue.front().kind == Item::Kind::kPublish) {
        const absl::Time due = shard->queue.front().queued + options_.linger;
        while (absl::Now() < due && shard->queue.back().kind != Item::Kind::kStop) {
          shard->queue_cv.WaitWithDeadline(&shard->queue_mu, due);
        }
      }
      batch.swap(shard->queue);
      shard->room_cv.SignalAll();
    }
    absl::MutexLock lock(&shard->mu);
    const absl::Time now = absl::Now();
    // Consecutive events go to each watcher together: one pass over the watchers per
    // batch, and a watcher's writes for them can share frames.
    std::vector<SharedEvent> run;
    // When the run's first event was queued.
    absl::Time run_queued = now;
    auto deliver_run = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard->mu) {
      if (run.empty()) return;
      // A run that waited only its linger goes to each watcher as one: the thread keeps
      // up, and lingering is what coalesces. One that waited longer means this thread is
      // behind; then each event goes on its own, and a watcher's queue coalesces what
      // arrives while its previous write is out, which at that load makes fewer, larger
      // messages than the runs would (measured: bench/README.md, "Fan-out").
      const bool together_helps = run.size() > 1 && options_.linger > absl::ZeroDuration() &&
                                  now - run_queued <= 2 * options_.linger;
      const EventRun together(run);
      for (auto& [id, entry] : shard->watchers) {
        if (entry.catching_up) {
          entry.held.insert(entry.held.end(), run.begin(), run.end());
          continue;
        }
        if (together_helps) {
          entry.watcher->DeliverAll(together);
        } else {
          for (const SharedEvent& event : run) entry.watcher->Deliver(event);
        }
        entry.last_sent = now;
      }
      run.clear();
    };
    for (Item& item : batch) {
      if (item.kind == Item::Kind::kPublish) {
        if (run.empty()) run_queued = item.queued;
        if (item.event != nullptr) run.push_back(std::move(item.event));
        shard->position = std::move(item.token);
        continue;
      }
      deliver_run();
      if (!Process(*shard, item)) return;
    }
    deliver_run();
    batch.clear();
    if (now >= next_check) {
      SendHeartbeats(*shard, now);
      next_check = now + tick;
    }
  }
}

bool WatchHub::Process(Shard& shard, Item& item) {
  const absl::Time now = absl::Now();
  switch (item.kind) {
    case Item::Kind::kAdd:
      if (Registered(item.watcher, item.id)) {
        shard.watchers[item.id] = {item.watcher, now, item.catching_up, {}};
      }
      return true;
    case Item::Kind::kCatchUp: {
      auto it = shard.watchers.find(item.id);
      if (it == shard.watchers.end()) return true;
      Entry& entry = it->second;
      for (SharedEvent& event : entry.held) entry.watcher->Deliver(std::move(event));
      entry.held.clear();
      entry.held.shrink_to_fit();
      entry.catching_up = false;
      entry.last_sent = now;
      return true;
    }
    case Item::Kind::kPublish:
      return true;  // handled in Run
    case Item::Kind::kCloseAll:
    case Item::Kind::kStop:
      for (auto& [id, entry] : shard.watchers) {
        entry.watcher->Close(item.status);
        Unregister(entry.watcher, id);
      }
      shard.watchers.clear();
      return item.kind != Item::Kind::kStop;
  }
  return true;
}

void WatchHub::SendHeartbeats(Shard& shard, absl::Time now) {
  if (shard.position.empty()) return;
  SharedEvent heartbeat;
  for (auto& [id, entry] : shard.watchers) {
    if (entry.catching_up || now - entry.last_sent < options_.heartbeat_interval) continue;
    if (heartbeat == nullptr) {
      v1::AggregatesEvent event;
      *event.mutable_heartbeat()->mutable_time() = ToTimestamp(now);
      event.set_resume_token(shard.position);
      heartbeat = MakeEvent(event.SerializeAsString());
    }
    entry.watcher->Deliver(heartbeat);
    entry.last_sent = now;
  }
}

}  // namespace sanhak::analytics
