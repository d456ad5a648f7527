// The process's own figures under the names Prometheus's client libraries give
// them (process_cpu_seconds_total, process_resident_memory_bytes, ...), read
// from /proc/self at scrape time, and sanhak_build_info, so a dashboard built
// for any Prometheus-instrumented process works here and a scrape tells which
// build answered.
#ifndef SANHAK_COMMON_PROCESS_METRICS_H_
#define SANHAK_COMMON_PROCESS_METRICS_H_

#include "absl/strings/string_view.h"
#include "common/metrics.h"

namespace sanhak::metrics {

// Registers in `registry`:
//   process_cpu_seconds_total      user + system CPU time (counter)
//   process_resident_memory_bytes  resident set size
//   process_virtual_memory_bytes   virtual memory size
//   process_open_fds               open file descriptors
//   process_max_fds                the soft limit on open file descriptors
//   process_start_time_seconds     since the Unix epoch
//   process_threads                threads of the process
//   sanhak_build_info{version,grpc_version}  always 1
// A figure that cannot be read is left out of that scrape. Calling it again on
// the same registry adds nothing.
void AddProcessMetrics(MetricsRegistry* registry);

}  // namespace sanhak::metrics

#endif  // SANHAK_COMMON_PROCESS_METRICS_H_
