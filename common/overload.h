// Refusing work the service cannot take now, and bounding the work it admits.
//
// A refusal is RESOURCE_EXHAUSTED with a google.rpc.RetryInfo (how long to back off) and
// an ErrorInfo reason OVERLOADED: a well-behaved client retries after the delay, and the
// work already admitted finishes at its normal speed instead of every call slowing down.
#ifndef SANHAK_COMMON_OVERLOAD_H_
#define SANHAK_COMMON_OVERLOAD_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sanhak {

// RESOURCE_EXHAUSTED saying `what` is full, with RetryInfo{retry_delay} and reason
// OVERLOADED.
absl::Status Overloaded(absl::string_view what, absl::Duration retry_delay);

// The RetryInfo delay carried by `status`, or nullopt-like zero when it has none.
absl::Duration RetryDelayOf(const absl::Status& status);

// Admits at most `limit` units of work at once (calls waiting on a commit, on another
// service, ...). Lock-free: one atomic add per admission.
class AdmissionGate {
 public:
  explicit AdmissionGate(int64_t limit) : limit_(limit) {}
  AdmissionGate(const AdmissionGate&) = delete;
  AdmissionGate& operator=(const AdmissionGate&) = delete;

  // True when admitted: the caller must call Leave() once the work is done.
  bool TryEnter() {
    if (in_flight_.fetch_add(1, std::memory_order_acq_rel) < limit_) return true;
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    return false;
  }
  void Leave() { in_flight_.fetch_sub(1, std::memory_order_acq_rel); }

  int64_t in_flight() const { return in_flight_.load(std::memory_order_acquire); }
  int64_t limit() const { return limit_; }

 private:
  const int64_t limit_;
  std::atomic<int64_t> in_flight_{0};
};

}  // namespace sanhak

#endif  // SANHAK_COMMON_OVERLOAD_H_
