#include "bench/watch_latency.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/update_recorder.h"
#include "common/grpc_metrics.h"
#include "grpcpp/grpcpp.h"

namespace sanhak::bench {
namespace {

namespace av1 = ::sanhak::analytics::v1;
namespace ev1 = ::sanhak::events::v1;

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

using Watcher = UpdateRecorder<av1::AggregatesEvent>;

struct Write {
  ev1::CreateActivityRequest request;
  ev1::Activity response;
  grpc::ClientContext context;
  int64_t start_ns = 0;
  int64_t ack_ns = 0;
  grpc::Status status;
};

}  // namespace

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(p * sorted.size() + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

OpenLoopWrites RunOpenLoopWrites(
    const std::vector<std::unique_ptr<ev1::EventsService::Stub>>& events,
    const std::vector<std::string>& councils, std::atomic<int64_t>* next_title, double rate,
    absl::Duration duration, absl::Duration call_deadline) {
  OpenLoopWrites result;
  const int64_t count = static_cast<int64_t>(rate * absl::ToDoubleSeconds(duration));
  std::vector<std::unique_ptr<Write>> writes;
  writes.reserve(count);
  absl::Mutex acks_mu;
  int64_t acks = 0;
  const auto first = std::chrono::steady_clock::now();
  const auto interval =
      std::chrono::nanoseconds(static_cast<int64_t>(1e9 / std::max(rate, 1e-3)));
  for (int64_t i = 0; i < count; ++i) {
    std::this_thread::sleep_until(first + i * interval);
    auto w = std::make_unique<Write>();
    ev1::Activity* a = w->request.mutable_activity();
    a->set_kind(ev1::SEMINAR);
    a->set_title(absl::StrCat("벤치마크 구독 세미나 ",
                              next_title->fetch_add(1, std::memory_order_relaxed)));
    a->add_councils(councils[i % councils.size()]);
    w->context.set_deadline(std::chrono::system_clock::now() +
                            std::chrono::milliseconds(absl::ToInt64Milliseconds(call_deadline)));
    Write* raw = w.get();
    writes.push_back(std::move(w));
    raw->start_ns = NowNs();
    events[i % events.size()]->async()->CreateActivity(
        &raw->context, &raw->request, &raw->response, [raw, &acks_mu, &acks](grpc::Status s) {
          raw->ack_ns = NowNs();
          raw->status = std::move(s);
          absl::MutexLock lock(&acks_mu);
          ++acks;
        });
  }
  const int64_t last_start = NowNs();
  while (true) {  // every call has a deadline, so this ends
    {
      absl::MutexLock lock(&acks_mu);
      if (acks == count) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  result.writes = count;
  int64_t last_ack = 0;
  std::vector<double> ack_latency;
  for (const auto& w : writes) {
    if (!w->status.ok() || w->response.name().empty()) {
      ++result.write_errors;
      if (result.first_write_error.empty()) {
        result.first_write_error =
            w->status.ok() ? "a created activity has no name"
                           : absl::StrCat(GrpcCodeName(w->status.error_code()), ": ",
                                          w->status.error_message());
      }
      continue;
    }
    result.acks.emplace_back(w->response.name(), w->ack_ns);
    last_ack = std::max(last_ack, w->ack_ns);
    ack_latency.push_back((w->ack_ns - w->start_ns) / 1e6);
  }
  if (count > 0) {
    const int64_t first_ns = writes.front()->start_ns;
    result.write_seconds = (last_start - first_ns) / 1e9;
    result.achieved_rate =
        last_ack > first_ns ? result.acks.size() / ((last_ack - first_ns) / 1e9) : 0;
  }
  std::sort(ack_latency.begin(), ack_latency.end());
  result.ack_p50_ms = Percentile(ack_latency, 0.5);
  result.ack_p99_ms = Percentile(ack_latency, 0.99);
  return result;
}

WatchResult RunWatchLatency(
    const std::vector<std::shared_ptr<grpc::Channel>>& analytics,
    const std::vector<std::unique_ptr<ev1::EventsService::Stub>>& events,
    const std::vector<std::string>& councils, std::atomic<int64_t>* next_title,
    const WatchOptions& options) {
  WatchResult result;
  result.watchers = options.watchers;
  const absl::Duration stream_deadline = options.setup_limit + options.duration +
                                         options.call_deadline + options.drain_limit +
                                         absl::Seconds(30);

  // ---- open the watchers and wait for every snapshot
  std::vector<std::unique_ptr<Watcher>> watchers;
  const int64_t setup_start = NowNs();
  for (int i = 0; i < options.watchers; ++i) {
    watchers.push_back(std::make_unique<Watcher>());
    watchers.back()->Open(analytics[i % analytics.size()], stream_deadline, /*batches=*/false);
  }
  const absl::Time setup_until = absl::Now() + options.setup_limit;
  while (true) {
    int ready = 0, done = 0;
    for (auto& w : watchers) {
      if (w->snapshot()) ++ready;
      else if (w->done()) ++done;
    }
    result.watchers_ready = ready;
    if (ready + done == options.watchers || absl::Now() >= setup_until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  result.setup_seconds = (NowNs() - setup_start) / 1e9;

  // ---- writes at a fixed rate (open loop: a call starts on schedule, whatever is in flight)
  const int64_t count = result.watchers_ready == options.watchers
                            ? static_cast<int64_t>(options.write_rate *
                                                   absl::ToDoubleSeconds(options.duration))
                            : 0;  // no point writing when watchers are missing
  const double cpu_start = CpuSeconds();
  OpenLoopWrites writes =
      count > 0 ? RunOpenLoopWrites(events, councils, next_title, options.write_rate,
                                    options.duration, options.call_deadline)
                : OpenLoopWrites();
  result.writes = writes.writes;
  result.write_errors = writes.write_errors;
  result.first_write_error = writes.first_write_error;
  result.write_seconds = writes.write_seconds;
  result.achieved_rate = writes.achieved_rate;
  result.ack_p50_ms = writes.ack_p50_ms;
  result.ack_p99_ms = writes.ack_p99_ms;
  absl::flat_hash_map<std::string, int64_t> ack_of;  // name -> ack time
  absl::flat_hash_set<std::string> names;
  for (const auto& [name, at] : writes.acks) {
    ack_of[name] = at;
    names.insert(name);
  }
  const int64_t acked = static_cast<int64_t>(ack_of.size());

  // ---- drain: wait until every watcher has every acknowledged write, or the limit
  result.pairs_expected = acked * static_cast<int64_t>(watchers.size());
  std::vector<int64_t> matched(watchers.size(), 0);
  const int64_t drain_start = NowNs();
  const absl::Time drain_until = absl::Now() + options.drain_limit;
  while (count > 0) {
    int64_t total = 0;
    for (size_t i = 0; i < watchers.size(); ++i) {
      matched[i] += watchers[i]->ScanNew(names);
      total += matched[i];
    }
    if (total >= result.pairs_expected || absl::Now() >= drain_until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  result.drain_seconds = (NowNs() - drain_start) / 1e9;
  result.cpu_seconds = CpuSeconds() - cpu_start;

  // ---- close the streams, then read what each watcher received
  for (auto& w : watchers) {
    if (w->done()) {
      ++result.watchers_failed;  // the server ended it before we did
      if (result.first_watcher_error.empty()) {
        grpc::Status s = w->status();
        result.first_watcher_error = absl::StrCat(GrpcCodeName(s.error_code()), ": ", s.error_message());
      }
    }
    w->Cancel();
  }
  const absl::Time close_until = absl::Now() + absl::Seconds(10);
  for (auto& w : watchers) {
    while (!w->done() && absl::Now() < close_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  bool all_closed = true;
  for (auto& w : watchers) all_closed = all_closed && w->done();

  std::vector<double> latency;
  latency.reserve(result.pairs_expected);
  absl::flat_hash_map<std::string, int> seen_by;
  for (auto& w : watchers) {
    if (!w->done()) continue;  // cannot read safely; its pairs count as missed
    absl::flat_hash_set<std::string> mine;
    for (const auto& [name, at] : w->received()) {
      auto it = ack_of.find(name);
      if (it == ack_of.end() || !mine.insert(name).second) continue;  // other / duplicate
      latency.push_back((at - it->second) / 1e6);
      ++seen_by[name];
    }
  }
  result.pairs_received = static_cast<int64_t>(latency.size());
  for (const auto& [name, n] : seen_by) {
    if (n == static_cast<int>(watchers.size())) ++result.writes_seen_by_all;
  }
  std::sort(latency.begin(), latency.end());
  if (!latency.empty()) {
    result.p50_ms = Percentile(latency, 0.5);
    result.p90_ms = Percentile(latency, 0.9);
    result.p99_ms = Percentile(latency, 0.99);
    result.max_ms = latency.back();
    result.min_ms = latency.front();
  }
  if (!all_closed) {
    // A reactor still running owns memory we must not free: leak it rather than crash.
    for (auto& w : watchers) {
      if (!w->done()) w.release();
    }
  }
  return result;
}

}  // namespace sanhak::bench
