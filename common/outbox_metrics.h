// The change feed's producer-side metrics, shared by every service with an
// outbox (registry, events): how many change records wait in the outbox, and
// what the relay has moved to the Redis Stream. All are read at scrape time;
// nothing on the write path.
#ifndef SANHAK_COMMON_OUTBOX_METRICS_H_
#define SANHAK_COMMON_OUTBOX_METRICS_H_

#include "common/metrics.h"
#include "common/outbox_relay.h"
#include "common/resource_store.h"

namespace sanhak {

// Registers in `registry`:
//   sanhak_outbox_backlog                 records committed and not yet in the
//   stream
//                                         (the stream's lag behind the store)
//   sanhak_outbox_relayed_total           records the relay appended to the
//   stream sanhak_outbox_last_relayed_sequence   the last record's sequence
//   number sanhak_outbox_redis_reachable         1 while the relay reaches
//   Redis
// The relay's three only when `relay` is not null (no Redis configured, nothing
// relays). `store` and `relay` must outlive every scrape of `registry`.
void RegisterOutboxMetrics(metrics::MetricsRegistry* registry, store::ResourceStore* store,
                           OutboxRelay* relay);

}  // namespace sanhak

#endif  // SANHAK_COMMON_OUTBOX_METRICS_H_
