// `watch` and `summary --watch`: follow WatchAggregates, keep a current copy of the
// aggregates (snapshot, then each update applied with analytics::ApplyUpdate), survive
// disconnects by resuming with the last token (a fresh snapshot when the token expired),
// and show it: redrawn in place on a terminal, one line per change otherwise.
#ifndef SANHAK_TOOLS_SANHAKCTL_WATCH_H_
#define SANHAK_TOOLS_SANHAKCTL_WATCH_H_

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "sanhak/analytics/v1/analytics.pb.h"
#include "tools/sanhakctl/client.h"

namespace sanhak::ctl {

// The figures the summary shows.
struct Totals {
  int64_t councils = 0;
  int64_t organizations = 0;
  int64_t activities = 0;
  int64_t registrations = 0;
  int64_t outcomes = 0;
  int64_t total_budget_krw = 0;
  int64_t national_share_krw = 0;
  int64_t deal_amount_krw = 0;

  bool operator==(const Totals& o) const;
  bool operator!=(const Totals& o) const { return !(*this == o); }
};

Totals TotalsOf(const analytics::v1::Aggregates& aggregates);
// "councils 25 · organizations 7 · activities 5 · outcomes 4 · funding 12.3억원 (national
// 8억원) · deals 1억원".
std::string SummaryLine(const Totals& totals);

struct WatchConfig {
  // Show the totals only (summary --watch), not every changed path.
  bool summary_only = false;
  // Print each message received as a JSON line.
  bool json = false;
  // With json: each message as a YAML document ("---" first), a YAML stream as kubectl's
  // get --watch -o yaml writes.
  bool yaml = false;
  // Redraw in place instead of appending lines.
  bool terminal = false;
  int max_updates = 0;
  absl::Duration duration = absl::InfiniteDuration();
};

// Runs until max_updates, duration, or an error that reconnecting cannot fix
// (INVALID_ARGUMENT and the like). OK when stopped by max_updates or duration.
absl::Status Watch(Client& client, const WatchConfig& config, std::ostream& out,
                   std::ostream& err);

// One line describing an update: "events-42 activities/x: activities 5→6,
// activities_by_kind[SEMINAR] 1→2" (values before and after).
std::string DescribeUpdate(const analytics::v1::AggregatesUpdate& update,
                           const std::map<std::string, int64_t>& before,
                           const std::map<std::string, int64_t>& after);

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_WATCH_H_
