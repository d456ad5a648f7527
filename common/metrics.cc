#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace sanhak::metrics {
namespace {

// std::atomic<double> has no fetch_add before C++20.
void AtomicAdd(std::atomic<double>& target, double delta) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

// HELP text escapes backslash and newline (not quotes).
void AppendEscapedHelp(std::string* out, absl::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

void AppendHeader(std::string* out, absl::string_view name, absl::string_view help,
                  absl::string_view type) {
  absl::StrAppend(out, "# HELP ", name, " ");
  AppendEscapedHelp(out, help);
  absl::StrAppend(out, "\n# TYPE ", name, " ", type, "\n");
}

// `{a="x",b="y"}` from names and values, plus an optional extra pair
// (histograms' le); nothing at all when there are no labels.
void AppendLabels(std::string* out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, absl::string_view extra_name = "",
                  absl::string_view extra_value = "") {
  if (names.empty() && extra_name.empty()) return;
  out->push_back('{');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out->push_back(',');
    absl::StrAppend(out, names[i], "=\"");
    AppendEscapedLabelValue(out, values[i]);
    out->push_back('"');
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out->push_back(',');
    absl::StrAppend(out, extra_name, "=\"");
    AppendEscapedLabelValue(out, extra_value);
    out->push_back('"');
  }
  out->push_back('}');
}

void AppendSample(std::string* out, const Counter& c) { out->append(FormatValue(c.value())); }
void AppendSample(std::string* out, const Gauge& g) { out->append(FormatValue(g.value())); }

absl::string_view TypeName(const Counter*) { return "counter"; }
absl::string_view TypeName(const Gauge*) { return "gauge"; }
absl::string_view TypeName(const Histogram*) { return "histogram"; }

}  // namespace

void Gauge::Add(double delta) { AtomicAdd(value_, delta); }

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  // The first bound >= value: Prometheus buckets are "less than or equal".
  size_t i = std::lower_bound(bounds_->begin(), bounds_->end(), value) - bounds_->begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, value);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.reserve(bounds_->size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  // Count is the +Inf bucket, so the two always agree within one scrape.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return kBuckets;
}

template <typename T>
T* Family<T>::WithLabels(const std::vector<std::string>& values) {
  // A wrong label count is a programming error; pad or cut so the exposition
  // stays valid.
  std::vector<std::string> fixed = values;
  fixed.resize(label_names_.size());
  // \xff never occurs in UTF-8 text, so it cannot make two tuples share a key.
  std::string key = absl::StrJoin(fixed, "\xff");
  absl::MutexLock lock(&mu_);
  auto it = by_key_.find(key);
  if (it != by_key_.end()) return it->second;
  std::unique_ptr<T> series;
  if constexpr (std::is_same_v<T, Histogram>) {
    series = std::make_unique<Histogram>(&bounds_);
  } else {
    series = std::make_unique<T>();
  }
  T* raw = series.get();
  series_.emplace_back(std::move(fixed), std::move(series));
  by_key_.emplace(std::move(key), raw);
  return raw;
}

