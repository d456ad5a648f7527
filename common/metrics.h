// Prometheus metrics: counters, gauges and histograms with labels, and gauges
// read at scrape time from a callback, rendered in the text exposition format
// 0.0.4. Each service owns one MetricsRegistry (no process-wide default),
// registers its families at start and keeps the series pointers it updates, so
// recording is a few relaxed atomic operations with no lock; locks are taken
// only to create a series and to scrape.
#ifndef SANHAK_COMMON_METRICS_H_
#define SANHAK_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace sanhak::metrics {

// A monotonically increasing count.
class Counter {
 public:
  void Increment(uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (upper bounds, ascending). Each
// observation lands in one bucket; the exposition makes them cumulative, as
// Prometheus expects.
class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double value);

  struct Snapshot {
    // Cumulative counts, one per bound, then +Inf (== count).
    std::vector<uint64_t> cumulative;
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double>* const bounds_;  // owned by the family
  // One more than bounds_: the last one counts values above every bound.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, 0.5 ms to 10 s: calls here run from
// sub-millisecond reads to multi-second imports and watch streams.
const std::vector<double>& LatencyBuckets();

// A metric family: one name, help text and label names; a series per
// label-value tuple, created on first use and kept for the registry's lifetime
// (pointers stay valid).
template <typename T>
class Family {
 public:
  // The series for `values` (one per label name, in order). Takes a lock:
  // callers on hot paths look their series up once and keep the pointer.
  T* WithLabels(const std::vector<std::string>& values);
  // The series of a family without labels.
  T* Get() { return WithLabels({}); }

 private:
  friend class MetricsRegistry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}
  void Render(std::string* out);

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histograms only

  absl::Mutex mu_;
  // Kept in creation order so the exposition is stable between scrapes.
  std::vector<std::pair<std::vector<std::string>, std::unique_ptr<T>>> series_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, T*> by_key_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Whether a callback metric is exposed as a counter or a gauge.
enum class MetricType { kCounter, kGauge };

// Every metric of one process (one service), and the text a scrape returns.
class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Names follow Prometheus conventions (snake_case, _total for counters, base
  // units such as _seconds). A name registered twice is a programming error:
  // the second call returns the first family when its kind matches, so the
  // exposition never repeats one.
  CounterFamily* AddCounter(absl::string_view name, absl::string_view help,
                            std::vector<std::string> label_names = {});
  GaugeFamily* AddGauge(absl::string_view name, absl::string_view help,
                        std::vector<std::string> label_names = {});
  HistogramFamily* AddHistogram(absl::string_view name, absl::string_view help,
                                std::vector<std::string> label_names, std::vector<double> bounds);

  // A metric without labels whose value `read` returns at scrape time (a
  // store's outbox backlog, an engine's stats). nullopt leaves the sample out
  // of that scrape (the value could not be read), rather than reporting a
  // made-up number. `read` runs on the scraping thread and must be safe to call
  // for as long as the registry is scraped.
  void AddCallback(MetricType type, absl::string_view name, absl::string_view help,
                   std::function<std::optional<double>()> read);

  // The exposition, text format 0.0.4: HELP and TYPE per family, then its
  // samples.
  std::string Render();

 private:
  struct Callback {
    MetricType type;
    std::string name;
    std::string help;
    std::function<std::optional<double>()> read;
  };
  // One entry per registered name, in registration order.
  struct Entry {
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
    std::unique_ptr<HistogramFamily> histogram;
    std::unique_ptr<Callback> callback;
  };
  Entry* Find(absl::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The family in `slot` of the entry named `name`, made by `make` when there is none.
  template <typename F>
  F* AddFamily(absl::string_view name, std::unique_ptr<F> Entry::*slot,
               const std::function<F*()>& make);

  absl::Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Entry*> by_name_ ABSL_GUARDED_BY(mu_);
};

// Appends `value` escaped for a label value: backslash, double quote and
// newline.
void AppendEscapedLabelValue(std::string* out, absl::string_view value);

// A sample value as Prometheus writes it: integers without a fraction, +Inf,
// NaN.
std::string FormatValue(double value);

// The Content-Type of Render()'s output.
inline constexpr char kExpositionContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace sanhak::metrics

#endif  // SANHAK_COMMON_METRICS_H_
