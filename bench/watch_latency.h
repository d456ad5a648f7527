// WatchLatency: an open-loop measurement of the change feed end to end. N watchers hold
// WatchAggregates streams on one analytics replica (callback API: one reactor per stream,
// no thread per watcher); CreateActivity calls are issued at a fixed rate; for every
// (write, watcher) pair it records watcher receive time - write acknowledgement time,
// matching an AggregatesUpdate to a write by resource_name == the created activity's name.
#ifndef SANHAK_BENCH_WATCH_LATENCY_H_
#define SANHAK_BENCH_WATCH_LATENCY_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "sanhak/events/v1/events.grpc.pb.h"

namespace sanhak::bench {

struct WatchOptions {
  int watchers = 1000;
  double write_rate = 500;  // CreateActivity calls started per second
  absl::Duration duration = absl::Seconds(5);
  // Bound on opening the watchers (all must have their snapshot before writing starts).
  absl::Duration setup_limit = absl::Seconds(30);
  // After the last acknowledgement: how long to wait for the updates still on their way.
  absl::Duration drain_limit = absl::Seconds(10);
  absl::Duration call_deadline = absl::Seconds(10);
};

struct WatchResult {
  int watchers = 0;
  int watchers_ready = 0;     // got their snapshot in time
  int watchers_failed = 0;    // ended by the server (or never opened) before the end
  std::string first_watcher_error;
  double setup_seconds = 0;   // opening all watchers until every snapshot arrived
  int64_t writes = 0;         // CreateActivity calls issued
  int64_t write_errors = 0;
  std::string first_write_error;
  double write_seconds = 0;   // first call started .. last call started
  double achieved_rate = 0;   // acknowledged writes / (first start .. last acknowledgement)
  double ack_p50_ms = 0, ack_p99_ms = 0;  // CreateActivity latency under this load
  int64_t pairs_expected = 0;  // acknowledged writes x watchers
  int64_t pairs_received = 0;
  int64_t writes_seen_by_all = 0;
  double drain_seconds = 0;    // last acknowledgement until the last update arrived (or gave up)
  // Watcher receive time - acknowledgement time over every received pair (may be < 0 when
  // an update overtakes the acknowledgement).
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0, min_ms = 0;
  double cpu_seconds = 0;      // process CPU during writing + drain
  bool complete() const {
    return pairs_received == pairs_expected && write_errors == 0 && watchers_failed == 0 &&
           watchers_ready == watchers;
  }
};

// Monotonic clock (CLOCK_MONOTONIC: one clock for every process on the machine), ns.
int64_t NowNs();
// Nearest rank on a sorted vector; 0 when empty.
double Percentile(const std::vector<double>& sorted, double p);

// CreateActivity calls (a SEMINAR for `councils`, round robin, titles made unique by
// `next_title`) started on schedule at `rate` per second for `duration`, whatever is in
// flight (open loop), spread over `events`; returns when every call has answered.
struct OpenLoopWrites {
  int64_t writes = 0;
  int64_t write_errors = 0;
  std::string first_write_error;
  // The created activities' names and the time (NowNs) each acknowledgement arrived.
  std::vector<std::pair<std::string, int64_t>> acks;
  double write_seconds = 0;   // first call started .. last call started
  double achieved_rate = 0;   // acknowledged writes / (first start .. last acknowledgement)
  double ack_p50_ms = 0, ack_p99_ms = 0;
};
OpenLoopWrites RunOpenLoopWrites(
    const std::vector<std::unique_ptr<events::v1::EventsService::Stub>>& events,
    const std::vector<std::string>& councils, std::atomic<int64_t>* next_title, double rate,
    absl::Duration duration, absl::Duration call_deadline);

// `analytics` are separate connections to the one replica (watchers are spread
// over them), `events` the stubs CreateActivity is issued on, `councils` the councils
// activities are created for (round robin), `next_title` makes titles unique.
WatchResult RunWatchLatency(
    const std::vector<std::shared_ptr<grpc::Channel>>& analytics,
    const std::vector<std::unique_ptr<events::v1::EventsService::Stub>>& events,
    const std::vector<std::string>& councils, std::atomic<int64_t>* next_title,
    const WatchOptions& options);

}  // namespace sanhak::bench

#endif  // SANHAK_BENCH_WATCH_LATENCY_H_