template <typename T>
void Family<T>::Render(std::string* out) {
  AppendHeader(out, name_, help_, TypeName(static_cast<T*>(nullptr)));
  absl::MutexLock lock(&mu_);
  for (const auto& [values, series] : series_) {
    if constexpr (std::is_same_v<T, Histogram>) {
      Histogram::Snapshot s = series->snapshot();
      for (size_t i = 0; i <= bounds_.size(); ++i) {
        absl::StrAppend(out, name_, "_bucket");
        AppendLabels(out, label_names_, values, "le",
                     i < bounds_.size() ? FormatValue(bounds_[i]) : "+Inf");
        absl::StrAppend(out, " ", s.cumulative[i], "\n");
      }
      absl::StrAppend(out, name_, "_sum");
      AppendLabels(out, label_names_, values);
      absl::StrAppend(out, " ", FormatValue(s.sum), "\n");
      absl::StrAppend(out, name_, "_count");
      AppendLabels(out, label_names_, values);
      absl::StrAppend(out, " ", s.count, "\n");
    } else {
      out->append(name_);
      AppendLabels(out, label_names_, values);
      out->push_back(' ');
      AppendSample(out, *series);
      out->push_back('\n');
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

MetricsRegistry::Entry* MetricsRegistry::Find(absl::string_view name) {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : it->second;
}

template <typename F>
F* MetricsRegistry::AddFamily(absl::string_view name, std::unique_ptr<F> Entry::*slot,
                              const std::function<F*()>& make) {
  absl::MutexLock lock(&mu_);
  if (Entry* e = Find(name); e != nullptr) return (e->*slot).get();
  auto entry = std::make_unique<Entry>();
  (entry.get()->*slot).reset(make());
  F* family = (entry.get()->*slot).get();
  by_name_.emplace(std::string(name), entry.get());
  entries_.push_back(std::move(entry));
  return family;
}

CounterFamily* MetricsRegistry::AddCounter(absl::string_view name, absl::string_view help,
                                           std::vector<std::string> label_names) {
  return AddFamily<CounterFamily>(name, &Entry::counter, [&] {
    return new CounterFamily(std::string(name), std::string(help), std::move(label_names));
  });
}

GaugeFamily* MetricsRegistry::AddGauge(absl::string_view name, absl::string_view help,
                                       std::vector<std::string> label_names) {
  return AddFamily<GaugeFamily>(name, &Entry::gauge, [&] {
    return new GaugeFamily(std::string(name), std::string(help), std::move(label_names));
  });
}

HistogramFamily* MetricsRegistry::AddHistogram(absl::string_view name, absl::string_view help,
                                               std::vector<std::string> label_names,
                                               std::vector<double> bounds) {
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  return AddFamily<HistogramFamily>(name, &Entry::histogram, [&] {
    return new HistogramFamily(std::string(name), std::string(help), std::move(label_names),
                               std::move(bounds));
  });
}

void MetricsRegistry::AddCallback(MetricType type, absl::string_view name, absl::string_view help,
                                  std::function<std::optional<double>()> read) {
  absl::MutexLock lock(&mu_);
  if (Find(name) != nullptr) return;
  auto entry = std::make_unique<Entry>();
  entry->callback.reset(new Callback{type, std::string(name), std::string(help), std::move(read)});
  by_name_.emplace(std::string(name), entry.get());
  entries_.push_back(std::move(entry));
}

std::string MetricsRegistry::Render() {
  // Callbacks may take their own locks (a store read, an engine's stats), so
  // they run outside mu_: copy the entry list, then render. Entries are never
  // removed, so the pointers stay valid.
  std::vector<Entry*> entries;
  {
    absl::MutexLock lock(&mu_);
    entries.reserve(entries_.size());
    for (const auto& e : entries_) entries.push_back(e.get());
  }
  std::string out;
  for (Entry* e : entries) {
    if (e->counter != nullptr) {
      e->counter->Render(&out);
    } else if (e->gauge != nullptr) {
      e->gauge->Render(&out);
    } else if (e->histogram != nullptr) {
      e->histogram->Render(&out);
    } else {
      const Callback& c = *e->callback;
      AppendHeader(&out, c.name, c.help, c.type == MetricType::kCounter ? "counter" : "gauge");
      std::optional<double> value = c.read ? c.read() : std::nullopt;
      if (value.has_value()) absl::StrAppend(&out, c.name, " ", FormatValue(*value), "\n");
    }
  }
  return out;
}

void AppendEscapedLabelValue(std::string* out, absl::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out->append("\\\\"); break;
      case '"': out->append("\\\""); break;
      case '\n': out->append("\\n"); break;
      default: out->push_back(c);
    }
  }
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Whole numbers (counts) print without a fraction or exponent up to 2^53.
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  // The shortest form that reads back as the same double: 0.0005, not
  // 0.00050000000000000001.
  for (int precision = 15; precision < 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, value);
    if (std::strtod(text.c_str(), nullptr) == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

}  // namespace sanhak::metrics
