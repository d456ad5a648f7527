// Limits per caller (per principal, common/caller.h): one caller's burst of writes or pile of
// open watches cannot take the service from the others. Beyond a limit the caller gets
// RESOURCE_EXHAUSTED with google.rpc.RetryInfo (how long until it may try again) and an
// ErrorInfo reason CALLER_LIMIT; other callers are served as before.
//
// Memory stays bounded whoever calls: at most `max_callers` principals are tracked at
// once. A caller whose bucket is full again (idle long enough) is indistinguishable from
// a new one and is forgotten first; when every tracked caller is active, a new one is
// refused as over its limit rather than growing the table.
#ifndef SANHAK_COMMON_CALLER_LIMITS_H_
#define SANHAK_COMMON_CALLER_LIMITS_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sanhak {

// The ErrorInfo reason of a caller over one of its limits.
inline constexpr absl::string_view kCallerLimitReason = "CALLER_LIMIT";

// RESOURCE_EXHAUSTED for `principal` over `what`, retry after `retry_delay`.
absl::Status CallerLimitExceeded(absl::string_view principal, absl::string_view what,
                                 absl::Duration retry_delay);

// A token bucket per caller: `per_second` writes a second on average, bursts of up to
// `burst`. A rate of 0 or less admits everything (no limit).
class PerCallerRate {
 public:
  PerCallerRate(double per_second, int burst, int max_callers = 10000);
  PerCallerRate(const PerCallerRate&) = delete;
  PerCallerRate& operator=(const PerCallerRate&) = delete;

  // OK and one token taken, or the refusal (nothing taken).
  absl::Status Admit(absl::string_view principal, absl::Time now = absl::Now());

  // Principals tracked now (for tests and metrics).
  size_t tracked() const;

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  // Tokens of `bucket` at `now`, refilled, capped at burst_.
  double Refilled(const Bucket& bucket, absl::Time now) const;
  void ForgetIdle(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const double per_second_;
  const double burst_;
  const size_t max_callers_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

// At most `limit` of something open at once per caller (watch streams). A limit of 0 or
// less admits everything.
class PerCallerCount {
 public:
  PerCallerCount(int limit, absl::string_view what, int max_callers = 10000);
  PerCallerCount(const PerCallerCount&) = delete;
  PerCallerCount& operator=(const PerCallerCount&) = delete;

  // OK and counted (the caller must Release once it closes), or the refusal.
  absl::Status Acquire(absl::string_view principal);
  void Release(absl::string_view principal);

  int open(absl::string_view principal) const;

 private:
  const int limit_;
  const std::string what_;
  const size_t max_callers_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sanhak

#endif  // SANHAK_COMMON_CALLER_LIMITS_H_
