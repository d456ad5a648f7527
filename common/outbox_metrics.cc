#include "common/outbox_metrics.h"

#include <optional>

namespace sanhak {

void RegisterOutboxMetrics(metrics::MetricsRegistry* registry, store::ResourceStore* store,
                           OutboxRelay* relay) {
  registry->AddCallback(metrics::MetricType::kGauge, "sanhak_outbox_backlog",
                        "Change records committed and not yet appended to the Redis Stream.",
                        [store]() -> std::optional<double> {
                          absl::StatusOr<int64_t> backlog = store->OutboxBacklog();
                          if (!backlog.ok()) return std::nullopt;
                          return static_cast<double>(*backlog);
                        });
  if (relay == nullptr) return;
  registry->AddCallback(
      metrics::MetricType::kCounter, "sanhak_outbox_relayed_total",
      "Change records the relay appended to the Redis Stream.",
      [relay]() -> std::optional<double> { return static_cast<double>(relay->stats().relayed); });
  registry->AddCallback(metrics::MetricType::kGauge, "sanhak_outbox_last_relayed_sequence",
                        "Sequence number of the last change record relayed.",
                        [relay]() -> std::optional<double> {
                          return static_cast<double>(relay->stats().last_sequence);
                        });
  registry->AddCallback(
      metrics::MetricType::kGauge, "sanhak_outbox_redis_reachable",
      "1 while the relay reaches Redis, else 0.",
      [relay]() -> std::optional<double> { return relay->stats().redis_reachable ? 1 : 0; });
  registry->AddCallback(
      metrics::MetricType::kGauge, "sanhak_outbox_relay_lease_held",
      "1 while this replica is the one relaying the shared outbox, else 0 (exactly one "
      "replica of a service should report 1).",
      [relay]() -> std::optional<double> { return relay->stats().holds_lease ? 1 : 0; });
}

}  // namespace sanhak
