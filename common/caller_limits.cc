#include "common/caller_limits.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/overload.h"
#include "common/status.h"

namespace sanhak {

absl::Status CallerLimitExceeded(absl::string_view principal, absl::string_view what,
                                 absl::Duration retry_delay) {
  // Overloaded() carries the RetryInfo; the reason says it is this caller's limit, not
  // the service's: others are still served. The principal is bounded by the
  // authentication (a certificate SAN or a token subject); ToGrpcStatus bounds the message.
  absl::Status status = Overloaded(
      absl::StrCat(what, " of caller ", principal), retry_delay);
  return WithReason(std::move(status), kCallerLimitReason);
}

PerCallerRate::PerCallerRate(double per_second, int burst, int max_callers)
    : per_second_(per_second),
      burst_(std::max(1, burst)),
      max_callers_(static_cast<size_t>(std::max(1, max_callers))) {}

double PerCallerRate::Refilled(const Bucket& bucket, absl::Time now) const {
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.updated));
  return std::min(burst_, bucket.tokens + elapsed * per_second_);
}

void PerCallerRate::ForgetIdle(absl::Time now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (Refilled(it->second, now) >= burst_) {
      buckets_.erase(it++);
    } else {
      ++it;
    }
  }
}

absl::Status PerCallerRate::Admit(absl::string_view principal, absl::Time now) {
  if (per_second_ <= 0) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(principal);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_callers_) ForgetIdle(now);
    if (buckets_.size() >= max_callers_) {
      return CallerLimitExceeded(principal, "write rate", absl::Seconds(1.0 / per_second_));
    }
    it = buckets_.emplace(std::string(principal), Bucket{burst_, now}).first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = Refilled(bucket, now);
  bucket.updated = now;
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return absl::OkStatus();
  }
  // When the next whole token is there.
  const double wait = (1.0 - bucket.tokens) / per_second_;
  return CallerLimitExceeded(principal, "write rate",
                             absl::Milliseconds(std::ceil(wait * 1000)));
}

size_t PerCallerRate::tracked() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

PerCallerCount::PerCallerCount(int limit, absl::string_view what, int max_callers)
    : limit_(limit),
      what_(what),
      max_callers_(static_cast<size_t>(std::max(1, max_callers))) {}

absl::Status PerCallerCount::Acquire(absl::string_view principal) {
  if (limit_ <= 0) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  auto it = open_.find(principal);
  if (it == open_.end()) {
    // Entries are erased when their count drops to 0, so a full table means that many
    // callers each hold something open.
    if (open_.size() >= max_callers_) {
      return CallerLimitExceeded(principal, what_, absl::Seconds(5));
    }
    it = open_.emplace(std::string(principal), 0).first;
  }
  if (it->second >= limit_) {
    return CallerLimitExceeded(
        principal, absl::StrCat(what_, " (at most ", limit_, " open)"), absl::Seconds(5));
  }
  ++it->second;
  return absl::OkStatus();
}

void PerCallerCount::Release(absl::string_view principal) {
  if (limit_ <= 0) return;
  absl::MutexLock lock(&mu_);
  auto it = open_.find(principal);
  if (it == open_.end()) return;
  if (--it->second <= 0) open_.erase(it);
}

int PerCallerCount::open(absl::string_view principal) const {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(principal);
  return it == open_.end() ? 0 : it->second;
}

}  // namespace sanhak
